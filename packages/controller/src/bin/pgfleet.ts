#!/usr/bin/env node
/** The `pgfleet` command (see src/cli/main.ts). */
import { main } from '../cli/main.js';

// grpc-js sets the TLS server name to the target host even when it is an IP address, which
// makes Node print DEP0123 once per process. The certificate is still checked against the
// address (subjectAltName IP entries); the warning is noise on every CLI call, so it alone is
// dropped.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`pgfleet: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 99;
});
