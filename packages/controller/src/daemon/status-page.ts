/**
 * The status page: `pgfleet status` as one HTML page a person would rather look at. Per
 * cluster a coloured state (green ok, amber warning, red failed), the newest backup's age,
 * the WAL archive's lag, and a bar of the time a restore can reach with each backup on it.
 * Read-only (no forms, no scripts), self-contained (inline CSS, no external assets), and it
 * reloads itself (meta refresh). Every text from configuration, repository or errors is
 * escaped.
 */
import type { ClusterStatus, FleetStatus } from '@pgfleet/proto';
import { formatBytes } from '../cli/output.js';
import { formatDuration } from './age-text.js';

export const REFRESH_SECONDS = 30;

/** HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] as string));
}

const CSS = `
body{font-family:system-ui,sans-serif;margin:1.5em;background:#f6f7f9;color:#1d2330}
h1{font-size:1.4em;margin:0 0 .2em}.meta{color:#667;font-size:.9em;margin-bottom:1em}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.55em .7em;text-align:left;border-bottom:1px solid #e4e6ea;vertical-align:top}
th{background:#eef0f3;font-weight:600;font-size:.85em;text-transform:uppercase;letter-spacing:.03em}
.state{display:inline-block;min-width:5.5em;text-align:center;padding:.2em .5em;border-radius:.3em;color:#fff;font-weight:700}
.ok{background:#2e8540}.warning{background:#c98a00}.failed{background:#c62828}
.problems{color:#a33;font-size:.85em;margin-top:.3em}.muted{color:#889}
.bar{position:relative;height:1.1em;min-width:16em;background:#e8eaee;border-radius:.2em;overflow:hidden}
.window{position:absolute;top:0;bottom:0;background:#9cc9a5}
.backup{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#1f5fa8}
.axis{display:flex;justify-content:space-between;gap:.8em;font-size:.75em;color:#778}
`;

function ageText(s: ClusterStatus): string {
  return s.lastBackupId ? `${formatDuration(Number(s.lastBackupAgeSeconds ?? -1))} ago` : 'none';
}

function walText(s: ClusterStatus): string {
  const wal = s.wal;
  if (!wal?.available) return `archive ${wal?.reason ?? 'not configured'}`;
  return `${formatBytes(Number(wal.lagBytes ?? 0))}, ${formatDuration(Number(wal.lagSeconds ?? 0))}`;
}

/** The restore window as a bar from the oldest point (a backup or the archive's start) to now. */
function windowBar(s: ClusterStatus, now: number): string {
  const backups = (s.backups ?? []).map((b) => ({ id: b.id ?? '', at: Date.parse(b.finishedAt ?? '') })).filter((b) => !Number.isNaN(b.at));
  const from = s.wal?.available && s.wal.restoreFrom ? Date.parse(s.wal.restoreFrom) : NaN;
  const to = s.wal?.available && s.wal.restoreTo ? Date.parse(s.wal.restoreTo) : NaN;
  const start = Math.min(...backups.map((b) => b.at), Number.isNaN(from) ? Infinity : from);
  if (!Number.isFinite(start)) return '<span class="muted">nothing to restore</span>';
  const span = Math.max(1, now - start);
  const pct = (t: number): string => `${Math.min(100, Math.max(0, ((t - start) / span) * 100)).toFixed(2)}%`;
  const band = !Number.isNaN(from) && !Number.isNaN(to)
    ? `<div class="window" style="left:${pct(from)};width:calc(${pct(to)} - ${pct(from)})" title="restore window"></div>` : '';
  const ticks = backups.map((b) => `<div class="backup" style="left:${pct(b.at)}" title="${escapeHtml(`backup ${b.id}`)}"></div>`).join('');
  const caption = Number.isNaN(from) ? `${backups.length} ${backups.length === 1 ? 'backup' : 'backups'} (no WAL archive: each backup's moment only)` : 'restore window';
  return `<div class="bar">${band}${ticks}</div><div class="axis"><span>${escapeHtml(new Date(start).toISOString().replace(/\.\d+Z$/, 'Z'))}</span>`
    + `<span>${escapeHtml(caption)}</span><span>now</span></div>`;
}

function row(s: ClusterStatus, now: number): string {
  const state = s.state ?? 'failed';
  const problems = (s.problems ?? []).map((p) => `<div class="problems">${escapeHtml(p)}</div>`).join('');
  const next = s.nextRunAt ? escapeHtml(s.nextRunAt.replace(/\.\d+Z$/, 'Z')) : '<span class="muted">not scheduled</span>';
  return `<tr><td><strong>${escapeHtml(s.name ?? '')}</strong>${s.backupRunning ? ' <span class="muted">(backing up)</span>' : ''}</td>`
    + `<td><span class="state ${escapeHtml(state)}">${escapeHtml(state.toUpperCase())}</span>${problems}</td>`
    + `<td>${escapeHtml(ageText(s))}${s.lastBackupId ? `<div class="muted">${escapeHtml(formatBytes(Number(s.lastBackupSizeBytes ?? 0)))} in ${escapeHtml(formatDuration(Number(s.lastBackupDurationSeconds ?? 0)))}</div>` : ''}</td>`
    + `<td>${escapeHtml(walText(s))}</td><td>${windowBar(s, now)}</td><td>${next}</td></tr>`;
}

export function renderStatusPage(status: FleetStatus): string {
  const now = Date.parse(status.generatedAt ?? '') || Date.now();
  const clusters = status.clusters ?? [];
  const counts = ['ok', 'warning', 'failed'].map((k) => `${clusters.filter((c) => c.state === k).length} ${k}`).join(', ');
  const rows = clusters.length > 0 ? clusters.map((c) => row(c, now)).join('\n')
    : '<tr><td colspan="6" class="muted">no clusters are configured</td></tr>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>pgfleet status</title><style>${CSS}</style></head>
<body><h1>pgfleet</h1><div class="meta">${escapeHtml(`${clusters.length} clusters: ${counts}. Repository: ${formatBytes(Number(status.repositoryFreeBytes ?? 0))} free. `
  + `As of ${(status.generatedAt ?? '').replace(/\.\d+Z$/, 'Z')}; this page reloads every ${REFRESH_SECONDS} s.`)}</div>
<table><thead><tr><th>Cluster</th><th>State</th><th>Last backup</th><th>WAL lag</th><th>Restore window</th><th>Next run</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}
