/**
 * Scheduled backups: one croner job per cluster with a `schedule`, in its time zone. A run
 * takes the cluster's lock like a requested backup, so two backups of one cluster never
 * overlap: an occurrence that comes while one runs (scheduled or asked for) is skipped and
 * logged. After each scheduled backup that completes, the cluster's retention is applied.
 *
 * The last occurrence run is kept in the repository (schedule.json, written before the run
 * starts, so a crash during it does not repeat it). At start, an occurrence that passed while
 * the daemon was down runs once, at once (trigger "missed"; however many were missed), unless
 * the schedule says `runMissed: false`. A cluster seen for the first time starts counting from
 * now. apply() takes a new configuration (SIGHUP): jobs of unchanged schedules keep running,
 * changed ones are replaced, removed ones stop; a backup under way is never interrupted.
 */
import { Cron } from 'croner';
import { errorFields, errorText } from '@pgfleet/core';
import { originSuffix } from '@pgfleet/proto';
import type { ClusterConfig, FleetConfig, ScheduleConfig } from '../config.js';
import { readScheduleState, writeScheduleState, type BackupTrigger } from '../repository/attempts.js';
import { expireCluster } from '../repository/expire.js';
import type { ControllerState } from '../rpc/service-context.js';
import { runClusterBackups } from './run-backups.js';

interface Job {
  key: string;
  cron: Cron;
}

const keyOf = (s: ScheduleConfig): string => `${s.full}\u0000${s.timezone ?? ''}`;

export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly running = new Set<Promise<void>>();
  /**
   * Clusters one of our runs has claimed, from its check for a backup under way until its
   * backup has ended: the backup's own lock is taken only after awaits, and a missed run at
   * start and the first tick would otherwise both pass the check, the second failing as busy.
   */
  private readonly claimed = new Set<string>();
  private stopped = false;

  constructor(private readonly state: ControllerState) {}

  /** When `cluster`'s next scheduled backup runs; null without a schedule. */
  nextRun(cluster: string): Date | null {
    return this.jobs.get(cluster)?.cron.nextRun() ?? null;
  }

  /** Starts the jobs of `config` (at daemon start: with missed runs). */
  async start(config: FleetConfig): Promise<void> {
    await this.apply(config, true);
  }

  /** Takes a new configuration: unchanged jobs go on, changed ones are replaced, removed ones stop. */
  async apply(config: FleetConfig, atStart = false): Promise<void> {
    const wanted = new Map(config.clusters.filter((c) => c.schedule !== null).map((c) => [c.name, c]));
    for (const [name, job] of this.jobs) {
      const c = wanted.get(name);
      if (c === undefined || keyOf(c.schedule as ScheduleConfig) !== job.key) {
        job.cron.stop();
        this.jobs.delete(name);
      }
    }
    for (const c of wanted.values()) {
      if (this.jobs.has(c.name)) continue;
      const schedule = c.schedule as ScheduleConfig;
      // Paused until a missed run has claimed the cluster, so that it is that run which goes
      // ahead (a first tick at the same moment is skipped).
      const cron = new Cron(schedule.full, {
        ...(schedule.timezone !== null ? { timezone: schedule.timezone } : {}),
        paused: true,
        protect: true,
        catch: (err) => this.state.logger.error(`cluster "${c.name}": scheduled backup failed: ${errorText(err)}`, { cluster: c.name }),
      }, async (self: Cron) => {
        await this.track(this.run(c.name, 'schedule', self.currentRun() ?? new Date()));
      });
      this.jobs.set(c.name, { key: keyOf(schedule), cron });
      await this.catchUp(c, cron, atStart);
      if (!this.stopped && this.jobs.get(c.name)?.cron === cron) cron.resume();
    }
  }

  /** At start, a missed occurrence runs once; a cluster without a record starts counting now. */
  private async catchUp(c: ClusterConfig, cron: Cron, atStart: boolean): Promise<void> {
    const { repository } = this.state.config;
    const now = new Date();
    const last = await readScheduleState(repository, c.name);
    const previous = cron.previousRuns(1, now)[0] ?? null;
    if (last === null || previous === null || !atStart) {
      if (last === null) await this.remember(c.name, now, now);
      return;
    }
    if (previous.getTime() <= Date.parse(last.lastOccurrence)) return;
    if (c.schedule?.runMissed !== true) {
      this.state.logger.info(`cluster "${c.name}": scheduled backup of ${previous.toISOString()} was missed while the daemon was down; not run (runMissed: false)`, { cluster: c.name });
      await this.remember(c.name, previous, now);
      return;
    }
    this.state.logger.info(`cluster "${c.name}": scheduled backup of ${previous.toISOString()} was missed while the daemon was down; running it now`, { cluster: c.name });
    void this.track(this.run(c.name, 'missed', previous));
  }

  /** Keeps a run in sight until it ends, so that stop() can wait for it. */
  private async track(run: Promise<void>): Promise<void> {
    this.running.add(run);
    try {
      await run;
    } finally {
      this.running.delete(run);
    }
  }

  private async remember(cluster: string, occurrence: Date, at: Date): Promise<void> {
    try {
      await writeScheduleState(this.state.config.repository, cluster, occurrence, at);
    } catch (err) {
      this.state.logger.error(`cluster "${cluster}": could not record the schedule's last run: ${errorText(err)}`, { cluster, error: errorFields(err) });
    }
  }

  /** One scheduled run: skipped while the cluster is busy; retention after a completed backup. */
  private async run(name: string, trigger: BackupTrigger, occurrence: Date): Promise<void> {
    const { state } = this;
    if (this.stopped || state.shutdown.aborted) return;
    const cluster = state.config.clusters.find((c) => c.name === name);
    if (cluster === undefined) return;
    if (this.claimed.has(name) || state.locks.isLocked(name)) {
      state.logger.info(`cluster "${name}": scheduled backup of ${occurrence.toISOString()} skipped: a backup of it is running`, { cluster: name });
      return;
    }
    this.claimed.add(name);
    let completed: number;
    try {
      await this.remember(name, occurrence, new Date());
      ({ completed } = await runClusterBackups(state, [name], 1, trigger, state.shutdown));
    } finally {
      this.claimed.delete(name);
    }
    if (completed === 0 || state.shutdown.aborted) return;
    await state.activity.during('expire', async () => {
      try {
        const plan = await expireCluster(state.config.repository, name, {
          retention: cluster.retention,
          inUse: (id) => state.inUse.has(`${name}/${id}`),
        });
        if (plan.remove.length > 0) {
          state.logger.info(`cluster "${name}": expired ${plan.remove.map((b) => b.metadata.id).join(', ')}`, { cluster: name });
        }
      } catch (err) {
        state.logger.error(`cluster "${name}": retention after the scheduled backup failed: ${errorText(err)}${originSuffix(err)}`, { cluster: name, error: errorFields(err) });
      }
    });
  }

  /** Stops every job; a run under way ends through the daemon's shutdown signal. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) job.cron.stop();
    this.jobs.clear();
    await Promise.allSettled([...this.running]);
  }
}
