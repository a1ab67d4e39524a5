/**
 * Child process entry for reportInstanceAs(): argv[2] is a JSON ConnectTarget; prints
 * {"ok":true,"report":...} or {"ok":false,"message":...,"hint":...} on stdout. Runs as the
 * data directory's OS user, so that peer authentication accepts it.
 */

import { PgFleetError } from '@pgfleet/core';
import { ConnectFailure, reportInstance, type ConnectTarget } from './report.js';

const target = JSON.parse(process.argv[2] ?? '{}') as ConnectTarget;
try {
  const report = await reportInstance(target);
  process.stdout.write(JSON.stringify({ ok: true, report }));
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  const hint = err instanceof PgFleetError ? err.hint : undefined;
  const retryable = err instanceof ConnectFailure && err.retryable;
  process.stdout.write(JSON.stringify({ ok: false, message, retryable, ...(hint ? { hint } : {}) }));
}
