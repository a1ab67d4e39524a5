import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeHtml, renderStatusPage } from '../../src/daemon/status-page.js';

test('every text on the status page is escaped; no scripts, no external assets; it refreshes itself', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const html = renderStatusPage({
    generatedAt: '2026-12-06T10:00:00.000Z', repositoryFreeBytes: '1000', repositorySizeBytes: '2000',
    clusters: [{
      name: 'main', state: 'warning', problems: ['the last backup attempt failed: could not connect to "<script>alert(1)</script>"'],
      lastBackupId: '20261206T090000Z', lastBackupFinishedAt: '2026-12-06T09:00:10.000Z', lastBackupAgeSeconds: 3590, lastBackupSizeBytes: '4096',
      lastBackupDurationSeconds: 10, backups: [{ id: '20261206T090000Z', finishedAt: '2026-12-06T09:00:10.000Z', sizeBytes: '4096' }],
      wal: { available: false, reason: 'not configured' }, nextRunAt: '',
    }],
  });
  assert.ok(!html.includes('<script>'), html);
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.match(html, /<span class="state warning">WARNING<\/span>/);
  assert.match(html, /59m 50s ago/);
  assert.match(html, /<meta http-equiv="refresh" content="30">/);
  assert.ok(!/<script|<link|src=|url\(/.test(html));
});
