/**
 * Client side of the agent's Backup stream (BACKUP-RPC.md), for AgentClient.backup: writes
 * each file into a directory as it arrives (chunk writes are awaited, so a slow disk slows the
 * stream) and checks the grammar
 *
 *     started ( file_begin data* file_end )* result        (progress anywhere after started)
 *
 * File names must be those of pg_basebackup's tar layout, each at most once, created
 * exclusively; result.files must name exactly the files received. Violations are
 * ProtocolErrors naming the agent. Files already written stay for the caller to remove.
 */

import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryNotEmptyError, ProtocolError, fileError } from '@pgfleet/core';
import type { BackupEvent__Output } from '../gen/pgfleet/v1/BackupEvent.js';
import type { BackupResult__Output } from '../gen/pgfleet/v1/BackupResult.js';

const FILE_NAME = /^(?:(?:base|pg_wal|[1-9][0-9]*)\.tar(?:\.gz|\.lz4|\.zst)?|backup_manifest)$/;

export interface ReceiveBackupOptions {
  dir: string;
  /** The agent's address, for messages. */
  peer: string;
  onEvent?: (event: BackupEvent__Output) => void;
}

export async function receiveBackupStream(events: AsyncIterable<BackupEvent__Output>, options: ReceiveBackupOptions): Promise<BackupResult__Output> {
  const fail = (problem: string): never => {
    throw new ProtocolError(`backup stream from agent "${options.peer}": ${problem}`);
  };
  await mkdir(options.dir, { recursive: true }).catch((err: unknown) => { throw fileError('could not create directory', options.dir, err); });
  if ((await readdir(options.dir)).length > 0) throw new DirectoryNotEmptyError(`directory "${options.dir}" exists but is not empty`);
  let started = false;
  let result: BackupResult__Output | null = null;
  const received: string[] = [];
  let current: { name: string; handle: FileHandle; file: string } | null = null;
  try {
    for await (const event of events) {
      options.onEvent?.(event);
      if (result !== null) fail(`event "${event.event ?? 'unknown'}" after the result`);
      switch (event.event) {
        case 'started':
          if (started) fail('second "started" event');
          started = true;
          break;
        case 'progress':
          if (!started) fail('"progress" before "started"');
          break;
        case 'fileBegin': {
          if (!started) fail('"file_begin" before "started"');
          if (current !== null) fail(`"file_begin" while "${current.name}" is still open`);
          const name = event.fileBegin?.name ?? '';
          if (!FILE_NAME.test(name)) fail(`unexpected file name "${name}"`);
          if (received.includes(name)) fail(`file "${name}" sent twice`);
          const file = path.join(options.dir, name);
          const handle = await open(file, 'wx', 0o600).catch((err: unknown) => { throw fileError('could not create file', file, err); });
          received.push(name);
          current = { name, handle, file };
          break;
        }
        case 'data': {
          const open_ = current ?? fail('"data" outside a file');
          await open_.handle.write(event.data ?? Buffer.alloc(0)).catch((err: unknown) => { throw fileError('could not write to file', open_.file, err); });
          break;
        }
        case 'fileEnd': {
          const done = current ?? fail('"file_end" outside a file');
          current = null;
          await done.handle.close().catch((err: unknown) => { throw fileError('could not close file', done.file, err); });
          break;
        }
        case 'result':
          if (!started) fail('"result" before "started"');
          if (current !== null) fail(`"result" while "${current.name}" is still open`);
          result = event.result ?? fail('empty "result" event');
          break;
        default:
          fail('event of unknown type');
      }
    }
  } finally {
    const left = current as { handle: FileHandle } | null;
    if (left !== null) await left.handle.close().catch(() => undefined);
  }
  const r = result ?? fail('ended before the backup was complete');
  if ([...r.files].sort().join('\n') !== [...received].sort().join('\n')) {
    fail(`result lists files ${r.files.map((n) => `"${n}"`).join(', ')}, received ${received.map((n) => `"${n}"`).join(', ')}`);
  }
  return r;
}
