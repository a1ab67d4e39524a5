/**
 * Asks for a password on the controlling terminal with echo off, as libpq's simple_prompt
 * does: the prompt goes to /dev/tty, not stdout (which may carry a tar archive with -D -).
 * Without a terminal it fails instead of reading the password from a pipe.
 */
import { openSync, closeSync, readSync, writeSync } from 'node:fs';
import type * as ChildProcess from 'node:child_process';
import { AuthenticationError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';

// Only a run that asks for a password needs it.
const childProcess = lazyRequire<typeof ChildProcess>('node:child_process');

export async function promptOnTerminal(prompt: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    throw new AuthenticationError('could not ask for a password: no terminal', {
      hint: 'Supply the password with PGPASSWORD or a ~/.pgpass file, or run interactively.',
    });
  }
  const stty = (arg: string) => childProcess().spawnSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] });
  try {
    writeSync(fd, prompt);
    stty('-echo');
    const bytes: number[] = [];
    const one = Buffer.alloc(1);
    for (;;) {
      const n = readSync(fd, one, 0, 1, null);
      if (n === 0 || one[0] === 0x0a || one[0] === 0x0d) break;
      bytes.push(one[0]!);
    }
    return Buffer.from(bytes).toString('utf8');
  } finally {
    stty('echo');
    writeSync(fd, '\n');
    closeSync(fd);
  }
}
