// Real processes for the controller's end-to-end tests (test/e2e/controller-*.test.ts): the
// `pgfleet` CLI run as a separate process, the controller daemon (`pgfleet serve`) as a
// long-running child that can be stopped or SIGKILLed, and helpers to watch a repository.
// The CLI runs the code under test: built when dist/ is current, else from source through tsx
// (test/harness/built-entry.ts); PGFLEET_CLI_JS may name another built dist/bin/pgfleet.js.
// Children get the environment minus PG* and PGFLEET_* variables plus what the test passes, so
// a developer's shell cannot leak into a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { commandArgv } from '../../../../test/harness/built-entry.js';
import { REPO_ROOT } from '../../../../test/harness/versions.js';

/** The repository's root (the harness's REPO_ROOT), where commands run. */
export const REPO = REPO_ROOT;

export function cliArgv(): string[] {
  const built = process.env['PGFLEET_CLI_JS'];
  return built ? [built] : commandArgv('controller', 'pgfleet');
}

function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^PG|^PGFLEET_/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<CliResult>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 300_000): RunningCli {
  const child = spawn(process.execPath, [...cliArgv(), ...args], { cwd: REPO, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d; });
  // A hung command must fail the test with what it printed, not hang the suite.
  const timer = setTimeout(() => {
    err += `\n[test: pgfleet ${args.join(' ')} killed after ${timeoutMs} ms]\n`;
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: out, stderr: err });
    });
  });
  return { child, stdout: () => out, stderr: () => err, done };
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs?: number): Promise<CliResult> {
  return spawnCli(args, env, timeoutMs).done;
}

/** Runs the CLI and parses its --json output; fails with the whole output when it did not work. */
export async function cliJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const r = await runCli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`pgfleet ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

export interface ControllerProcess {
  child: ChildProcess;
  address: string;
  log: () => string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait: no cleanup at all. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** `pgfleet serve --config FILE [ARGS]`; resolves once it listens (config should say port 0). */
export async function startController(configFile: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<ControllerProcess> {
  const child = spawn(process.execPath, [...cliArgv(), 'serve', '--config', configFile, ...args], {
    cwd: REPO, env: childEnv(env), stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let log = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => { running.delete(child); resolve(); }));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not start within 30 s:\n${log}`)), 30_000);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const m = /controller listening on (\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`controller exited with ${code} before listening:\n${log}`));
    });
  });
  return {
    child,
    address,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Every file below `dir` (relative paths), for "no partial files" checks. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if ((await stat(p)).isDirectory()) {
        out.push(`${prefix}${n}/`);
        await walk(p, `${prefix}${n}/`);
      } else {
        out.push(`${prefix}${n}`);
      }
    }
  };
  await walk(dir, '');
  return out;
}

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** True when a staging directory of `cluster` holds a base archive of at least `bytes`. */
export async function stagingHasBytes(repository: string, cluster: string, bytes: number): Promise<boolean> {
  const dir = join(repository, cluster, 'backups');
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return false;
  }
  for (const n of names.filter((x) => x.startsWith('.tmp-'))) {
    try {
      for (const f of await readdir(join(dir, n))) {
        if (f.startsWith('base.tar') && (await stat(join(dir, n, f))).size >= bytes) return true;
      }
    } catch {
      // vanished meanwhile
    }
  }
  return false;
}
