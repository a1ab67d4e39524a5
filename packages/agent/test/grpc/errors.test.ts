import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as core from '@pgfleet/core';
import { CancelledError, ConnectError, DirectoryNotEmptyError, InternalError, NotAllowedError, PgFleetError } from '@pgfleet/core';
import { errorClasses, fromServiceError, toServiceError } from '../../src/grpc/errors.js';

describe('errors across the wire', () => {
  test('every catalogue class survives the round trip as itself, with message and hint', () => {
    const classes = errorClasses();
    const exported = Object.values(core).filter((v) => typeof v === 'function' && v.prototype instanceof PgFleetError);
    assert.equal(classes.size, exported.length, 'one id per exported class');
    for (const [id, Cls] of classes) {
      const original = new Cls(`message of ${id}`, { hint: `Hint for ${id}.` });
      const wire = toServiceError(original);
      assert.equal(wire.details, `message of ${id}`);
      assert.deepEqual(wire.metadata?.get('pgfleet-error-id'), [id]);
      assert.deepEqual(wire.metadata?.get('pgfleet-error-code'), [String(original.code)]);
      const back = fromServiceError(wire, '127.0.0.1:1');
      assert.equal(back.constructor, Cls, id);
      assert.equal(back.message, original.message);
      assert.equal(back.hint, original.hint);
      assert.equal(back.code, original.code);
    }
  });
  test('status codes: refusals and data problems are told apart', () => {
    assert.equal(toServiceError(new NotAllowedError('x')).code, grpc.status.PERMISSION_DENIED);
    assert.equal(toServiceError(new DirectoryNotEmptyError('x')).code, grpc.status.FAILED_PRECONDITION);
    assert.equal(toServiceError(new core.VerifyError('x')).code, grpc.status.DATA_LOSS);
    assert.equal(toServiceError(new Error('boom')).code, grpc.status.INTERNAL);
    assert.deepEqual(toServiceError(new Error('boom')).metadata?.get('pgfleet-error-id'), ['internal']);
    assert.equal(toServiceError(new DirectoryNotEmptyError('x')).metadata?.get('pgfleet-error-hint').length, 0);
  });
  test('statuses without our metadata: unreachable, cancelled, unknown id', () => {
    const unavailable = fromServiceError({ code: grpc.status.UNAVAILABLE, details: 'No connection established', metadata: new grpc.Metadata() }, 'h:1');
    assert.ok(unavailable instanceof ConnectError);
    assert.equal(unavailable.message, 'could not reach agent "h:1": No connection established');
    assert.ok(fromServiceError({ code: grpc.status.CANCELLED, details: 'Cancelled on client', metadata: new grpc.Metadata() }, 'h:1') instanceof CancelledError);
    const md = new grpc.Metadata();
    md.set('pgfleet-error-id', 'from-the-future');
    const unknown = fromServiceError({ code: grpc.status.UNKNOWN, details: 'new thing', metadata: md }, 'h:1');
    assert.ok(unknown instanceof InternalError);
    assert.equal(unknown.message, 'agent "h:1" failed with an error this client does not know ("from-the-future"): new thing');
  });
});
