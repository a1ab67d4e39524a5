/**
 * Bringing the committed copy up as its mode asks (with `start`): pg_ctl start as the owner,
 * wait until it accepts connections (promote: until it has left recovery, then drop the
 * promote settings; standby: until its WAL receiver streams from the primary,
 * followTimeoutSeconds at most), and report what the server says. All of it within one
 * deadline (startTimeoutSeconds); a failure here leaves the restored files (and a server that
 * did come up) in place and says why. The caller undoes the restore when the signal aborts.
 */

import { REPORT_TIMEOUT_MS, reportInstanceAs, type InstanceReport } from '../instance/report.js';
import { installationFor } from '../instance/pg-install.js';
import { startInstance } from '../instance/start.js';
import { readPostmasterPid } from '../instance/status.js';
import { waitForPromotion, waitForStreaming } from '../instance/wait.js';
import type { RestoreContext } from './context.js';
import { removePromoteBlock } from './recovery.js';

/** standby --start: how long the WAL receiver may take to stream from the primary, by default. */
const DEFAULT_FOLLOW_SECONDS = 30;

export interface StartedInstanceReport extends InstanceReport {
  dataDir: string;
  pid: number;
  port: number;
  socketDir: string;
  logFile: string;
}

export class BringUp {
  /** Date.now() just before pg_ctl start was run (a postmaster may exist even if it did not return); null before. */
  startedAt: number | null = null;

  constructor(private readonly ctx: RestoreContext) {}

  async run(): Promise<StartedInstanceReport> {
    const { ctx } = this;
    const o = ctx.options;
    const signal = o.signal;
    ctx.checkCancelled();
    const installation = ctx.installation ?? (await installationFor(ctx.major ?? 0, o.pgBin ?? []));
    ctx.installation = installation;
    const timeout = o.startTimeoutSeconds ?? 300;
    const deadline = Date.now() + timeout * 1000;
    ctx.phase('start');
    this.startedAt = Date.now();
    const started = await startInstance({
      dataDir: ctx.dataDir, binDir: installation.binDir, owner: ctx.owner,
      port: o.port ?? null, socketDir: o.socketDir ?? null, timeoutSeconds: timeout, ...(signal ? { signal } : {}),
    });
    const target = {
      socketDir: started.socketDir, port: started.port,
      user: o.connectUser || process.env['PGUSER'] || ctx.owner.name,
    };
    const base = { dataDir: ctx.dataDir, owner: ctx.owner, target, logFile: started.logFile, ...(signal ? { signal } : {}) };
    let report: InstanceReport;
    if (o.mode === 'promote') {
      // A point-in-time target with action pause stays in recovery there, its settings in place.
      const paused = o.pointInTime?.target.action === 'pause' && o.pointInTime.target.kind !== 'latest';
      report = await waitForPromotion({ ...base, deadline, timeoutSeconds: timeout, paused, started: true });
      if (!paused) await removePromoteBlock(ctx.dataDir);
    } else if (o.mode === 'standby' && (o.followTimeoutSeconds ?? DEFAULT_FOLLOW_SECONDS) > 0) {
      // A standby that does not follow its primary is not what was asked for, whatever its state.
      report = await waitForStreaming({
        ...base, deadline: Math.min(deadline, Date.now() + (o.followTimeoutSeconds ?? DEFAULT_FOLLOW_SECONDS) * 1000),
      });
      if (report.walReceiver?.status === null) {
        ctx.warn(`role "${target.user}" may not see the WAL receiver's status (pg_read_all_stats): whether the standby streams from its primary was not checked`);
      }
    } else {
      report = await reportInstanceAs(ctx.owner, target, {
        dataDir: ctx.dataDir, timeoutMs: Math.max(1000, Math.min(deadline - Date.now(), REPORT_TIMEOUT_MS)), ...(signal ? { signal } : {}),
      });
    }
    const pid = (await readPostmasterPid(ctx.dataDir))?.pid ?? 0;
    return { ...report, dataDir: ctx.dataDir, pid, port: started.port, socketDir: started.socketDir, logFile: started.logFile };
  }
}
