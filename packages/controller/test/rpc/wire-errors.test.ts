import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ConnectError, DirectoryNotEmptyError, InternalError, NotFoundError, ProtocolError } from '@pgfleet/core';
import { RemoteError, fromServiceError, toServiceError, toStatus } from '../../src/rpc/wire-errors.js';

const ctx = { peer: 'agent "db1"', method: 'Backup' };

test('a catalogue error survives the round trip as the same class, message and hint', () => {
  for (const original of [
    new DirectoryNotEmptyError('directory "/x" exists but is not empty', { hint: 'Choose an empty directory.' }),
    new NotFoundError('cluster "a" is not configured'),
    new ConnectError('could not connect to server: connection refused'),
  ]) {
    const back = fromServiceError(toServiceError(original), ctx);
    assert.equal(back.constructor, original.constructor);
    assert.equal(back.message, original.message);
    assert.equal(back.hint, original.hint);
    assert.equal(back.code, original.code);
  }
});

test('status codes follow the error kind; unexpected exceptions become internal errors', () => {
  assert.equal(toStatus(new NotFoundError('x')).code, grpc.status.NOT_FOUND);
  assert.equal(toStatus(new ConnectError('x')).code, grpc.status.UNAVAILABLE);
  assert.equal(toStatus(new DirectoryNotEmptyError('x')).code, grpc.status.FAILED_PRECONDITION);
  const internal = toStatus(new TypeError('boom'));
  assert.equal(internal.code, grpc.status.INTERNAL);
  assert.equal(internal.details, 'unexpected error: boom');
  assert.equal(internal.metadata.get('pgfleet-error-code')[0], String(new InternalError('').code));
});

test('an error id this build does not know keeps its code (a newer peer)', () => {
  const md = new grpc.Metadata();
  md.set('pgfleet-error-id', 'quota-exceeded');
  md.set('pgfleet-error-code', '77');
  md.set('pgfleet-error-hint', 'Free some space.');
  const err = fromServiceError(Object.assign(new Error('x'), { code: grpc.status.FAILED_PRECONDITION, details: 'repository quota exceeded', metadata: md }), ctx);
  assert.ok(err instanceof RemoteError);
  assert.deepEqual([err.id, err.code, err.message, err.hint], ['quota-exceeded', 77, 'repository quota exceeded', 'Free some space.']);
});

test('plain gRPC failures become errors naming the peer', () => {
  const plain = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
  const cases: Array<[grpc.status, string, string, number]> = [
    [grpc.status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ', 'could not connect to agent "db1": connect ECONNREFUSED 127.0.0.1:1', 40],
    [grpc.status.UNAVAILABLE, 'failed to connect (2026-01-01T00:00:00.000Z). Resolution note: ', 'could not connect to agent "db1": failed to connect', 40],
    [grpc.status.UNAVAILABLE, 'Self-signed certificate in certificate chain', 'TLS handshake with agent "db1" failed: self-signed certificate in certificate chain', 41],
    [grpc.status.UNIMPLEMENTED, 'The server does not implement the method Backup', 'agent "db1" does not implement "Backup"', 32],
    [grpc.status.CANCELLED, 'Cancelled on server', 'agent "db1" ended the call abruptly', 40],
    [grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded', 'agent "db1" did not answer in time', 40],
    [grpc.status.INTERNAL, 'Received RST_STREAM with code 2', 'agent "db1" failed with gRPC status INTERNAL: received RST_STREAM with code 2', 50],
  ];
  for (const [code, details, message, exit] of cases) {
    const err = fromServiceError(plain(code, details), ctx);
    assert.equal(err.message, message, details);
    assert.equal(err.code, exit, details);
  }
  assert.ok(fromServiceError(plain(grpc.status.INTERNAL, 'x'), ctx) instanceof ProtocolError);
  // Once messages have arrived, UNAVAILABLE means the peer went away (killed, network).
  const lost = fromServiceError(plain(grpc.status.UNAVAILABLE, 'read ECONNRESET'), { ...ctx, midCall: true });
  assert.deepEqual([lost.message, lost.hint, lost.code], ['lost the connection to agent "db1": read ECONNRESET', 'Check whether it is still running; its log may say why.', 40]);
});

test('any hint crosses: a newline or a non-ASCII character goes as pgfleet-error-hint-bin; huge texts are cut with a marker', () => {
  const hint = 'Première ligne.\nDeuxième: "/srv/données".';
  const status = toStatus(new NotFoundError('backup "é" not found', { hint }));
  assert.deepEqual(status.metadata.get('pgfleet-error-hint'), []);
  assert.deepEqual(status.metadata.get('pgfleet-error-hint-bin'), [Buffer.from(hint, 'utf8')]);
  const back = fromServiceError(toServiceError(new NotFoundError('backup "é" not found', { hint })), ctx);
  assert.ok(back instanceof NotFoundError);
  assert.equal(back.hint, hint);
  // A printable ASCII hint keeps the plain key (what older peers read).
  assert.deepEqual(toStatus(new NotFoundError('x', { hint: 'Plain.' })).metadata.get('pgfleet-error-hint'), ['Plain.']);
  const huge = toStatus(new NotFoundError(`backup "${'x'.repeat(100_000)}" not found`, { hint: 'y'.repeat(5000) }));
  assert.match(huge.details, /^backup "x+ \.\.\. \[\d+ more bytes\]$/);
  assert.ok(Buffer.byteLength(huge.details) <= 2048);
  assert.ok(String(huge.metadata.get('pgfleet-error-hint')[0]).length <= 1024);
});
