// The README's first command, `npm run demo`, must keep working: this runs the demo (after the
// build that `npm test` has already done: the test workspace depends on the three packages)
// and checks what it printed at each step, so a broken step fails here and not in front of a
// newcomer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../harness/index.js';

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'test/demo/run.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test('npm run demo: fleet backup through an agent and a controller, restore with a relocated tablespace, read-write copy, point-in-time recovery to before a DROP TABLE', { timeout: 300_000 }, async () => {
  const { code, out } = await runDemo();
  assert.equal(code, 0, out);
  assert.match(out, /^host1 +127\.0\.0\.1:\d+ +ok +0\.1\.0 \(protocol 2\.\d+\)/m, out);
  assert.match(out, /cluster "demo": backup (\d{8}T\d{6}Z) completed and verified: /, out);
  assert.match(out, /^demo +\d{8}T\d{6}Z .* agent:host1 +ok$/m, out);
  for (const file of ['backup.json', 'backup_manifest', 'base.tar.lz4', 'pg_wal.tar']) assert.match(out, new RegExp(` ${file.replace('.', '\\.')}\\n`), out);
  assert.match(out, /^tablespace \d+: "\/[^"]+\/host1\/relocated-tablespace" \(was "[^"]+"\)$/m, out);
  assert.match(out, /^server \d+\.\d+ running on port \d+: read-write \(primary\), timeline 2$/m, out);
  // console.table: the copy reports the new location and the source's row counts.
  const copyRow = out.split('\n').find((l) => l.includes('restored copy'));
  const sourceRow = out.split('\n').find((l) => /│ source /.test(l));
  assert.ok(copyRow && sourceRow, out);
  assert.match(copyRow, /│ false +│ '\d+' +│ 2 +│ '\/[^']+\/host1\/relocated-tablespace' +│ '5001' +│ '5001' +│/);
  assert.match(sourceRow, /│ false +│ '\d+' +│ 1 +│ '\/[^']+' +│ '5001' +│ '5001' +│/);
  assert.match(out, /^a write into the copy succeeded: it is a read-write primary$/m);
  assert.match(out, /^the source is untouched by that write: true$/m);
  // Point-in-time recovery: the table dropped after the noted moment is back with its rows, the
  // rows written after the drop are not there, and the copy is a read-write primary.
  const moment = /^the moment before the mistake: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d(?::\d\d)?)$/m.exec(out)?.[1];
  assert.ok(moment, out);
  assert.ok(out.includes(`--target-time '${moment}' --start`), out);
  assert.match(out, /^target reached: yes /m, out);
  assert.match(out, /^recovery target: .* \(timeline 1\)$/m, out);
  assert.doesNotMatch(out, /\(timeline 0\)/, out);
  assert.match(out, /^the dropped table is back: orders holds 1000 rows$/m, out);
  assert.match(out, /^the rows written after the drop are missing: 0 of 500 there$/m, out);
  const lines = out.split('\n');
  const beforeDrop = lines.find((l) => l.startsWith('│ before the drop '));
  const sourceNow = lines.filter((l) => /│ source /.test(l)).at(-1);
  assert.ok(beforeDrop && sourceNow, out);
  assert.match(beforeDrop, /│ false +│ 2 +│ '1000' +│ '0' +│/);
  assert.match(sourceNow, /│ false +│ 1 +│ 'dropped' +│ '500' +│/);
  assert.match(out, /^a write into the recovered copy succeeded: it is a read-write primary$/m);
});
