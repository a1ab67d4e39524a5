import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorSummary, formatBytes, formatSeconds, renderMarkdown, renderText, type BenchReport } from './report.js';
import { allTargetsPass, summariseVariant, type Sample } from './summary.js';

const MB = 2 ** 20;

function sample(over: Partial<Sample> & Pick<Sample, 'tool' | 'variant'>): Sample {
  return { run: 1, position: 1, ok: true, wallMs: 10_000, peakRssKb: 40 * 1024, outputBytes: 100 * MB, ...over };
}

function makeReport(samples: Sample[]): BenchReport {
  const rows = (['tar', 'gzip'] as const).map((v) => summariseVariant(v, samples));
  return {
    startedAt: '2025-01-02T03:04:05.000Z',
    finishedAt: '2025-01-02T03:14:05.000Z',
    commit: 'abc1234',
    node: 'v20.0.0',
    cpus: 2,
    memoryBytes: 24 * 2 ** 30,
    loadAverage: { start: 0.5, end: 2.25 },
    pgBasebackup: { command: '/usr/bin/pg_basebackup', version: 'pg_basebackup 15' },
    pgfleet: { command: 'node pgfleet-basebackup.js', version: 'pgfleet 0.1.0', substituted: false },
    dataset: {
      key: 'pg15-v1-s8',
      scale: 8,
      eventsRows: 680000,
      dir: '/d',
      dataDir: '/d/data',
      tablespaceDir: '/d/ts1',
      builtAt: '2025-01-01T00:00:00.000Z',
      buildSeconds: 5,
      sizes: { mainBytes: 150 * MB, tablespaceBytes: 50 * MB, totalBytes: 200 * MB, databasesBytes: 199 * MB },
    },
    runs: 3,
    pageCache: 'dropped before each backup',
    rssSource: 'gnu-time',
    rows,
    samples,
    extra: { results: [], note: 'pgbackrest: not installed, skipped' },
    allTargetsPass: allTargetsPass(rows),
  };
}

const samples: Sample[] = [
  sample({ tool: 'pg_basebackup', variant: 'tar', run: 1, wallMs: 10_000 }),
  sample({ tool: 'pg_basebackup', variant: 'tar', run: 2, wallMs: 12_000 }),
  sample({ tool: 'pgfleet', variant: 'tar', run: 1, wallMs: 10_500, peakRssKb: 90 * 1024 }),
  sample({ tool: 'pgfleet', variant: 'tar', run: 2, ok: false, outputBytes: null, error: 'exit code 1: pgfleet-basebackup: error: boom' }),
  sample({ tool: 'pg_basebackup', variant: 'gzip', wallMs: 40_000, outputBytes: 40 * MB }),
  sample({ tool: 'pgfleet', variant: 'gzip', ok: false, outputBytes: null, error: 'exit code 1: unsupported | really' }),
];

test('error summary: status plus the most telling line of the output tail', () => {
  const crash = [
    'exit code 1: file:///x/dist/basebackup.js:23',
    "import { A } from './b.js';",
    "SyntaxError: The requested module './b.js' does not provide an export named 'A'",
    '    at ModuleJob._instantiate (node:internal/modules/esm/module_job:213:21)',
    '',
    'Node.js v20.20.2',
  ].join('\n');
  assert.equal(errorSummary(crash), "exit code 1: SyntaxError: The requested module './b.js' does not provide an export named 'A'");
  assert.equal(
    errorSummary('exit code 1: pg_basebackup: error: could not connect\nHINT: Start the server.'),
    'exit code 1: pg_basebackup: error: could not connect',
  );
  assert.equal(errorSummary('signal SIGKILL: working\nkilled after 1.0 s'), 'signal SIGKILL: killed after 1.0 s');
  assert.equal(errorSummary('exit code 2: just this'), 'exit code 2: just this');
  assert.equal(errorSummary('exit code 2:'), 'exit code 2: no output');
  assert.equal(errorSummary('stanza-create: ERROR: [055]: unable to load info file'), 'stanza-create: ERROR: [055]: unable to load info file');
});

test('units follow pg_size_pretty', () => {
  assert.equal(formatBytes(1536 * MB), '1.50 GB');
  assert.equal(formatBytes(40 * MB), '40.0 MB');
  assert.equal(formatBytes(null), 'n/a');
  assert.equal(formatSeconds(12_345), '12.35 s');
});

test('text table: partial and failed runs, ratio, compression, targets and error notes', () => {
  const text = renderText(makeReport(samples));
  const lines = text.split('\n');
  const tar = lines.find((l) => l.startsWith('tar '));
  const gzip = lines.find((l) => l.startsWith('gzip '));
  assert.ok(tar && gzip, text);
  // pg_basebackup median of 10 s and 12 s; pgfleet 1 of 2 runs ok.
  assert.match(tar, /^tar\s+11\.00 s\s+10\.50 s \(1\/2\)\s+0\.95\s+40 MB\s+90 MB\s+100\.0 MB\s+100\.0 MB\s+2\.00x \/ 2\.00x\s+PASS time ratio <= 1\.10 \(0\.95\); PASS pgfleet peak RSS < 150 MB \(90 MB\)$/);
  assert.match(gzip, /^gzip\s+40\.00 s\s+error\s+n\/a\s+40 MB\s+n\/a\s+40\.0 MB\s+n\/a\s+5\.00x \/ n\/a\s+n\/a faster than pg_basebackup -z \(not measured\)/);
  assert.ok(lines.includes('tar / pgfleet failed: exit code 1: pgfleet-basebackup: error: boom'), text);
  assert.ok(lines.includes('targets overall: n/a'), text);
  assert.ok(lines.includes('pgbackrest: not installed, skipped'), text);
});

test('markdown table: every row has as many cells as the header, pipes escaped', () => {
  const md = renderMarkdown(makeReport(samples));
  const tableLines = md.split('\n').filter((l) => l.startsWith('| '));
  assert.equal(tableLines.length, 4); // header, alignment row, tar, gzip
  const cells = (l: string): number => l.replace(/\\\|/g, '').split('|').length;
  for (const line of tableLines) assert.equal(cells(line), cells(tableLines[0] as string), line);
  assert.match(md, /^- gzip \/ pgfleet failed: exit code 1: unsupported \\\| really$/m);
  assert.match(md, /^\|( --- \|)( ---: \|){8}( --- \|)$/m);
});

test('the headline gives the load average around the measurements', () => {
  assert.match(renderText(makeReport(samples)), /^machine: 2 CPUs, 24\.00 GB RAM, load average 0\.50 at start, 2\.25 at end; node v20\.0\.0, commit abc1234$/m);
});

test('a substituted pgfleet command is flagged in the headline', () => {
  const report = makeReport(samples);
  report.pgfleet.substituted = true;
  assert.match(renderText(report), /^pgfleet: .* -- SUBSTITUTED, not pgfleet-basebackup$/m);
});

test('the notes say how both tools reached the server', () => {
  const report = makeReport(samples);
  assert.match(renderText(report), /^connection: TCP to 127\.0\.0\.1$/m);
  report.connect = 'socket';
  assert.match(renderText(report), /^connection: the server's Unix socket \(--connect socket\)$/m);
  assert.match(renderMarkdown(report), /^- connection: the server's Unix socket \(--connect socket\)$/m);
});
