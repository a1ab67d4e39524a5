// ServerStream, the writing side of every server stream of the controller, over a real gRPC
// call in-process (port 0): once write() returns false, events wait for 'drain' instead of
// piling into gRPC, progress reports coalesce to the newest, the other events all arrive in
// order; a client that cancels aborts the stream's signal and nothing more is written.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { controllerService, controllerServiceClient, type VerifyBackupEvent, type VerifyBackupEvent__Output } from '@pgfleet/proto';
import { ServerStream } from '../../src/rpc/server-stream.js';

let server: grpc.Server;
let client: InstanceType<ReturnType<typeof controllerServiceClient>>;
/** What the handler does with the stream of the next call. */
let handler: (stream: ServerStream<VerifyBackupEvent>, call: grpc.ServerWritableStream<unknown, VerifyBackupEvent>) => void = () => {};
const shutdown = new AbortController();

before(async () => {
  server = new grpc.Server();
  server.addService(controllerService(), {
    VerifyBackup: (call: grpc.ServerWritableStream<unknown, VerifyBackupEvent>) => handler(new ServerStream(call, shutdown.signal), call),
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  client = new (controllerServiceClient())(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

after(() => {
  client?.close();
  server?.forceShutdown();
});

const BIG = 'x'.repeat(100_000);

test('events wait for drain once write() says gRPC is full: progress coalesces to the newest, the rest arrives whole and in order', async () => {
  let writes = 0;
  let writtenWhileFull = 0;
  handler = (stream, call) => {
    const write = call.write.bind(call);
    call.write = ((event: VerifyBackupEvent) => {
      writes += 1;
      if (call.writableNeedDrain) writtenWhileFull += 1;
      return write(event);
    }) as typeof call.write;
    // All in one go, as a verification reports: gRPC takes 16 messages, then says wait.
    for (let i = 0; i < 50; i += 1) stream.send({ kind: 'PROBLEM', backupId: 'b', message: `${i} ${BIG}` });
    for (let i = 0; i < 1000; i += 1) stream.send({ kind: 'PROGRESS', backupId: 'b', doneBytes: String(i) }, 'progress');
    stream.send({ kind: 'DONE', backupId: 'b', ok: true });
    void stream.end();
  };
  const call = client.verifyBackup({ cluster: 'c' });
  const events: VerifyBackupEvent__Output[] = [];
  for await (const e of call) events.push(e as VerifyBackupEvent__Output);
  assert.equal(writtenWhileFull, 0, 'nothing was written after write() returned false, before drain');
  assert.equal(writes, 52);
  assert.deepEqual(events.filter((e) => e.kind === 'PROBLEM').map((e) => Number(e.message.split(' ')[0])), [...Array(50).keys()]);
  assert.deepEqual(events.filter((e) => e.kind === 'PROGRESS').map((e) => e.doneBytes), ['999']);
  assert.equal(events.at(-1)?.kind, 'DONE');
});

test('a client that cancels aborts the signal; events after it are dropped and the call is not ended again', async () => {
  let aborted: (() => void) | undefined;
  const sawAbort = new Promise<void>((resolve) => { aborted = resolve; });
  let after = 0;
  handler = (stream, call) => {
    stream.send({ kind: 'PROGRESS', backupId: 'b', doneBytes: '1' });
    stream.signal.addEventListener('abort', () => {
      const write = call.write.bind(call);
      call.write = ((event: VerifyBackupEvent) => { after += 1; return write(event); }) as typeof call.write;
      stream.send({ kind: 'PROBLEM', backupId: 'b', message: 'too late' });
      void stream.fail(new Error('cancelled')).then(() => aborted?.());
    });
  };
  const call = client.verifyBackup({ cluster: 'c' });
  call.on('error', () => undefined);
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  call.cancel();
  await sawAbort;
  assert.equal(after, 0);
});

test('the daemon shutting down aborts the signal of every stream', async () => {
  let signal: AbortSignal | undefined;
  handler = (stream) => { signal = stream.signal; stream.send({ kind: 'PROGRESS', backupId: 'b' }); };
  const call = client.verifyBackup({ cluster: 'c' });
  call.on('error', () => undefined);
  await new Promise<void>((resolve) => call.once('data', () => resolve()));
  assert.equal(signal?.aborted, false);
  shutdown.abort(new Error('daemon shutting down'));
  assert.equal(signal?.aborted, true);
  call.cancel();
});
