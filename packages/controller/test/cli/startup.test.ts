// The CLI's start-up: a command other than `serve` must not load what only the daemon runs
// (the daemon with its scheduler, metrics, HTTP and RPC services, the configuration parser),
// which cost every command about 0.15 s of CPU; nor, when it does not connect (--help,
// --version), gRPC, the .proto files or @pgfleet/core's index (pg, pino, zod, yaml): about 0.3 s
// of CPU more.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const BIN = fileURLToPath(new URL('../../src/bin/pgfleet.ts', import.meta.url));

/** The module files a `pgfleet ARGS` process loads (through a module hook that names each). */
function modulesLoaded(args: string[], status = 0): string[] {
  const hook = "export async function load(url, context, next) { if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }";
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args], {
    encoding: 'utf8', env: { ...process.env, PGFLEET_CONTROLLER: '127.0.0.1:1' },
  });
  assert.equal(result.status, status, result.stderr.split('\n').filter((l) => !l.startsWith('LOADED ')).join('\n'));
  return result.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => fileURLToPath(l.slice('LOADED '.length)));
}

const DAEMON_ONLY = [/\/controller\/src\/daemon\/daemon\.ts$/, /\/controller\/src\/daemon\/scheduler\.ts$/, /\/controller\/src\/daemon\/http-server\.ts$/,
  /\/controller\/src\/config\.ts$/, /\/controller\/src\/cli\/serve-daemon\.ts$/, /\/node_modules\/prom-client\//, /\/node_modules\/croner\//];

// What only a command that calls the controller needs, and core's and proto's indexes (each
// command takes narrow entry points).
const CLIENT_ONLY = [/\/node_modules\/@grpc\//, /\/node_modules\/grpc-health-check\//, /\/node_modules\/(yaml|pino|zod|pg)\//,
  /\/core\/(src|dist)\/index\.[jt]s$/, /\/proto\/(src|dist)\/index\.[jt]s$/];

test('pgfleet --version and --help load neither gRPC nor core\'s or proto\'s index; a command that connects loads gRPC', () => {
  for (const args of [['--version'], ['--help'], ['backups', '--help'], ['restore', '--help'], ['certs', 'init', '--help']]) {
    const loaded = modulesLoaded(args);
    assert.ok(loaded.some((f) => f.endsWith('/controller/src/cli/main.ts')), `${args.join(' ')}: the hook saw the CLI load`);
    assert.deepEqual(loaded.filter((f) => CLIENT_ONLY.some((p) => p.test(f))), [], args.join(' '));
  }
  // The same hook sees gRPC when a command connects (here: to a port nobody listens on, 40).
  const loaded = modulesLoaded(['backups', '--insecure'], 40);
  assert.ok(loaded.some((f) => /\/node_modules\/@grpc\/grpc-js\//.test(f)) && loaded.some((f) => /\/proto\/(src|dist)\/load\.[jt]s$/.test(f)), loaded.join('\n'));
});

test('pgfleet --version and --help load none of the daemon\'s modules; serve --check-config does', () => {
  for (const args of [['--version'], ['--help'], ['backups', '--help']]) {
    const loaded = modulesLoaded(args);
    assert.ok(loaded.some((f) => f.endsWith('/controller/src/cli/main.ts')), `${args.join(' ')}: the hook saw the CLI load`);
    assert.deepEqual(loaded.filter((f) => DAEMON_ONLY.some((p) => p.test(f))), [], args.join(' '));
  }
  // The same hook sees them when the daemon's code does run (here: to say the file is missing).
  const loaded = modulesLoaded(['serve', '--config', '/nonexistent/fleet.yaml', '--check-config'], 71).filter((f) => DAEMON_ONLY.some((p) => p.test(f)));
  assert.ok(loaded.some((f) => f.endsWith('/cli/serve-daemon.ts')) && loaded.some((f) => f.endsWith('/controller/src/config.ts')), loaded.join('\n'));
});
