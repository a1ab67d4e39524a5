/**
 * ListBackups: every backup of one cluster or all, usable ones and those found damaged (with
 * the reason), oldest first. With `all`, also the attempts that left no backup: failed and
 * incomplete ones as the repository recorded them, and those running now (their staging
 * directories). Each usable backup carries its recoverable window (wal/recoverable-window.ts):
 * the cluster's WAL archive is read once per cluster.
 */
import type { BackupAttempt, ControllerHandlers } from '@pgfleet/proto';
import { backupIdTime, readAttempts } from '../repository/attempts.js';
import { backupRecord, damagedRecord, recoverableWindowRecord } from '../daemon/records.js';
import { compareBackupIds } from '../repository/backup-id.js';
import { readClusterCatalog } from '../repository/catalog.js';
import { TMP_PREFIX } from '../repository/layout.js';
import { readArchiveView, recoverableWindow } from '../wal/recoverable-window.js';
import { checkListBackupsRequest } from './request-limits.js';
import { clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function listBackups(state: ControllerState): ControllerHandlers['ListBackups'] {
  return unary(async (req) => {
    checkListBackupsRequest(req);
    const names = req.cluster !== '' ? [clusterByName(state, req.cluster).name] : state.config.clusters.map((c) => c.name);
    const backups = [];
    const attempts: BackupAttempt[] = [];
    for (const n of names) {
      const catalog = await readClusterCatalog(state.config.repository, n);
      const view = catalog.backups.length > 0 ? await readArchiveView(state.config.repository, n, state.walReceivers.walState(n)) : null;
      const records = [
        ...catalog.backups.map((b) => ({
          ...backupRecord(b.metadata, b.path),
          ...(view !== null ? { recoverableWindow: recoverableWindowRecord(recoverableWindow(b.metadata, view)) } : {}),
        })),
        ...catalog.unusable.map((u) => damagedRecord(u, n)),
      ];
      backups.push(...records.sort((x, y) => compareBackupIds(x.id ?? '', y.id ?? '')));
      if (!req.all) continue;
      const recorded: BackupAttempt[] = (await readAttempts(state.config.repository, n)).map((a) => ({
        cluster: n, id: a.id, status: a.status, startedAt: a.startedAt, endedAt: a.endedAt, trigger: a.trigger,
        error: { id: a.error.id, code: a.error.code, message: a.error.message, hint: a.error.hint, raisedFrom: '' },
      }));
      const running: BackupAttempt[] = catalog.inProgress.filter((d) => d.startsWith(TMP_PREFIX)).map((d) => ({
        cluster: n, id: d.slice(TMP_PREFIX.length), status: 'running', startedAt: backupIdTime(d.slice(TMP_PREFIX.length)),
      }));
      attempts.push(...[...recorded, ...running].sort((x, y) => compareBackupIds(x.id ?? '', y.id ?? '')));
    }
    return { backups, attempts };
  });
}
