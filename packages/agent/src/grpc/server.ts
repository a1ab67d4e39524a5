/**
 * The agent's gRPC server (proto/pgfleet/v1/agent.proto): GetInfo, Restore, Instance, Backup
 * (backup.ts: a base backup of a local server streamed to the caller). Every directory a call
 * names must lie within the configuration's allowedRoots (NotAllowedError otherwise), and
 * restored files belong to its osUser. Every call passes @pgfleet/proto's call guard (the
 * client certificate's role, no throw escaping a handler); errors leave as a gRPC status plus
 * the catalogue metadata (@pgfleet/proto's error codec). A client of another protocol major
 * version is refused in GetInfo and Backup with IncompatibleVersionError.
 *
 * Restore reads the client's stream one message at a time (the engine's awaits are the
 * backpressure) and answers with the plan, progress and the report. A cancelled call aborts
 * the restore, which then removes everything it wrote. A cancelled Backup aborts runBaseBackup.
 *
 * stop(graceMs) is the agent's shutdown: it cancels every call in flight (Restore, Backup,
 * Instance) with the reason "shutdown", so that each undoes its work and ends with a
 * CancelledError saying the agent is shutting down; it then waits for them and for grpc's
 * tryShutdown, at most graceMs, after which it forces the server down (forceShutdown) and
 * reports what did not finish. Calls arriving while it stops are cancelled at once.
 */

import { lstat, readdir, readFile, readlink, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  CancelledError, InstanceError, InvalidOptionError, errorFields, errorText, maskConninfo, silentLog, type DaemonLog, type PeerPolicy,
} from '@pgfleet/core';
import {
  AGENT_PROTOCOL_VERSION, CHANNEL_OPTIONS, DaemonHealth, agentService, checkProtocolCompatibility, guardHandlers, peerInterceptor, readTlsFiles,
  widenReceiveWindows,
  serverCredentials, toServiceError,
  type AgentHandlers, type AgentInfo, type BackupEvent, type BackupRequest__Output, type DataDirectory, type InstanceRequest__Output,
  type InstanceStatus, type RecoveryMode__Output, type RestoreEvent, type RestoreReport, type RestoreRequest__Output,
  type RestoreSpec__Output, type WalStreamEvent, type WalStreamRequest__Output,
} from '@pgfleet/proto';
import type { AgentConfig } from '../config.js';
import type { RecoveryMode, TablespaceMapping } from '../restore/options.js';
import { resolveOwner } from '../instance/owner.js';
import { findInstallations, installationFor } from '../instance/pg-install.js';
import { reportInstanceAs, type InstanceReport } from '../instance/report.js';
import { restoreBackup, type RestoreReport as EngineReport } from '../restore/restore.js';
import { STAGING_PREFIX } from '../restore/staging.js';
import { outcomeToWire, pointInTimeFromSpec } from '../restore/targets.js';
import { startInstance } from '../instance/start.js';
import { readPostmasterPid } from '../instance/status.js';
import { stopInstance } from '../instance/stop.js';
import { canonicalPath, checkAllowed } from '../policy/allowed-roots.js';
import { AGENT_VERSION } from '../version.js';
import { untilAborted } from './abortable.js';
import { checkServer } from './check-server.js';
import { checkBackupRequest, checkCheckServerRequest, checkGetInfoRequest, checkInstanceRequest, checkRestoreSpec } from './request-limits.js';
import { serveBackupCall } from './backup.js';
import { serveStreamWalCall } from './stream-wal.js';
import { StreamBackupSource, clientSilent } from './stream-source.js';

export const CAPABILITIES = ['restore', 'restore-tar', 'restore-gzip', 'restore-lz4', 'restore-zstd', 'instance', 'verify-manifest', 'backup', 'check-server', 'wal-stream'];

const MODES: Record<RecoveryMode__Output, RecoveryMode | null> = {
  RECOVERY_MODE_UNSPECIFIED: null,
  RECOVERY_MODE_NONE: 'none',
  RECOVERY_MODE_STANDBY: 'standby',
  RECOVERY_MODE_PROMOTE: 'promote',
};

export interface AgentServerOptions {
  /** One line per call and per failure (default: nothing); a function gets every line, whatever its level. */
  log?: DaemonLog | ((line: string) => void);
  /** The protocol version announced and checked (default AGENT_PROTOCOL_VERSION; other values only to test negotiation). */
  protocolVersion?: string;
}

/** How to mend TLS files that cannot be read. */
export const TLS_FILES_HINT = 'Make them with "pgfleet-agent certs" or "pgfleet certs init", or fix the path in the configuration.';

/** stop()'s default grace period. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/** The AbortSignal reason of calls cancelled by stop(). */
const SHUTDOWN = 'shutdown';

/** What stop() did: the calls it cancelled, and those still running when it forced the end. */
export interface ShutdownSummary {
  cancelled: string[];
  unfinished: string[];
  /** The grace period ran out and the server was forced down. */
  forced: boolean;
}

/** Checks a client's "MAJOR.MINOR" against `ours` (@pgfleet/proto's one rule); empty means "did not say". */
export function checkClientProtocol(ours: string, theirs: string, client: string): void {
  if (theirs === '') return;
  checkProtocolCompatibility(ours, theirs, { peer: `client "${client}"`, self: 'agent' });
}

function absolute(p: string, what: string): string {
  if (!path.isAbsolute(p)) throw new InvalidOptionError(`${what} "${p}" is not an absolute path`);
  return path.resolve(p);
}

export function instanceStatusOf(dataDir: string, pid: number, port: number, socketDir: string, r: InstanceReport | null): InstanceStatus {
  return {
    dataDir, running: true, pid, port, socketDir,
    serverVersion: r?.serverVersion ?? '',
    inRecovery: r?.inRecovery ?? false,
    recoveryState: r?.recoveryState ?? '',
    timeline: r?.timeline ?? 0,
    tablespaces: r?.tablespaces.map((t) => ({ name: t.name, oid: t.oid, location: t.location })) ?? [],
    walReceiver: r?.walReceiver
      ? { status: r.walReceiver.status ?? '', senderHost: r.walReceiver.senderHost, senderPort: r.walReceiver.senderPort }
      : null,
  };
}

export function reportToWire(r: EngineReport): RestoreReport {
  return {
    dataDir: r.dataDir,
    mode: r.mode,
    major: r.major,
    tablespaces: r.tablespaces,
    walDir: r.walDir ?? '',
    verify: { verified: r.verify.verified, filesChecked: r.verify.filesChecked, checksumAlgorithm: r.verify.checksumAlgorithm ?? '' },
    bytes: String(r.bytes),
    durationMs: String(r.durationMs),
    warnings: r.warnings,
    instance: r.instance ? instanceStatusOf(r.instance.dataDir, r.instance.pid, r.instance.port, r.instance.socketDir, r.instance) : null,
    pointInTime: outcomeToWire(r.pointInTime, 0),
  };
}

/** The agent answers the controller only (see call-guard.ts). */
export function agentPeerPolicy(config: AgentConfig): PeerPolicy | null {
  if (config.tls === null) return null;
  return {
    self: 'agent',
    accept: ['controller'],
    allowedClients: config.tls.allowedClients ?? null,
    allowedClientsSource: `tls.allowedClients in "${config.source}"`,
    roleHint: 'Only the pgfleet controller calls agents: use its certificate (controller.crt of "pgfleet certs init" or "pgfleet-agent certs"), or go through the controller.',
  };
}

export class AgentServer {
  private readonly server: grpc.Server;
  /** Calls in flight and what they are doing (for the shutdown's log lines). */
  private readonly running = new Map<AbortController, string>();
  private idleWaiters: Array<() => void> = [];
  private stopping = false;
  private boundPort = 0;
  private readonly log: DaemonLog;
  private readonly protocolVersion: string;
  /** grpc.health.v1: SERVING between the bind and the start of stop(). */
  private readonly health = new DaemonHealth('pgfleet.v1.Agent');

  private constructor(private readonly config: AgentConfig, options: AgentServerOptions) {
    const { log } = options;
    this.log = typeof log === 'function' ? { debug: log, info: log, warn: log, error: log } : log ?? silentLog;
    this.protocolVersion = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
    this.server = new grpc.Server({
      ...CHANNEL_OPTIONS,
      interceptors: [peerInterceptor(agentPeerPolicy(config), (peer, err) => this.logFailure('call', peer, err))],
    });
  }

  /** Binds config.listen and starts serving. */
  static async start(config: AgentConfig, options: AgentServerOptions = {}): Promise<AgentServer> {
    const agent = new AgentServer(config, options);
    // Fail now, not at the first call, when osUser does not exist.
    resolveOwner(config.osUser);
    agent.server.addService(agentService(), guardHandlers(agent.handlers(), (method, peer, err) => agent.logFailure(method, peer, err)));
    agent.health.addTo(agent.server);
    const credentials = serverCredentials(config.tls === null ? null
      : await readTlsFiles(config.tls, TLS_FILES_HINT));
    agent.boundPort = await new Promise<number>((resolve, reject) => {
      agent.server.bindAsync(config.listen, credentials, (err, port) => (err ? reject(new InvalidOptionError(`could not listen on "${config.listen}": ${err.message}`, { cause: err })) : resolve(port)));
    });
    widenReceiveWindows(agent.server);
    agent.health.serving();
    return agent;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Descriptions of the calls in flight. */
  get calls(): string[] {
    return [...this.running.values()];
  }

  /**
   * Cancels every call in flight (each undoes its work and tells its client the agent is
   * shutting down), waits for them and for grpc's tryShutdown, and forces the server down after
   * `graceMs`. Logs what it cancelled and what did not finish.
   */
  async stop(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<ShutdownSummary> {
    this.stopping = true;
    this.health.notServing();
    const cancelled = this.calls;
    if (cancelled.length > 0) this.log.warn(`cancelling ${cancelled.length} call(s) in flight: ${cancelled.join('; ')}`);
    for (const c of this.running.keys()) c.abort(SHUTDOWN);
    const idle = new Promise<void>((resolve) => {
      if (this.running.size === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    const shutDown = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const forced = await Promise.race([
      Promise.all([idle, shutDown]).then(() => false),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), graceMs); }),
    ]);
    clearTimeout(timer);
    const unfinished = forced ? this.calls : [];
    if (forced) {
      this.log.error(`the grace period of ${Number((graceMs / 1000).toFixed(1))} s is over` +
        (unfinished.length > 0 ? `; abandoning ${unfinished.length} call(s) that did not finish: ${unfinished.join('; ')}` : '') +
        '; forcing the server down');
      this.server.forceShutdown();
    }
    return { cancelled, unfinished, forced };
  }

  /** Registers a call in flight; the controller is aborted by a client cancel or by stop(). */
  private track(description: string): AbortController {
    const controller = new AbortController();
    this.running.set(controller, description);
    if (this.stopping) controller.abort(SHUTDOWN);
    return controller;
  }

  private describe(controller: AbortController, description: string): void {
    if (this.running.has(controller)) this.running.set(controller, description);
  }

  private untrack(controller: AbortController): void {
    this.running.delete(controller);
    if (this.running.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** The error a call cancelled by stop() ends with; others pass unchanged. */
  private shutdownError(signal: AbortSignal, err: unknown, what: string, hint: string): unknown {
    if (signal.reason !== SHUTDOWN) return err;
    // A cancellation that could not be completed says so itself (with its own hint).
    if (err instanceof CancelledError && err.hint !== undefined) return err;
    return new CancelledError(`the agent is shutting down: ${what} was cancelled`, { cause: err, hint });
  }

  private handlers(): AgentHandlers {
    return {
      GetInfo: (call, callback) => {
        checkGetInfoRequest(call.request);
        this.getInfo(call.request.protocolVersion, call.request.client || call.getPeer()).then(
          (info) => callback(null, info),
          (err: unknown) => callback(this.fail('GetInfo', call.getPeer(), err)),
        );
      },
      Instance: (call, callback) => {
        const peer = call.getPeer();
        const req = call.request;
        checkInstanceRequest(req);
        const controller = this.track(`Instance ${req.action.replace(/^ACTION_/, '')} from ${peer} on "${req.dataDir}"`);
        call.on('cancelled', () => controller.abort('client'));
        this.instance(req, controller.signal).then(
          (status) => callback(null, status),
          (err: unknown) => callback(this.fail('Instance', peer, this.shutdownError(controller.signal, err,
            `the instance call on "${req.dataDir}" (${req.action})`, 'The instance was left as it was at that moment; ask for its status once the agent is back.'))),
        ).finally(() => this.untrack(controller));
      },
      Restore: (call) => this.restore(call),
      Backup: (call) => this.backup(call),
      CheckServer: (call, callback) => {
        checkCheckServerRequest(call.request);
        checkServer(call.request, this.config).then(
          (result) => callback(null, result),
          (err: unknown) => callback(this.fail('CheckServer', call.getPeer(), err)),
        );
      },
      StreamWal: (call) => this.streamWal(call),
    };
  }

  private logFailure(method: string, peer: string, err: unknown): void {
    this.log.error(`${method} from ${peer} failed: ${errorText(err)}`, { method, peer, error: errorFields(err) });
  }

  private fail(method: string, peer: string, err: unknown): grpc.ServiceError {
    this.logFailure(method, peer, err);
    return toServiceError(err) as grpc.ServiceError;
  }

  // ---- GetInfo ------------------------------------------------------------------------------

  private async getInfo(protocolVersion: string, client: string): Promise<AgentInfo> {
    checkClientProtocol(this.protocolVersion, protocolVersion, client);
    const installations = await findInstallations(this.config.pgBin);
    const dataDirectories: DataDirectory[] = [];
    for (const root of this.config.allowedRoots) await this.findDataDirectories(root, 3, dataDirectories);
    const diskSpace = [];
    for (const root of this.config.allowedRoots) {
      try {
        const s = await statfs(root);
        diskSpace.push({ path: root, totalBytes: String(s.blocks * s.bsize), availableBytes: String(s.bavail * s.bsize) });
      } catch {
        diskSpace.push({ path: root, totalBytes: '0', availableBytes: '0' });
      }
    }
    return {
      agentVersion: AGENT_VERSION,
      protocolVersion: this.protocolVersion,
      hostname: os.hostname(),
      capabilities: CAPABILITIES,
      postgres: installations.map((i) => ({ major: i.major, version: i.version, binDir: i.binDir })),
      dataDirectories,
      diskSpace,
      allowedRoots: this.config.allowedRoots,
      osUser: this.config.osUser,
    };
  }

  private async findDataDirectories(dir: string, depth: number, out: DataDirectory[]): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    if (names.includes('PG_VERSION') && names.includes('global')) {
      const major = Number.parseInt(await readFile(path.join(dir, 'PG_VERSION'), 'utf8').catch(() => ''), 10) || 0;
      const pm = await readPostmasterPid(dir).catch(() => null);
      const tablespaces = [];
      for (const oid of await readdir(path.join(dir, 'pg_tblspc')).catch(() => [] as string[])) {
        const location = await readlink(path.join(dir, 'pg_tblspc', oid)).catch(() => null);
        if (location !== null) tablespaces.push({ name: '', oid: Number(oid), location });
      }
      out.push({ path: dir, major, running: pm?.alive ?? false, pid: pm?.alive ? pm.pid : 0, port: pm?.alive ? pm.port : 0, tablespaces });
      return;
    }
    if (depth === 0) return;
    for (const name of names.sort()) {
      if (name.startsWith(STAGING_PREFIX)) continue;
      const p = path.join(dir, name);
      const st = await lstat(p).catch(() => null);
      if (st?.isDirectory()) await this.findDataDirectories(p, depth - 1, out);
    }
  }

  // ---- Restore ------------------------------------------------------------------------------

  private async restore(call: grpc.ServerDuplexStream<RestoreRequest__Output, RestoreEvent>): Promise<void> {
    const peer = call.getPeer();
    const controller = this.track(`Restore from ${peer}`);
    call.on('cancelled', () => controller.abort('client'));
    // Not call[Symbol.asyncIterator](): that destroys the whole duplex once the client's side
    // ends, and the report could then never be written.
    const messages = call.iterator({ destroyOnReturn: false }) as AsyncIterator<RestoreRequest__Output>;
    const send = (event: RestoreEvent): void => {
      if (!call.cancelled && !call.writableEnded) call.write(event);
    };
    let target = '';
    try {
      const noProgressMs = this.config.noProgressTimeoutSeconds * 1000;
      const first = await untilAborted(messages.next(), controller.signal, () => new CancelledError('the restore was cancelled'),
        clientSilent(noProgressMs));
      if (first.done || first.value.item !== 'spec' || !first.value.spec) {
        throw new InvalidOptionError('a restore stream must start with its RestoreSpec');
      }
      const spec = first.value.spec;
      checkRestoreSpec(spec);
      target = spec.dataDir;
      this.describe(controller, `Restore from ${peer} into "${spec.dataDir}"`);
      this.log.info(`Restore from ${peer}: "${spec.dataDir}" (mode ${MODES[spec.mode] ?? 'not given'})`, { method: 'Restore', peer, dataDir: spec.dataDir });
      const options = await this.restoreOptions(spec);
      const source = new StreamBackupSource(spec.files, messages, `gRPC stream from ${peer}`, controller.signal, noProgressMs);
      const report = await restoreBackup(source, {
        ...options,
        signal: controller.signal,
        onEvent: (event) => {
          if (event.type === 'plan') send({ plan: { mode: event.mode, statement: event.statement, dataDir: event.dataDir } });
          else if (event.type === 'progress') {
            send({ progress: { phase: event.phase, file: event.file, bytesDone: String(event.bytesDone), bytesTotal: String(event.bytesTotal) } });
          }
        },
      });
      send({ report: reportToWire(report) });
      this.log.info(`Restore from ${peer}: "${report.dataDir}" restored`, { method: 'Restore', peer, dataDir: report.dataDir });
      call.end();
    } catch (caught) {
      const err = this.shutdownError(controller.signal, caught, target ? `the restore into "${target}"` : 'the restore',
        'The restore was undone and nothing of it is left; run it again once the agent is back.');
      if (!call.cancelled) call.emit('error', this.fail('Restore', peer, err));
      else this.log.warn(`Restore from ${peer}: cancelled by the client`, { method: 'Restore', peer });
    } finally {
      this.untrack(controller);
    }
  }

  private async restoreOptions(spec: RestoreSpec__Output): Promise<Parameters<typeof restoreBackup>[1]> {
    const mode = MODES[spec.mode];
    if (mode === null || mode === undefined) {
      throw new InvalidOptionError('no recovery mode given', { hint: 'Set RestoreSpec.mode to STANDBY, PROMOTE or NONE.' });
    }
    const mappings: TablespaceMapping[] = spec.tablespaceMappings.map((m) => ({
      oldDir: absolute(m.oldDir, 'tablespace mapping old directory'),
      newDir: absolute(m.newDir, 'tablespace mapping new directory'),
    }));
    let socketDir = this.config.socketDir;
    if (spec.socketDir) {
      socketDir = absolute(spec.socketDir, 'socket directory');
      checkAllowed({ path: await canonicalPath(socketDir), what: 'socket directory' }, this.config.allowedRoots);
    }
    return {
      dataDir: absolute(spec.dataDir, 'data directory'),
      tablespaceMappings: mappings,
      walDir: spec.walDir ? absolute(spec.walDir, 'WAL directory') : null,
      mode,
      primaryConninfo: spec.primaryConninfo || null,
      start: spec.start,
      port: spec.port || null,
      socketDir,
      owner: spec.owner || this.config.osUser,
      connectUser: spec.connectUser || this.config.connectUser,
      verify: !spec.skipVerify,
      ...(spec.startTimeoutSeconds ? { startTimeoutSeconds: spec.startTimeoutSeconds } : {}),
      pointInTime: pointInTimeFromSpec(spec.recoveryTarget, this.config.source),
      pgBin: this.config.pgBin,
      allowedRoots: this.config.allowedRoots,
    };
  }

  // ---- Backup (backup.ts) -------------------------------------------------------------------

  private async backup(call: grpc.ServerWritableStream<BackupRequest__Output, BackupEvent>): Promise<void> {
    const peer = call.getPeer();
    checkBackupRequest(call.request);
    const of = call.request.dataDir || maskConninfo(call.request.conninfo) || 'local server';
    const controller = this.track(`Backup from ${peer} of ${of}`);
    call.on('cancelled', () => controller.abort('client'));
    try {
      checkClientProtocol(this.protocolVersion, call.request.protocolVersion, peer);
      this.log.info(`Backup from ${peer}: ${of} (${call.request.label})`, { method: 'Backup', peer });
      await serveBackupCall(call, { config: this.config, log: (line) => this.log.info(`Backup from ${peer}: ${line}`, { method: 'Backup', peer }), signal: controller.signal });
    } catch (caught) {
      const err = this.shutdownError(controller.signal, caught, 'the backup',
        'The agent kept nothing of it; take the backup again once the agent is back.');
      if (!call.cancelled) call.emit('error', this.fail('Backup', peer, err));
      else this.log.warn(`Backup from ${peer}: cancelled by the client`, { method: 'Backup', peer });
    } finally {
      this.untrack(controller);
    }
  }

  // ---- StreamWal (stream-wal.ts) ------------------------------------------------------------

  private async streamWal(call: grpc.ServerDuplexStream<WalStreamRequest__Output, WalStreamEvent>): Promise<void> {
    const peer = call.getPeer();
    const controller = this.track(`StreamWal from ${peer}`);
    call.on('cancelled', () => controller.abort('client'));
    const log = (line: string): void => this.log.info(`StreamWal from ${peer}: ${line}`, { method: 'StreamWal', peer });
    try {
      await serveStreamWalCall(call, {
        config: this.config, log, signal: controller.signal,
        checkProtocol: (theirs) => checkClientProtocol(this.protocolVersion, theirs, peer),
      });
    } catch (caught) {
      const err = this.shutdownError(controller.signal, caught, 'the WAL stream',
        'The archive resumes streaming from where it stopped once the agent is back.');
      if (!call.cancelled) call.emit('error', this.fail('StreamWal', peer, err));
      else log('ended by the client');
    } finally {
      this.untrack(controller);
    }
  }

  // ---- Instance -----------------------------------------------------------------------------

  private async instance(req: InstanceRequest__Output, signal: AbortSignal): Promise<InstanceStatus> {
    const dataDir = await canonicalPath(absolute(req.dataDir, 'data directory'));
    checkAllowed({ path: dataDir, what: 'data directory' }, this.config.allowedRoots);
    const owner = resolveOwner(this.config.osUser);
    const user = req.connectUser || this.config.connectUser || owner.name;
    const majorOf = async (): Promise<number> => {
      const text = await readFile(path.join(dataDir, 'PG_VERSION'), 'utf8').catch(() => null);
      const major = Number.parseInt(text ?? '', 10);
      if (!Number.isInteger(major)) throw new InstanceError(`"${dataDir}" is not a data directory: it has no PG_VERSION`);
      return major;
    };
    const status = async (): Promise<InstanceStatus> => {
      const pm = await readPostmasterPid(dataDir);
      if (!pm?.alive) {
        return { dataDir, running: false, pid: 0, port: 0, socketDir: '', serverVersion: '', inRecovery: false, recoveryState: '', timeline: 0, tablespaces: [], walReceiver: null };
      }
      if (signal.aborted) throw new CancelledError(`the status of the instance in "${dataDir}" was cancelled`);
      const report = await reportInstanceAs(owner, { socketDir: pm.socketDir, port: pm.port, user }, { dataDir, signal }).catch((err: unknown) => {
        if (err instanceof CancelledError) throw err;
        return null;
      });
      return instanceStatusOf(dataDir, pm.pid, pm.port, pm.socketDir, report);
    };
    switch (req.action) {
      case 'ACTION_STATUS':
        await majorOf();
        return status();
      case 'ACTION_START': {
        const pm = await readPostmasterPid(dataDir);
        if (pm?.alive) throw new InstanceError(`an instance is already running in "${dataDir}" (pid ${pm.pid})`);
        const installation = await installationFor(await majorOf(), this.config.pgBin);
        let socketDir = this.config.socketDir;
        if (req.socketDir) {
          socketDir = absolute(req.socketDir, 'socket directory');
          checkAllowed({ path: await canonicalPath(socketDir), what: 'socket directory' }, this.config.allowedRoots);
        }
        await startInstance({ dataDir, binDir: installation.binDir, owner, port: req.port || null, socketDir, signal });
        return status();
      }
      case 'ACTION_STOP': {
        const installation = await installationFor(await majorOf(), this.config.pgBin);
        const pm = await readPostmasterPid(dataDir);
        if (pm?.alive) await stopInstance({ dataDir, binDir: installation.binDir, owner, signal });
        return status();
      }
      default:
        throw new InvalidOptionError('no instance action given', { hint: 'Set InstanceRequest.action to STATUS, START or STOP.' });
    }
  }
}
