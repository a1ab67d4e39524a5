#!/usr/bin/env node
/** The `pgfleet` command (see src/cli/main.ts and src/cli/run-cli.ts). */
// Narrow entry points of @pgfleet/core: its index loads pg, pino, zod, yaml and the compressors,
// which no client command uses (cli/main.ts loads each command's code when it runs).
import { growHeapForStreaming } from '@pgfleet/core/heap-growth';
import { enableYoungGarbageCollection } from '@pgfleet/core/young-garbage';
import { runCli } from '../cli/run-cli.js';

// Archive stages free their per-block garbage early (core's young-garbage.ts): a program's choice.
enableYoungGarbageCollection();
// Full collections driven by streamed buffers, not by live data (core's heap-growth.ts). 150%
// rather than the agent's 200%: the controller's peak RSS reached 203 MB in the bench's backups
// through an agent at 200%, 169-190 MB at 150%.
growHeapForStreaming(150);

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

runCli(process.argv.slice(2));
