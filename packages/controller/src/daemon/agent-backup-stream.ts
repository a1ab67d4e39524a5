/**
 * Receives an agent's Backup stream (proto/pgfleet/v1/BACKUP-RPC.md) into a staging directory.
 * Grammar enforced:  started ( file_begin data* file_end )* result  with progress anywhere
 * after started. Each file is written as it arrives and awaited chunk by chunk, so a slow disk
 * slows the gRPC stream (and the agent) instead of filling memory; it is fsynced at file_end.
 * Names are checked before anything is created: only pg_basebackup's tar layout
 * (base.tar, <oid>.tar, pg_wal.tar, each optionally .gz/.lz4/.zst, and backup_manifest), each
 * at most once. Any violation is a ProtocolError naming the agent; files already written stay
 * for the caller to remove with the staging directory.
 * With `observe`, each file's bytes are also handed to the caller's streamer as they are
 * written (the backup is verified as it arrives); it is finalized at file_end, disposed when
 * the stream fails.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ProtocolError, fileError, type Streamer } from '@pgfleet/core';
import type { BackupEvent__Output } from '../gen/agent/pgfleet/v1/BackupEvent.js';
import type { BackupResult__Output } from '../gen/agent/pgfleet/v1/BackupResult.js';
import type { BackupStarted__Output } from '../gen/agent/pgfleet/v1/BackupStarted.js';

const FILE_NAME = /^(?:(?:base|pg_wal|[1-9][0-9]*)\.tar(?:\.gz|\.lz4|\.zst)?|backup_manifest)$/;

export interface ReceivedFile {
  name: string;
  size: number;
  tablespaceOid: number | null;
  tablespaceLocation: string | null;
}

export interface AgentBackupOutcome {
  started: BackupStarted__Output;
  result: BackupResult__Output;
  files: ReceivedFile[];
}

export interface ReceiveAgentBackupOptions {
  /** The (empty) staging directory. */
  dir: string;
  /** 'agent "db1"', for messages. */
  peer: string;
  onStarted?: (started: BackupStarted__Output) => void;
  /** Server-side bytes (from progress events) and received bytes, whenever either changes. */
  onProgress?: (progress: { doneBytes: number; totalBytes: number; receivedBytes: number }) => void;
  /** A streamer that also receives each file's bytes ('unknown' chunks), e.g. a verifier. */
  observe?: (name: string) => Streamer;
}

interface OpenFile {
  file: ReceivedFile;
  handle: FileHandle;
  path: string;
  expected: number;
  observer: Streamer | null;
}

export async function receiveAgentBackup(
  events: AsyncIterable<BackupEvent__Output>,
  options: ReceiveAgentBackupOptions,
): Promise<AgentBackupOutcome> {
  const fail: (problem: string) => never = (problem) => {
    throw new ProtocolError(`backup stream from ${options.peer}: ${problem}`);
  };
  let started: BackupStarted__Output | null = null;
  let result: BackupResult__Output | null = null;
  const files: ReceivedFile[] = [];
  let current: OpenFile | null = null;
  let receivedBytes = 0;
  let doneBytes = 0;
  let totalBytes = 0;
  const progress = () => options.onProgress?.({ doneBytes, totalBytes, receivedBytes });

  try {
    for await (const event of events) {
      if (result !== null) fail(`event "${event.event ?? 'unknown'}" after the result`);
      switch (event.event) {
        case 'started': {
          if (started !== null) fail('second "started" event');
          started = event.started ?? fail('empty "started" event');
          totalBytes = Number(started.estimatedBytes);
          options.onStarted?.(started);
          progress();
          break;
        }
        case 'progress': {
          if (started === null) fail('"progress" before "started"');
          doneBytes = Number(event.progress?.doneBytes ?? 0);
          const total = Number(event.progress?.totalBytes ?? 0);
          if (total > 0) totalBytes = total;
          progress();
          break;
        }
        case 'fileBegin': {
          if (started === null) fail('"file_begin" before "started"');
          if (current !== null) fail(`"file_begin" while "${current.file.name}" is still open`);
          const begin = event.fileBegin ?? fail('empty "file_begin" event');
          const name = begin.name;
          if (!FILE_NAME.test(name)) fail(`unexpected file name "${name}"`);
          if (files.some((f) => f.name === name)) fail(`file "${name}" sent twice`);
          const path = join(options.dir, name);
          let handle: FileHandle;
          try {
            handle = await open(path, 'wx', 0o600);
          } catch (err) {
            throw fileError('could not create file', path, err);
          }
          const file: ReceivedFile = {
            name, size: 0,
            tablespaceOid: begin.tablespaceOid > 0 ? begin.tablespaceOid : null,
            tablespaceLocation: begin.tablespaceLocation !== '' ? begin.tablespaceLocation : null,
          };
          files.push(file);
          current = { file, handle, path, expected: Number(begin.size), observer: options.observe?.(name) ?? null };
          break;
        }
        case 'data': {
          if (current === null) fail('"data" outside a file');
          const open: OpenFile = current;
          const chunk = event.data ?? Buffer.alloc(0);
          // Written and observed at the same time: the disk and the decompression overlap.
          const write = open.handle.write(chunk).then(() => {}, (err: unknown) => {
            throw fileError('could not write to file', open.path, err);
          });
          // Both settle before going on (the handle may be closed right after a failure).
          const settled = await Promise.allSettled([write, open.observer?.content(null, chunk, 'unknown')]);
          for (const s of settled) if (s.status === 'rejected') throw s.reason;
          open.file.size += chunk.length;
          receivedBytes += chunk.length;
          progress();
          break;
        }
        case 'fileEnd': {
          if (current === null) fail('"file_end" outside a file');
          const done: OpenFile = current;
          current = null;
          try {
            await done.handle.sync();
          } catch (err) {
            throw fileError('could not fsync file', done.path, err);
          } finally {
            await done.handle.close();
          }
          if (done.expected > 0 && done.expected !== done.file.size) {
            fail(`file "${done.file.name}" announced ${done.expected} bytes, ${done.file.size} sent`);
          }
          await done.observer?.finalize();
          break;
        }
        case 'result': {
          if (started === null) fail('"result" before "started"');
          if (current !== null) fail(`"result" while "${current.file.name}" is still open`);
          result = event.result ?? fail('empty "result" event');
          break;
        }
        default:
          fail('event of unknown type (newer agent?)');
      }
    }
  } finally {
    const left = current as OpenFile | null;
    if (left !== null) {
      await left.handle.close().catch(() => {});
      await left.observer?.dispose().catch(() => {});
    }
  }

  if (result === null) {
    const left = current as OpenFile | null;
    if (left !== null) fail(`ended in the middle of file "${left.file.name}"`);
    fail('ended before the backup was complete');
  }
  const r = result as BackupResult__Output;
  const sent = files.map((f) => f.name).sort();
  const listed = [...r.files].sort();
  if (sent.join('\n') !== listed.join('\n')) {
    fail(`result lists files ${listed.map((n) => `"${n}"`).join(', ') || 'none'}, received ${sent.map((n) => `"${n}"`).join(', ') || 'none'}`);
  }
  if (!sent.includes('backup_manifest')) fail('no "backup_manifest" received');
  if (!sent.some((n) => n.startsWith('base.tar'))) fail('no "base.tar" received');
  return { started: started as unknown as BackupStarted__Output, result: r, files };
}
