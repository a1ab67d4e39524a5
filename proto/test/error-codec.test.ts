// The one error codec of every pgfleet service: catalogue errors survive the wire as
// themselves (the explicit list covers core's whole catalogue), statuses follow the error
// kind, plain gRPC failures become errors naming the peer, any hint crosses, and a relayed
// error says which host raised it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as core from '@pgfleet/core';
import { ConnectError, DirectoryNotEmptyError, InternalError, NotAllowedError, NotFoundError, PgFleetError, ProtocolError } from '@pgfleet/core';
import { ERROR_CLASSES, RemoteError, errorOrigin, fromServiceError, originSuffix, toServiceError, toStatus } from '../src/index.js';

const ctx = { peer: 'agent "db1"', method: 'Backup' };

describe('errors across the wire', () => {
  test('the explicit list holds every catalogue class of @pgfleet/core once, under its own id', () => {
    const exported = (Object.values(core) as unknown[]).filter(
      (v): v is Function => typeof v === 'function' && v.prototype instanceof PgFleetError,
    );
    // A refinement that keeps its parent's id (a -T parse problem is an invalid option) travels
    // as the parent and needs no entry of its own.
    const idOf = (cls: Function): string => (Reflect.construct(cls, ['x']) as PgFleetError).id;
    const refinements = exported.filter((cls) => {
      const parent = Object.getPrototypeOf(cls) as Function;
      return parent !== PgFleetError && exported.includes(parent) && idOf(parent) === idOf(cls);
    });
    const catalogue = exported.filter((cls) => !refinements.includes(cls));
    assert.deepEqual(new Set(ERROR_CLASSES.map((e) => e.cls)), new Set(catalogue));
    assert.equal(new Set(ERROR_CLASSES.map((e) => e.id)).size, ERROR_CLASSES.length, 'one entry per id');
    for (const { id, cls } of ERROR_CLASSES) assert.equal(new cls('x').id, id);
  });

  test('every catalogue class survives the round trip as itself, with message and hint', () => {
    for (const { id, cls: Cls } of ERROR_CLASSES) {
      const original = new Cls(`message of ${id}`, { hint: `Hint for ${id}.` });
      const wire = toServiceError(original);
      assert.equal(wire.details, `message of ${id}`);
      assert.deepEqual(wire.metadata?.get('pgfleet-error-id'), [id]);
      assert.deepEqual(wire.metadata?.get('pgfleet-error-code'), [String(original.code)]);
      const back = fromServiceError(wire, ctx);
      assert.equal(back.constructor, Cls, id);
      assert.equal(back.message, original.message);
      assert.equal(back.hint, original.hint);
      assert.equal(back.code, original.code);
    }
  });

  test('status codes follow the error kind: refusals, missing things and data problems are told apart', () => {
    assert.equal(toStatus(new NotFoundError('x')).code, grpc.status.NOT_FOUND);
    assert.equal(toStatus(new ConnectError('x')).code, grpc.status.UNAVAILABLE);
    assert.equal(toStatus(new DirectoryNotEmptyError('x')).code, grpc.status.FAILED_PRECONDITION);
    assert.equal(toServiceError(new NotAllowedError('x')).code, grpc.status.PERMISSION_DENIED);
    assert.equal(toServiceError(new core.VerifyError('x')).code, grpc.status.DATA_LOSS);
    // A failure of the serving host that the caller cannot mend by asking differently.
    assert.equal(toServiceError(new core.FileIoError('x')).code, grpc.status.INTERNAL);
    assert.deepEqual(toServiceError(new DirectoryNotEmptyError('x')).metadata?.get('pgfleet-error-hint'), []);
  });

  test('unexpected exceptions become internal errors, their text passed on, their stack not', () => {
    const internal = toStatus(new TypeError('boom'));
    assert.equal(internal.code, grpc.status.INTERNAL);
    assert.equal(internal.details, 'unexpected error: boom');
    assert.deepEqual(internal.metadata.get('pgfleet-error-id'), ['internal']);
    assert.equal(internal.metadata.get('pgfleet-error-code')[0], String(new InternalError('').code));
  });

  test('an error id this build does not know keeps its id and code (a newer peer)', () => {
    const md = new grpc.Metadata();
    md.set('pgfleet-error-id', 'quota-exceeded');
    md.set('pgfleet-error-code', '77');
    md.set('pgfleet-error-hint', 'Free some space.');
    const err = fromServiceError(Object.assign(new Error('x'), { code: grpc.status.FAILED_PRECONDITION, details: 'repository quota exceeded', metadata: md }), ctx);
    assert.ok(err instanceof RemoteError);
    assert.deepEqual([err.id, err.code, err.message, err.hint], ['quota-exceeded', 77, 'repository quota exceeded', 'Free some space.']);
    // Relayed on, it keeps them, with status UNKNOWN.
    const relayed = toStatus(err);
    assert.equal(relayed.code, grpc.status.UNKNOWN);
    assert.deepEqual([relayed.metadata.get('pgfleet-error-id')[0], relayed.metadata.get('pgfleet-error-code')[0]], ['quota-exceeded', '77']);
    // Without a code it is 99.
    const bare = new grpc.Metadata();
    bare.set('pgfleet-error-id', 'from-the-future');
    assert.equal(fromServiceError({ code: grpc.status.UNKNOWN, details: 'new thing', metadata: bare }, ctx).code, 99);
  });

  test('plain gRPC failures become errors naming the peer', () => {
    const plain = (code: grpc.status, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
    const cases: Array<[grpc.status, string, string, number]> = [
      [grpc.status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ', 'could not connect to agent "db1": connect ECONNREFUSED 127.0.0.1:1', 40],
      [grpc.status.UNAVAILABLE, 'failed to connect (2026-01-01T00:00:00.000Z). Resolution note: ', 'could not connect to agent "db1": failed to connect', 40],
      [grpc.status.UNAVAILABLE, 'No connection established', 'could not connect to agent "db1": no connection established', 40],
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
      assert.equal(errorOrigin(err), null, 'what the caller saw itself was raised nowhere else');
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

  test('a relayed error says which host raised it: agent -> controller -> CLI', () => {
    // The agent raises it; the controller receives it from the agent.
    const atController = fromServiceError(toServiceError(new DirectoryNotEmptyError('directory "/x" exists but is not empty')), { peer: 'agent "db1"' });
    assert.deepEqual(errorOrigin(atController), { host: 'agent "db1"', via: null });
    assert.equal(originSuffix(atController), ' (raised from agent "db1")');
    // The controller relays it to the CLI, which learns where it was raised and through whom.
    const relayed = toServiceError(atController);
    assert.deepEqual(relayed.metadata.get('pgfleet-error-raised-from'), ['agent "db1"']);
    const atCli = fromServiceError(relayed, { peer: 'controller "127.0.0.1:7400"' });
    assert.ok(atCli instanceof DirectoryNotEmptyError);
    assert.equal(atCli.message, 'directory "/x" exists but is not empty');
    assert.deepEqual(errorOrigin(atCli), { host: 'agent "db1"', via: 'controller "127.0.0.1:7400"' });
    // The controller's own errors carry no such key; the CLI sees them raised by the controller.
    const own = toServiceError(new NotFoundError('cluster "x" is not configured'));
    assert.deepEqual(own.metadata.get('pgfleet-error-raised-from'), []);
    assert.deepEqual(errorOrigin(fromServiceError(own, { peer: 'controller "c"' })), { host: 'controller "c"', via: null });
    // A host name gRPC would refuse in plain metadata goes as -bin.
    const named = fromServiceError(toServiceError(new NotFoundError('x')), { peer: 'agent "base-été"' });
    assert.deepEqual(toStatus(named).metadata.get('pgfleet-error-raised-from-bin'), [Buffer.from('agent "base-été"')]);
    assert.equal(errorOrigin(fromServiceError(toServiceError(named), { peer: 'c' }))?.host, 'agent "base-été"');
  });
});
