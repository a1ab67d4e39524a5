/** CheckClusters: `pgfleet check`'s results for the named clusters (or all), every cluster checked at once (daemon/cluster-checks.ts). */
import type { ControllerHandlers } from '@pgfleet/proto';
import { checkCluster } from '../daemon/cluster-checks.js';
import { checkCheckClustersRequest } from './request-limits.js';
import { clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function checkClusters(state: ControllerState): ControllerHandlers['CheckClusters'] {
  return unary(async (req) => {
    checkCheckClustersRequest(req);
    const clusters = req.clusters.length > 0 ? [...new Set(req.clusters)].map((n) => clusterByName(state, n)) : state.config.clusters;
    const results = await Promise.all(clusters.map(async (c) => ({ cluster: c.name, checks: await checkCluster(state, c) })));
    for (const r of results) {
      const bad = r.checks.filter((c) => !c.ok);
      if (bad.length > 0) state.logger.warn(`cluster "${r.cluster}": check failed: ${bad.map((c) => `${c.name} (${c.message})`).join(', ')}`, { cluster: r.cluster });
    }
    return { clusters: results };
  });
}
