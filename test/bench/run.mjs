// `npm run bench`: a thin launcher that runs bench.ts through tsx (the bench reuses the
// TypeScript test harness and needs no build step of its own). Arguments are passed on:
// `npm run bench -- --size-gb 0.2 --runs 1`.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, path.join(here, 'bench.ts'), ...process.argv.slice(2)], {
  stdio: 'inherit',
});
// Ctrl-C already reaches the child through the terminal's process group (a second SIGINT
// could interrupt its cleanup): only wait for it. A SIGTERM sent to us alone is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('close', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
