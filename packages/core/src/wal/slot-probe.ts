/**
 * What a continuous archive checks on its server before and while it streams, over an ordinary
 * SQL connection (a physical walsender runs no SQL): wal_level, WAL senders and replication
 * slots in use against their limits, max_slot_wal_keep_size, and how many bytes of WAL the
 * archive's slot keeps on the server (pg_current_wal_lsn() - restart_lsn; on a standby, the
 * receive position). The connection is made from the same libpq keywords as the replication
 * connection, to database "postgres" unless one is named. A probe that cannot connect or query
 * says so in `problem`: the archive streams anyway, the preflight is advice.
 *
 * preflightWarnings() turns a probe into the warnings an operator should act on:
 *   wal_level "minimal": nothing can be streamed;
 *   no WAL sender or replication slot left (the archive's own already counted);
 *   max_slot_wal_keep_size unset (-1): an archive outage keeps WAL until the server's disk is full.
 *
 * prepareArchiveSlot() sets up a continuous archive's slot with it: created when missing, dropped
 * and created again when the probe finds it invalidated (wal_status "lost").
 */

import type pg from 'pg';
import { loadPg } from '../replication/pg-module.js';
import { ServerError } from '../errors.js';
import type { ReplicationConnection } from '../replication/connection.js';
import { resolveConnectParams, type ReplicationConnectParams } from '../replication/connection-options.js';

/**
 * The no-progress deadline of a continuous archive's replication connection: the configured one,
 * but never more than PostgreSQL's own wal_receiver_timeout default (60 s). A quiet but healthy
 * server answers the stream's idle probes with keepalives, so only a server or network that
 * stopped answering reaches it; a longer deadline (a backup's is 10 minutes) would leave a hung
 * stream looking healthy, its lag frozen at the last position the server reported, that long.
 */
export function archiveStreamDeadlineMs(configuredMs: number): number {
  return configuredMs > 0 ? Math.min(configuredMs, ARCHIVE_STREAM_DEADLINE_MS) : ARCHIVE_STREAM_DEADLINE_MS;
}

const ARCHIVE_STREAM_DEADLINE_MS = 60_000;

export interface WalServerProbe {
  walLevel: string | null;
  maxWalSenders: number | null;
  usedWalSenders: number | null;
  maxReplicationSlots: number | null;
  usedReplicationSlots: number | null;
  /** As SHOW prints it ("-1", "10GB"); null before 13. */
  maxSlotWalKeepSize: string | null;
  /** Whether the slot exists; null when unknown. */
  slotExists: boolean | null;
  /** Bytes of WAL the slot keeps on the server; null when unknown (no slot, no restart_lsn). */
  slotRetainedBytes: bigint | null;
  /** pg_replication_slots.wal_status ("reserved", "extended", "unreserved", "lost"); null when unknown. */
  slotWalStatus: string | null;
  /** Why the probe is incomplete; null when it worked. */
  problem: string | null;
}

const EMPTY: Omit<WalServerProbe, 'problem'> = {
  walLevel: null, maxWalSenders: null, usedWalSenders: null, maxReplicationSlots: null, usedReplicationSlots: null,
  maxSlotWalKeepSize: null, slotExists: null, slotRetainedBytes: null, slotWalStatus: null,
};

function clientConfig(options: ReplicationConnectParams): pg.ClientConfig {
  const p = resolveConnectParams(options);
  return {
    host: p.connectHost,
    port: p.port,
    user: p.user,
    database: p.explicit['dbname'] !== undefined && p.explicit['dbname'] !== 'replication' ? p.dbname : 'postgres',
    ...(p.password !== null ? { password: p.password } : {}),
    ssl: p.isSocket || p.sslmode === 'disable' || p.sslmode === 'allow' || p.sslmode === 'prefer' ? false : { rejectUnauthorized: p.sslmode === 'verify-full' || p.sslmode === 'verify-ca' },
    application_name: 'pgfleet wal probe',
    connectionTimeoutMillis: 10_000,
    statement_timeout: 10_000,
  };
}

/** Probes the server (see the module comment); never throws. */
export async function probeWalServer(options: ReplicationConnectParams, slot: string | null): Promise<WalServerProbe> {
  let client: pg.Client;
  try {
    client = new (loadPg().Client)(clientConfig(options));
  } catch (err) {
    return { ...EMPTY, problem: err instanceof Error ? err.message : String(err) };
  }
  client.on('error', () => undefined);
  try {
    await client.connect();
    const settings = await client.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_wal_senders', 'max_replication_slots', 'max_slot_wal_keep_size')");
    const setting = (name: string): string | null => settings.rows.find((r) => r.name === name)?.setting ?? null;
    const counts = await client.query<{ senders: string; slots: string }>(
      'SELECT (SELECT count(*) FROM pg_stat_replication)::text AS senders, (SELECT count(*) FROM pg_replication_slots)::text AS slots');
    let slotExists: boolean | null = null;
    let retained: bigint | null = null;
    let walStatus: string | null = null;
    if (slot !== null) {
      const r = await client.query<{ retained: string | null; wal_status: string | null }>(
        `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END - restart_lsn)::text AS retained,
                wal_status
           FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
      slotExists = r.rows.length > 0;
      walStatus = r.rows[0]?.wal_status ?? null;
      const text = r.rows[0]?.retained ?? null;
      retained = text === null ? null : BigInt(text.replace(/\..*$/, ''));
    }
    const keep = setting('max_slot_wal_keep_size');
    return {
      walLevel: setting('wal_level'),
      maxWalSenders: numberOrNull(setting('max_wal_senders')),
      usedWalSenders: numberOrNull(counts.rows[0]?.senders ?? null),
      maxReplicationSlots: numberOrNull(setting('max_replication_slots')),
      usedReplicationSlots: numberOrNull(counts.rows[0]?.slots ?? null),
      // pg_settings gives megabytes; -1 is "unlimited".
      maxSlotWalKeepSize: keep === null ? null : keep === '-1' ? '-1' : `${keep}MB`,
      slotExists,
      slotRetainedBytes: retained,
      slotWalStatus: walStatus,
      problem: null,
    };
  } catch (err) {
    return { ...EMPTY, problem: err instanceof Error ? err.message : String(err) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

function numberOrNull(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/**
 * The warnings a probe calls for. `streaming`: the archive's own WAL sender is connected (and
 * counted in usedWalSenders); its slot, when it exists, is counted in the slots in use.
 */
export function preflightWarnings(probe: WalServerProbe, options: { streaming: boolean }): string[] {
  const out: string[] = [];
  if (probe.problem !== null) out.push(`could not check the server's replication settings: ${probe.problem}`);
  if (probe.walLevel === 'minimal') out.push('wal_level is "minimal": the server writes too little WAL to archive; set wal_level = replica and restart it');
  if (probe.maxWalSenders !== null && probe.usedWalSenders !== null) {
    const free = probe.maxWalSenders - probe.usedWalSenders;
    if (free <= 0 && !options.streaming) out.push(`no WAL sender is free (max_wal_senders = ${probe.maxWalSenders}, all in use)`);
    else if (free <= 0) out.push(`no WAL sender is left for backups or standbys (max_wal_senders = ${probe.maxWalSenders}, all in use)`);
  }
  if (probe.maxReplicationSlots !== null && probe.usedReplicationSlots !== null && probe.slotExists !== true &&
    probe.usedReplicationSlots >= probe.maxReplicationSlots) {
    out.push(`no replication slot is free (max_replication_slots = ${probe.maxReplicationSlots}, all in use)`);
  }
  if (probe.maxSlotWalKeepSize === '-1') {
    out.push('max_slot_wal_keep_size is unset (-1): if the archive stops acknowledging, the slot keeps WAL until the server\'s disk is full; set a limit larger than the longest archive outage you accept');
  }
  return out;
}

/** What prepareArchiveSlot() did and found. */
export interface ArchiveSlot {
  /** The slot was created (it was missing, or lost and created again). */
  created: boolean;
  /** The slot existed but the server had invalidated it (wal_status "lost"): it was dropped and created again. */
  recreatedLost: boolean;
  /** The probe of the server, after the slot was set up. */
  probe: WalServerProbe;
  /** The preflight warnings, with one about the lost slot when there was one. */
  warnings: string[];
}

/**
 * A continuous archive's slot before it streams: created when missing (RESERVE_WAL); when the
 * server has invalidated it (wal_status "lost": it held more than max_slot_wal_keep_size), it
 * is useless for good (18 refuses to stream from it, older servers stream without keeping
 * anything), so it is dropped and created again, reserving WAL from the server's current
 * redo point. Whatever the archive misses from before that is the server's error to report
 * when streaming asks for it (wal-removed.ts). `probeOptions` are the SQL probe's keywords;
 * without SQL access the lost state goes unseen and only that error tells.
 */
export async function prepareArchiveSlot(conn: ReplicationConnection, slot: string, probeOptions: ReplicationConnectParams): Promise<ArchiveSlot> {
  let created = await ensurePhysicalSlot(conn, slot);
  let probe = await probeWalServer(probeOptions, slot);
  let recreatedLost = false;
  if (probe.slotWalStatus === 'lost') {
    await conn.dropReplicationSlot(slot);
    await conn.createReplicationSlot(slot, { temporary: false, reserveWal: true });
    created = true;
    recreatedLost = true;
    probe = await probeWalServer(probeOptions, slot);
  }
  const warnings = preflightWarnings(probe, { streaming: false });
  if (recreatedLost) {
    warnings.unshift(`replication slot "${slot}" had been invalidated by the server (wal_status "lost": it retained more than max_slot_wal_keep_size); it was dropped and created again`);
  }
  return { created, recreatedLost, probe, warnings };
}

/** Creates the archive's physical slot (RESERVE_WAL) unless it exists; true when it was created. */
export async function ensurePhysicalSlot(conn: ReplicationConnection, slot: string): Promise<boolean> {
  try {
    await conn.createReplicationSlot(slot, { temporary: false, reserveWal: true });
    return true;
  } catch (err) {
    if (err instanceof ServerError && err.sqlState === '42710') return false;
    throw err;
  }
}
