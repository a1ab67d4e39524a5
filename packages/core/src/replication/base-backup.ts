/**
 * Receives a BASE_BACKUP response, of either protocol generation, and turns it into the calls
 * of base-backup-events.ts (onStart; per archive onArchiveStart, onArchiveData, onArchiveEnd;
 * the manifest; onEnd).
 * The command has already been sent; this reads up to ReadyForQuery.
 *
 * Legacy servers (<= 14): start-position and tablespace result sets, then one CopyOut of raw tar
 * per tablespace row in row order (the main directory is the last row), then, if a manifest was
 * requested, one more CopyOut with the manifest, then the end-position result set. Those tars
 * lack the two zero blocks that end an archive, so each archive gets them appended here and a
 * handler always sees a terminated tar. Progress is counted here (archive bytes received).
 *
 * Current servers (>= 15): the same two result sets, then ONE CopyOut whose CopyData payloads
 * carry 'n'/'d'/'p'/'m' messages (base-backup-stream.ts), then the end-position result set.
 * The server names the archives and terminates them itself.
 *
 * Every handler call is awaited before the next message is read: that is the backpressure.
 * ErrorResponses become ServerErrors worded as pg_basebackup words them for each phase.
 */

import { ProtocolError } from '../errors.js';
import type { BackendMessage } from './backend-message.js';
import type {
  BackupEnd, BackupStart, BaseBackupHandler, TablespaceInfo,
} from './base-backup-events.js';
import { BaseBackupStreamState, decodeBaseBackupMessage } from './base-backup-stream.js';
import type { ReplicationSyntax } from './base-backup-command.js';
import {
  readResultSet, ServerErrorReceived, textValue, unexpectedMessage,
  type CommandContext, type ProtocolIo, type ResultSet,
} from './protocol-io.js';

/** What BASE_BACKUP produced, besides the handler calls. */
export interface BaseBackupCommandResult {
  start: BackupStart;
  end: BackupEnd;
  /** Archive names in the order they arrived. */
  archives: string[];
  /** Whether the server sent a manifest. */
  manifest: boolean;
}

/** The end-of-archive the <= 14 servers leave out (two 512-byte zero blocks). */
const END_OF_ARCHIVE_BYTES = 1024;

function positionRow(set: ResultSet, what: string): { lsn: string; timeline: number } {
  const row = set.rows[0];
  if (set.rows.length !== 1 || row === undefined || set.fields.length < 2) {
    throw new ProtocolError(`${what}: got ${set.rows.length} rows and ${set.fields.length} fields, expected 1 rows and 2 fields`);
  }
  const lsn = textValue(row, 0);
  const tli = Number(textValue(row, 1));
  if (lsn === null || !/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(lsn) || !Number.isInteger(tli) || tli < 1) {
    throw new ProtocolError(`${what}: invalid position "${lsn ?? ''}" on timeline "${textValue(row, 1) ?? ''}"`);
  }
  return { lsn, timeline: tli };
}

function tablespaceRows(set: ResultSet): TablespaceInfo[] {
  if (set.fields.length < 3) {
    throw new ProtocolError(`could not get backup header: got ${set.fields.length} fields, expected 3`);
  }
  return set.rows.map((row) => {
    const oidText = textValue(row, 0);
    const sizeText = textValue(row, 2);
    const oid = oidText === null ? null : Number(oidText);
    if (oid !== null && (!Number.isInteger(oid) || oid <= 0)) {
      throw new ProtocolError(`could not get backup header: invalid tablespace OID "${oidText}"`);
    }
    const sizeKb = sizeText === null ? null : Number(sizeText);
    if (sizeKb !== null && (!Number.isFinite(sizeKb) || sizeKb < 0)) {
      throw new ProtocolError(`could not get backup header: invalid tablespace size "${sizeText}"`);
    }
    return { oid, location: textValue(row, 1), sizeEstimate: sizeKb === null ? null : sizeKb * 1024 };
  });
}

/** Reads the BASE_BACKUP response; the handler receives everything; returns at ReadyForQuery. */
export async function receiveBaseBackup(io: ProtocolIo, syntax: ReplicationSyntax, handler: BaseBackupHandler,
  context: CommandContext): Promise<BaseBackupCommandResult> {
  context.prefix = 'could not initiate base backup';
  const startPosition = positionRow(await readResultSet(io, 'starting the base backup'), 'could not initiate base backup');
  context.prefix = 'could not get backup header';
  const tablespaces = tablespaceRows(await readResultSet(io, 'reading the backup header'));
  if (tablespaces.length === 0 || tablespaces[tablespaces.length - 1]?.oid !== null) {
    throw new ProtocolError('could not get backup header: the main data directory is not the last tablespace');
  }
  const start: BackupStart = { startLsn: startPosition.lsn, timeline: startPosition.timeline, tablespaces };
  await handler.onStart(start);

  context.prefix = 'could not read COPY data';
  const received = syntax === 'legacy'
    ? await receiveLegacyArchives(io, tablespaces, handler)
    : await receiveArchiveStream(io, tablespaces, handler);

  context.prefix = 'could not get write-ahead log end position from server';
  const endPosition = positionRow(await readResultSet(io, 'reading the backup end position', received.next),
    'could not get write-ahead log end position from server');
  const end: BackupEnd = { endLsn: endPosition.lsn, timeline: endPosition.timeline };
  // As soon as the server says it: a data checksum failure (below) comes after it.
  await handler.onEnd(end);

  context.prefix = 'final receive failed';
  for (;;) {
    const m = await io.receive();
    if (m.kind === 'commandComplete') continue;
    if (m.kind === 'readyForQuery') break;
    if (m.kind === 'errorResponse') {
      // A data checksum failure is reported only now, after all data arrived.
      if (m.notice.sqlState === 'XX001') context.prefix = 'checksum error occurred';
      throw new ServerErrorReceived(m.notice);
    }
    throw unexpectedMessage(m, 'finishing the base backup');
  }
  return { start, end, archives: received.archives, manifest: received.manifest };
}

interface ReceivedArchives {
  archives: string[];
  manifest: boolean;
  /** The message after the archives (the end-position RowDescription, or an ErrorResponse
   * that belongs to that phase), already read. */
  next: BackendMessage;
}

async function expectCopyOut(io: ProtocolIo, doing: string): Promise<void> {
  const m = await io.receive();
  if (m.kind === 'copyOutResponse') return;
  if (m.kind === 'errorResponse') throw new ServerErrorReceived(m.notice);
  throw unexpectedMessage(m, doing);
}

/**
 * Calls `onData` for each CopyData until CopyDone. Awaiting each call is the backpressure.
 */
async function pumpCopyOut(io: ProtocolIo, doing: string, onData: (data: Buffer) => void | Promise<void>): Promise<void> {
  for (;;) {
    const m = await io.receive();
    if (m.kind === 'copyData') {
      await onData(m.data);
    } else if (m.kind === 'copyDone') {
      return;
    } else if (m.kind === 'errorResponse') {
      throw new ServerErrorReceived(m.notice);
    } else {
      throw unexpectedMessage(m, doing);
    }
  }
}

async function receiveLegacyArchives(io: ProtocolIo, tablespaces: TablespaceInfo[],
  handler: BaseBackupHandler): Promise<ReceivedArchives> {
  const archives: string[] = [];
  let done = 0;
  for (const ts of tablespaces) {
    const name = ts.oid === null ? 'base.tar' : `${ts.oid}.tar`;
    await expectCopyOut(io, `waiting for archive "${name}"`);
    archives.push(name);
    await handler.onArchiveStart(name, ts);
    await pumpCopyOut(io, `receiving archive "${name}"`, async (data) => {
      await handler.onArchiveData(data);
      done += data.length;
      handler.onProgress(done);
    });
    await handler.onArchiveData(Buffer.alloc(END_OF_ARCHIVE_BYTES));
    await handler.onArchiveEnd();
  }
  // A manifest, if one was requested, comes as one more CopyOut; otherwise the end position.
  let next = await io.receive();
  let manifest = false;
  if (next.kind === 'copyOutResponse') {
    manifest = true;
    await handler.onManifestStart();
    await pumpCopyOut(io, 'receiving the backup manifest', (data) => handler.onManifestData(data));
    await handler.onManifestEnd();
    next = await io.receive();
  }
  return { archives, manifest, next };
}

function tablespaceFor(tablespaces: TablespaceInfo[], name: string, path: string): TablespaceInfo {
  if (path === '') {
    const base = tablespaces.find((t) => t.oid === null);
    if (base !== undefined) return base;
  }
  const byPath = tablespaces.find((t) => t.oid !== null && t.location === path);
  if (byPath !== undefined) return byPath;
  const oid = /^(\d+)\.tar/.exec(name)?.[1];
  const byOid = oid === undefined ? undefined : tablespaces.find((t) => t.oid === Number(oid));
  if (byOid !== undefined) return byOid;
  throw new ProtocolError(`server sent archive "${name}" for tablespace "${path}", which is not in the backup header`);
}

async function receiveArchiveStream(io: ProtocolIo, tablespaces: TablespaceInfo[],
  handler: BaseBackupHandler): Promise<ReceivedArchives> {
  await expectCopyOut(io, 'waiting for the archive stream');
  const state = new BaseBackupStreamState();
  const archives: string[] = [];
  let manifest = false;
  await pumpCopyOut(io, 'receiving the archive stream', async (payload) => {
    const action = state.apply(decodeBaseBackupMessage(payload));
    switch (action.action) {
      case 'archive-data':
        await handler.onArchiveData(action.data);
        break;
      case 'progress':
        handler.onProgress(Number(action.bytesDone));
        break;
      case 'archive-start':
        if (action.endPrevious) await handler.onArchiveEnd();
        archives.push(action.name);
        await handler.onArchiveStart(action.name, tablespaceFor(tablespaces, action.name, action.tablespacePath));
        break;
      case 'manifest-start':
        if (action.endPrevious) await handler.onArchiveEnd();
        manifest = true;
        await handler.onManifestStart();
        break;
      case 'manifest-data':
        await handler.onManifestData(action.data);
        break;
    }
  });
  const { open } = state.finish();
  if (open === 'archive') await handler.onArchiveEnd();
  else if (open === 'manifest') await handler.onManifestEnd();
  if (archives.length !== tablespaces.length) {
    throw new ProtocolError(`server sent ${archives.length} archives for ${tablespaces.length} tablespaces`);
  }
  const next = await io.receive();
  return { archives, manifest, next };
}
