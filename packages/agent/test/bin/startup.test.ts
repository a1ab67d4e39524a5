// The agent's start-up: PostgreSQL starts `wal-get` (restore_command) and `archive-push`
// (archive_command) once per WAL file, so those commands, and --version, must not load what only
// the daemon and the restore engine run (the gRPC server, the restore engine, pg, the compressors,
// the packages' index modules that pull all of that in), which cost each call most of a second.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/bin/pgfleet-agent.ts', import.meta.url));

/** The module files a `pgfleet-agent ARGS` process loads (through a module hook that names each). */
function modulesLoaded(args: string[], status: number): string[] {
  const hook = "export async function load(url, context, next) { if (url.startsWith('file:')) process.stderr.write('LOADED ' + url + '\\n'); return next(url, context); }";
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args], {
    encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' },
  });
  assert.equal(result.status, status, result.stderr.split('\n').filter((l) => !l.startsWith('LOADED ')).join('\n'));
  return result.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => fileURLToPath(l.slice('LOADED '.length)));
}

const HEAVY = [
  /\/agent\/src\/bin\/serve-command\.ts$/, /\/agent\/src\/bin\/restore-command\.ts$/, /\/agent\/src\/restore\/restore\.ts$/,
  /\/agent\/src\/grpc\//, /\/agent\/src\/instance\//, /\/core\/dist\/index\.js$/, /\/proto\/dist\/index\.js$/,
  /\/node_modules\/pg\//, /\/node_modules\/lz4\//, /\/node_modules\/zstd-napi\//, /\/node_modules\/pino\//,
];

const COMPRESSORS = /\/node_modules\/(lz4|zstd-napi)\//;

const heavy = (loaded: string[], allowed: RegExp | null = null): string[] =>
  loaded.filter((f) => HEAVY.some((p) => p.test(f)) && !(allowed?.test(f) ?? false));

test('wal-get, archive-push and --version load none of the daemon\'s or the restore engine\'s modules; serve and restore do', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfleet-agent-startup-'));
  try {
    const config = path.join(dir, 'missing.yaml');
    // A local archive may hold lz4- or zstd-compressed segments: reading it needs the decompressors.
    const runs: Array<[string[], number, RegExp, RegExp | null]> = [
      [['--version'], 0, /\/agent\/src\/version\.ts$/, null],
      [['wal-get', '--config', config, '--cluster', 'c', '000000010000000000000001', path.join(dir, 'out')], 255, /\/agent\/src\/bin\/wal-commands\.ts$/, null],
      [['wal-get', '--archive', dir, '000000010000000000000001', path.join(dir, 'out')], 1, /\/agent\/src\/wal\/wal-get-local\.ts$/, COMPRESSORS],
      [['archive-push', '--config', config, path.join(dir, '000000010000000000000001')], 71, /\/agent\/src\/wal\/archive-client\.ts$/, null],
    ];
    for (const [args, status, seen, allowed] of runs) {
      const loaded = modulesLoaded(args, status);
      assert.ok(loaded.some((f) => seen.test(f)), `${args.join(' ')}: the hook saw the command's own module load`);
      assert.deepEqual(heavy(loaded, allowed), [], args.join(' '));
      // A local archive needs neither the agent's configuration (zod) nor gRPC.
      if (args.includes('--archive')) assert.deepEqual(loaded.filter((f) => /\/bin\/wal-commands\.ts$|\/node_modules\/(zod|@grpc)\//.test(f)), [], args.join(' '));
    }
    // The same hook sees them when those commands do run (here: to say what is missing).
    const serve = heavy(modulesLoaded(['serve', '--config', config, '--check-config'], 71));
    assert.ok(serve.some((f) => f.endsWith('/bin/serve-command.ts')) && serve.some((f) => f.includes('/agent/src/grpc/')), serve.join('\n'));
    const restore = heavy(modulesLoaded(['restore', '--from', path.join(dir, 'none'), '-D', path.join(dir, 'data'), '--mode', 'none'], 71));
    assert.ok(restore.some((f) => f.endsWith('/bin/restore-command.ts')) && restore.some((f) => f.endsWith('/restore/restore.ts')), restore.join('\n'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// `pgfleet-agent restore` needs the restore engine, which loads core's index, but not the
// libraries only daemons or connections use: pg (until it connects to a started instance),
// pino, yaml and zod (core requires them on first use, and its index leaves the configuration
// schemas to @pgfleet/core/config): about 0.1 s of each restore's start-up.
test('restore loads neither pg nor pino, yaml or zod before it needs them', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfleet-agent-startup-'));
  try {
    const loaded = modulesLoaded(['restore', '--from', path.join(dir, 'none'), '-D', path.join(dir, 'data'), '--mode', 'none'], 71);
    assert.ok(loaded.some((f) => f.endsWith('/restore/restore.ts')), 'the hook saw the restore engine load');
    assert.deepEqual(loaded.filter((f) => /\/node_modules\/(pg|pino|yaml|zod)\//.test(f)), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
