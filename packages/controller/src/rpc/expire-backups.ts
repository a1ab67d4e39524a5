/** ExpireBackups: removes (or, with dry_run, lists) backups beyond each cluster's retention; backups being read are kept. */
import type { ControllerHandlers } from '@pgfleet/proto';
import { expireCluster } from '../repository/expire.js';
import { checkExpireBackupsRequest } from './request-limits.js';
import { clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function expireBackups(state: ControllerState): ControllerHandlers['ExpireBackups'] {
  return unary(async (req) => {
    checkExpireBackupsRequest(req);
    const clusters = req.cluster !== '' ? [clusterByName(state, req.cluster)] : state.config.clusters;
    const removed = [];
    const kept = [];
    const walRemoved = [];
    for (const c of clusters) {
      // A backup in flight is not listed yet (staging): expire only ever counts committed
      // backups, so it need not wait for one.
      const plan = await expireCluster(state.config.repository, c.name, {
        retention: c.retention,
        dryRun: req.dryRun,
        inUse: (id) => state.inUse.has(`${c.name}/${id}`),
      });
      for (const b of plan.remove) removed.push({ cluster: c.name, backupId: b.metadata.id, finishedAt: b.metadata.finishedAt });
      for (const b of plan.keep) kept.push({ cluster: c.name, backupId: b.metadata.id, finishedAt: b.metadata.finishedAt });
      if (plan.remove.length > 0 && !req.dryRun) {
        state.logger.info(`cluster "${c.name}": expired ${plan.remove.map((b) => b.metadata.id).join(', ')}`);
      }
      if ((plan.walRemoved ?? []).length > 0) {
        walRemoved.push({ cluster: c.name, files: plan.walRemoved ?? [] });
        if (!req.dryRun) state.logger.info(`cluster "${c.name}": expired ${plan.walRemoved?.length} WAL files older than the oldest kept backup`);
      }
    }
    return { removed, kept, walRemoved };
  });
}
