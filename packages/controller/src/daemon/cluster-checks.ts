/**
 * `pgfleet check`: is each cluster protected right now? One result per check, in this order,
 * each OK or FAILED with what was found (or SKIPPED with why it does not apply):
 *   agent        the cluster's agent answers GetInfo with a compatible protocol
 *   replication  the server accepts a replication connection as the backups' role (through
 *                the agent on its host, or directly from the controller)
 *   wal_level    replica or logical
 *   wal_senders  with -X stream, a second walsender is free while one is held
 *   slot         the archive's slot exists and is active        } from the WAL archive's state
 *   archive      the archive streams, its lag under the limit,   }
 *                and it carries the newest backup to now (no    }
 *                gap after it: WAL the server removed fails it   }
 *                until a backup after the gap exists)            }
 *   backup       the newest usable backup is younger than maxAge
 *   drill        the last restore drill passed
 *   repository   a file can be written there, and free space is above minFreeSpace
 * A check that cannot run because an earlier one failed says so (FAILED, "not checked: ...").
 */
import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PgFleetError, probeReplicationServer, type ServerProbe } from '@pgfleet/core';
import { asPgFleetError } from '@pgfleet/proto';
import type { ClusterConfig } from '../config.js';
import { readClusterCatalog } from '../repository/catalog.js';
import { formatBytes } from '../cli/output.js';
import { agentByName, type ControllerState } from '../rpc/service-context.js';
import { formatDuration } from './age-text.js';
import { NO_DRILLS, repositorySpace } from './fleet-status.js';

export interface CheckOutcome {
  name: string;
  ok: boolean;
  skipped: boolean;
  message: string;
  hint: string;
}

const ok = (name: string, message: string): CheckOutcome => ({ name, ok: true, skipped: false, message, hint: '' });
const skipped = (name: string, message: string): CheckOutcome => ({ name, ok: true, skipped: true, message, hint: '' });
const failed = (name: string, message: string, hint = ''): CheckOutcome => ({ name, ok: false, skipped: false, message, hint });
const failedBy = (name: string, err: unknown): CheckOutcome => {
  const e = asPgFleetError(err);
  return failed(name, e.message, e.hint ?? '');
};

/** The server as a backup reaches it: through the agent, or directly. */
async function probe(state: ControllerState, cluster: ClusterConfig): Promise<ServerProbe> {
  if (cluster.agent === null) {
    return probeReplicationServer({
      connectionString: cluster.conninfo, passwordPrompt: 'never', fallback_application_name: 'pgfleet check',
      noProgressTimeoutMs: state.config.noProgressTimeoutSeconds * 1000,
    });
  }
  const r = await agentByName(state, cluster.agent).checkServer({ conninfo: cluster.conninfo, dataDir: '' });
  return {
    target: r.target, serverVersion: r.serverVersion, systemIdentifier: r.systemIdentifier, timeline: r.timeline, walLevel: r.walLevel,
    maxWalSenders: r.maxWalSenders, secondSender: r.secondSenderOk ? { ok: true } : { ok: false, reason: r.secondSenderError },
  };
}

async function serverChecks(state: ControllerState, cluster: ClusterConfig, agentDown: string | null): Promise<CheckOutcome[]> {
  const names = ['replication', 'wal_level', 'wal_senders'];
  if (agentDown !== null) return names.map((n) => failed(n, `not checked: ${agentDown}`));
  let p: ServerProbe;
  try {
    p = await probe(state, cluster);
  } catch (err) {
    const e = asPgFleetError(err);
    return [failedBy('replication', e), ...names.slice(1).map((n) => failed(n, 'not checked: no replication connection'))];
  }
  const via = cluster.agent !== null ? ` by agent "${cluster.agent}"` : ' by the controller';
  const out = [ok('replication', `connected for replication to "${p.target}"${via} (PostgreSQL ${p.serverVersion.split(' ')[0]}, system ${p.systemIdentifier}, timeline ${p.timeline})`)];
  out.push(p.walLevel === 'replica' || p.walLevel === 'logical'
    ? ok('wal_level', `wal_level is ${p.walLevel}`)
    : failed('wal_level', `wal_level is ${p.walLevel}, backups need replica or logical`, 'Set wal_level = replica in postgresql.conf and restart the server.'));
  if (cluster.walMethod !== 'stream') {
    out.push(ok('wal_senders', `max_wal_senders is ${p.maxWalSenders}; a backup with -X fetch needs one walsender`));
  } else if (p.secondSender.ok) {
    out.push(ok('wal_senders', `two walsenders free at once (max_wal_senders ${p.maxWalSenders}), as a backup with -X stream needs`));
  } else {
    out.push(failed('wal_senders', `no second walsender free (max_wal_senders ${p.maxWalSenders}): ${p.secondSender.reason}`,
      'A backup with -X stream needs two walsenders at once: raise max_wal_senders or end other replication connections.'));
  }
  return out;
}

async function walChecks(state: ControllerState, cluster: ClusterConfig): Promise<CheckOutcome[]> {
  const wal = await state.walArchive.stateOf(cluster.name);
  if (!wal.available) return [skipped('slot', `archive ${wal.reason}`), skipped('archive', `archive ${wal.reason}`)];
  const s = wal.state;
  const why = s.archiveProblem !== null ? ` (the archive: ${s.archiveProblem})` : '';
  const slot = !s.slotPresent
    ? failed('slot', `replication slot "${s.slotName}" does not exist on the server${why}`,
      'The archive creates it again when it reconnects; WAL the server removed meanwhile is missing from the archive: see "pgfleet wal" for gaps, and take a backup.')
    : s.slotActive ? ok('slot', `replication slot "${s.slotName}" is active`)
      : failed('slot', `replication slot "${s.slotName}" is not active: nothing streams from it${why}`);
  const limit = state.config.checks.maxArchiveLagSeconds;
  const cut = s.newestBackupCut;
  const archive = s.lagSeconds > limit
    ? failed('archive', `the archive is ${formatDuration(s.lagSeconds)} behind the server (${formatBytes(s.lagBytes)}; limit ${formatDuration(limit)})`)
    // Streaming again after a gap is not protection yet: nothing recovers to now until a backup after the gap.
    : cut !== null
      ? failed('archive', `the newest backup ${cut.backupId} cannot be recovered past WAL segment ${cut.firstMissing}: ${cut.removedByServer ? 'the server removed it before the archive received it' : 'it is missing from the archive'}`,
        `Take a new backup ("pgfleet backup ${cluster.name}"): point-in-time recovery to now needs a backup taken after the gap.`)
      : ok('archive', `streaming, ${formatBytes(s.lagBytes)} and ${formatDuration(s.lagSeconds)} behind (limit ${formatDuration(limit)})${s.gaps > 0 ? `; ${s.gaps} gaps` : ''}`);
  return [slot, archive];
}

async function backupCheck(state: ControllerState, cluster: ClusterConfig, now: Date): Promise<CheckOutcome> {
  const { backups } = await readClusterCatalog(state.config.repository, cluster.name);
  const latest = backups[backups.length - 1];
  const maxAge = formatDuration(cluster.maxAgeSeconds);
  if (!latest) return failed('backup', 'no usable backup', `Take one with "pgfleet backup ${cluster.name}".`);
  const age = (now.getTime() - Date.parse(latest.metadata.finishedAt)) / 1000;
  return age <= cluster.maxAgeSeconds
    ? ok('backup', `newest usable backup ${latest.metadata.id} is ${formatDuration(age)} old (maxAge ${maxAge})`)
    : failed('backup', `newest usable backup ${latest.metadata.id} is ${formatDuration(age)} old, more than maxAge ${maxAge}`,
      cluster.schedule ? 'See why the scheduled backups fail with "pgfleet backups --all".' : `Take one with "pgfleet backup ${cluster.name}", or give the cluster a schedule.`);
}

async function repositoryCheck(state: ControllerState): Promise<CheckOutcome> {
  const { repository } = state.config;
  const min = state.config.checks.minFreeBytes;
  const probeFile = join(repository, `.check-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(probeFile, 'wx', 0o600);
    try {
      await handle.writeFile('pgfleet check\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(probeFile, { force: true }).catch(() => {});
    const reason = err instanceof Error ? err.message : String(err);
    return failed('repository', `repository "${repository}" is not writable: ${reason}`);
  }
  await rm(probeFile, { force: true });
  const space = await repositorySpace(repository);
  if (space === null) return failed('repository', `could not read the free space of repository "${repository}"`);
  return space.freeBytes >= min
    ? ok('repository', `writable, ${formatBytes(space.freeBytes)} free (minimum ${formatBytes(min)})`)
    : failed('repository', `repository "${repository}" has only ${formatBytes(space.freeBytes)} free, less than minFreeSpace ${formatBytes(min)}`,
      'Free space there (expire old backups, lower retention) or give it more room.');
}

export async function checkCluster(state: ControllerState, cluster: ClusterConfig, now: Date = new Date()): Promise<CheckOutcome[]> {
  const out: CheckOutcome[] = [];
  let agentDown: string | null = null;
  if (cluster.agent !== null) {
    try {
      const agent = agentByName(state, cluster.agent);
      const info = await agent.getInfo();
      out.push(ok('agent', `agent "${cluster.agent}" answers (pgfleet-agent ${info.agentVersion}, protocol ${info.protocolVersion})`));
    } catch (err) {
      out.push(failedBy('agent', err));
      agentDown = `agent "${cluster.agent}" is ${asPgFleetError(err).id === 'incompatible-version' ? 'incompatible' : 'unreachable'}`;
    }
  }
  const settle = async (name: string, work: () => Promise<CheckOutcome | CheckOutcome[]>): Promise<CheckOutcome[]> => {
    try {
      const r = await work();
      return Array.isArray(r) ? r : [r];
    } catch (err) {
      return [err instanceof PgFleetError ? failedBy(name, err) : failed(name, `could not check: ${err instanceof Error ? err.message : String(err)}`)];
    }
  };
  out.push(...await settle('replication', () => serverChecks(state, cluster, agentDown)));
  out.push(...await settle('slot', () => walChecks(state, cluster)));
  out.push(...await settle('backup', () => backupCheck(state, cluster, now)));
  out.push(skipped('drill', NO_DRILLS));
  out.push(...await settle('repository', () => repositoryCheck(state)));
  return out;
}
