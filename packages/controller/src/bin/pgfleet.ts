#!/usr/bin/env node
/** The `pgfleet` command (see src/cli/main.ts). */
import { main } from '../cli/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err: unknown) => {
  process.stderr.write(`pgfleet: error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 99;
});
