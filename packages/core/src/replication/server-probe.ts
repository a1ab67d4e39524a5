/**
 * What `pgfleet check` asks of a server over the replication protocol, as the role a backup
 * uses: can it connect for replication (IDENTIFY_SYSTEM), its wal_level and max_wal_senders,
 * and whether a second walsender is free while the first is held (a backup with -X stream
 * needs two at once). Only replication commands are used, so the check needs exactly the
 * rights a backup needs. A failure to connect at all is thrown (the catalogue error of
 * ReplicationConnection.connect, naming the server with a HINT).
 */
import { ReplicationConnection } from './connection.js';
import type { ReplicationConnectOptions } from './connection-options.js';

export interface ServerProbe {
  /** "host:port" or the socket, as messages name the server. */
  target: string;
  serverVersion: string;
  systemIdentifier: string;
  timeline: number;
  walLevel: string;
  maxWalSenders: number;
  /** Whether a second replication connection was accepted while the first was open; why not. */
  secondSender: { ok: true } | { ok: false; reason: string };
}

export async function probeReplicationServer(options: ReplicationConnectOptions): Promise<ServerProbe> {
  const first = await ReplicationConnection.connect(options);
  try {
    const system = await first.identifySystem();
    const walLevel = await first.show('wal_level');
    const maxWalSenders = Number(await first.show('max_wal_senders'));
    let secondSender: ServerProbe['secondSender'];
    try {
      const second = await ReplicationConnection.connect(options);
      await second.close();
      secondSender = { ok: true };
    } catch (err) {
      secondSender = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    return {
      target: first.target, serverVersion: first.serverVersion, systemIdentifier: system.systemId, timeline: system.timeline,
      walLevel, maxWalSenders, secondSender,
    };
  } finally {
    await first.close();
  }
}
