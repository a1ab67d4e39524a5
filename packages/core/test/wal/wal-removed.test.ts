// Which server errors mean "the server removed WAL the archive needs" (wal-removed.ts), with the
// texts PostgreSQL 13–18 send, and what the archive's session error then says.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectError, ServerError, WalRemovedError } from '../../src/errors.js';
import { archiveSessionError, removedWalEvidence } from '../../src/wal/wal-removed.js';

const PREFIX = 'unexpected termination of replication stream';

function serverError(sqlState: string, message: string, detail?: string): ServerError {
  const libpq = [`ERROR:  ${message}`, ...(detail !== undefined ? [`DETAIL:  ${detail}`] : [])].join('\n');
  return new ServerError(`${PREFIX}: ${message}`, { sqlState, libpqText: `${PREFIX}: ${libpq}` });
}

describe('removedWalEvidence', () => {
  test('13–17: "requested WAL segment ... has already been removed" (58P01) names the segment', () => {
    const e = removedWalEvidence(serverError('58P01', 'requested WAL segment 000000010000000000000012 has already been removed'));
    assert.equal(e?.segment, '000000010000000000000012');
    assert.match(e?.serverText ?? '', /ERROR: {2}requested WAL segment/);
  });

  test('58P01 in another language: the segment name is enough', () => {
    const e = removedWalEvidence(serverError('58P01', 'angefordertes WAL-Segment 00000002000000A1000000FF wurde schon entfernt'));
    assert.equal(e?.segment, '00000002000000A1000000FF');
  });

  test('CheckXLogRemoved\'s errno may give another class-58 code: recognised by its English text only', () => {
    assert.equal(removedWalEvidence(serverError('58030', 'requested WAL segment 000000010000000000000003 has already been removed'))?.segment,
      '000000010000000000000003');
    // A read error of a segment that exists is not removal.
    assert.equal(removedWalEvidence(serverError('58030', 'could not read from log segment 000000010000000000000003, offset 0: Input/output error')), null);
  });

  test('18: an invalidated slot (55000, DETAIL "wal_removed") names no segment', () => {
    const e = removedWalEvidence(serverError('55000', 'can no longer access replication slot "pgfleet_main"',
      'This replication slot has been invalidated due to "wal_removed".'));
    assert.deepEqual(e && { segment: e.segment }, { segment: null });
    // Another invalidation cause or another 55000 is something else.
    assert.equal(removedWalEvidence(serverError('55000', 'can no longer access replication slot "s"', 'This replication slot has been invalidated due to "idle_timeout".')), null);
    assert.equal(removedWalEvidence(serverError('55000', 'cannot use a logical replication slot for physical replication')), null);
  });

  test('other errors are not removal: no SQLSTATE, a 58P01 without a segment, not a server error', () => {
    assert.equal(removedWalEvidence(new ServerError('requested WAL segment 000000010000000000000012 has already been removed')), null);
    assert.equal(removedWalEvidence(serverError('58P01', 'could not open file "pg_wal/00000002.history": No such file or directory')), null);
    assert.equal(removedWalEvidence(new ConnectError('could not connect to server "x"')), null);
    assert.equal(removedWalEvidence(new Error('requested WAL segment 000000010000000000000012 has already been removed')), null);
  });
});

describe('archiveSessionError', () => {
  test('turns removal into WalRemovedError (code 85) naming the segment, keeping the server\'s words', () => {
    const cause = serverError('58P01', 'requested WAL segment 000000010000000000000012 has already been removed');
    const err = archiveSessionError(cause);
    assert.ok(err instanceof WalRemovedError);
    assert.equal(err.code, 85);
    assert.equal(err.id, 'wal-removed');
    assert.equal(err.message, `the server removed WAL segment 000000010000000000000012 before the archive received it: ${PREFIX}: requested WAL segment 000000010000000000000012 has already been removed`);
    assert.equal(err.hint, 'The archive resumes where the server is now; point-in-time recovery across the missing WAL is impossible. Take a new backup.');
    assert.equal(err.cause, cause);
  });

  test('leaves every other error as it is', () => {
    const other = new ConnectError('could not connect to server "x"');
    assert.equal(archiveSessionError(other), other);
  });
});
