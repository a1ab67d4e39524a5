import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InternalError } from '../../src/errors.js';
import { MemberAppender } from '../../src/archive/member-appender.js';
import { TarArchiver } from '../../src/archive/tar-archiver.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { Recorder, feed, removeDir, run, tempDir } from './helpers.js';

describe('MemberAppender', () => {
  let dir: string;
  before(() => { dir = tempDir('appender'); });
  after(() => removeDir(dir));

  it('adds queued files just before the end of the archive (backup_manifest for -D -)', async () => {
    run('sh', ['-c', `mkdir ${dir}/t && printf one > ${dir}/t/a && printf two > ${dir}/t/b`]);
    const input = run('tar', ['-C', join(dir, 't'), '-cf', '-', 'a', 'b']);
    const out = new Recorder();
    const appender = new MemberAppender(new TarArchiver(out), { files: [{ name: 'first', data: Buffer.from('1') }] });
    const parser = new TarParser(appender);
    await parser.content(null, input, 'unknown');
    // The manifest arrives after the archive data; finalize() waits for it.
    const manifest = Buffer.from('{"PostgreSQL-Backup-Manifest-Version": 1}\n'.repeat(40));
    await appender.append('backup_manifest', manifest, { mode: 0o640, mtime: new Date('2025-01-01T00:00:00Z') });
    await parser.finalize();
    const path = join(dir, 'out.tar');
    writeFileSync(path, out.rawBytes());
    const list = run('tar', ['--numeric-owner', '--utc', '-tvf', path]).toString().trim().split('\n');
    assert.deepEqual(list.map((l) => l.split(/\s+/).pop()), ['a', 'b', 'first', 'backup_manifest']);
    assert.match(list[3]!, /^-rw-r----- 2048\/1024 +1680 2025-01-01 00:00 backup_manifest$/);
    assert.deepEqual(run('tar', ['-xOf', path, 'backup_manifest']), manifest);
  });

  it('refuses append() after the archive has ended', async () => {
    const appender = new MemberAppender(new TarArchiver(new Recorder()));
    await feed(new TarParser(appender), Buffer.alloc(1024));
    await assert.rejects(appender.append('late', Buffer.alloc(1)), (err: unknown) => {
      assert.ok(err instanceof InternalError);
      assert.equal(err.message, 'cannot append "late": the archive has already ended');
      return true;
    });
  });
});
