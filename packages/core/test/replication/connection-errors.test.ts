// The mapping of connect failures, for the cases a test server cannot easily produce (the
// common ones are asserted against real servers in connection.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapConnectError, NoPasswordSuppliedError, quoteRoleName } from '../../src/replication/connection-errors.js';
import {
  AuthenticationError, ConnectError, HbaRejectedError, InvalidOptionError, PrivilegeError, ServerError,
  TooManyConnectionsError,
} from '../../src/errors.js';

const tcp = { target: 'db1:5432', host: 'db1', port: 5432, isSocket: false, user: 'Rep User' };
const socket = { target: '/run/pg/.s.PGSQL.5432', host: '/run/pg', port: 5432, isSocket: true, user: 'rep' };

function serverError(code: string, message: string, hint?: string): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL', ...(hint ? { hint } : {}) });
}

function errno(code: string, message = `connect ${code} 1.2.3.4:5432`): Error {
  return Object.assign(new Error(message), { code });
}

test('role names in hints are quoted when they need it', () => {
  assert.equal(quoteRoleName('rep'), 'rep');
  assert.equal(quoteRoleName('Rep User'), '"Rep User"');
  assert.equal(quoteRoleName('a"b'), '"a""b"');
});

test('pg_hba.conf rejections: the hint names the client address, or the local line for sockets', () => {
  const v6 = mapConnectError(serverError('28000', 'no pg_hba.conf entry for replication connection from host "::1", user "Rep User", no encryption'), tcp);
  assert.ok(v6 instanceof HbaRejectedError);
  assert.equal(v6.hint, 'Add a line such as "host replication "Rep User" ::1/128 scram-sha-256" to pg_hba.conf and reload the server.');
  const rejectLine = mapConnectError(serverError('28000', 'pg_hba.conf rejects replication connection for host "10.0.0.5", user "x", no encryption'), tcp);
  assert.ok(rejectLine instanceof HbaRejectedError);
  assert.equal(rejectLine.hint, 'Add a line such as "host replication "Rep User" 10.0.0.5/32 scram-sha-256" to pg_hba.conf and reload the server.');
  const local = mapConnectError(serverError('28000', 'no pg_hba.conf entry for replication connection from host "[local]", user "rep", no encryption'), socket);
  assert.equal(local.message, 'could not connect for replication to "/run/pg/.s.PGSQL.5432": no pg_hba.conf entry for replication connection from host "[local]", user "rep", no encryption');
  assert.equal(local.hint, 'Add a line such as "local replication rep peer" to pg_hba.conf and reload the server.');
});

test('other 28000 errors: unknown role, no login, peer authentication', () => {
  const unknown = mapConnectError(serverError('28000', 'role "nobody" does not exist'), socket);
  assert.ok(unknown instanceof AuthenticationError);
  assert.equal(unknown.hint, 'Check the user name, or create the role with CREATE ROLE rep LOGIN REPLICATION.');
  const nologin = mapConnectError(serverError('28000', 'role "rep" is not permitted to log in'), socket);
  assert.ok(nologin instanceof PrivilegeError);
  assert.equal(nologin.hint, 'Allow the role to log in with ALTER ROLE rep LOGIN.');
  const peer = mapConnectError(serverError('28000', 'Peer authentication failed for user "rep"'), socket);
  assert.ok(peer instanceof AuthenticationError);
  assert.equal(peer.message, 'could not connect for replication to "/run/pg/.s.PGSQL.5432": Peer authentication failed for user "rep"');
});

test('PostgreSQL 16+ privilege wording and too many clients', () => {
  const priv = mapConnectError(serverError('42501', 'permission denied to start WAL sender'), tcp);
  assert.ok(priv instanceof PrivilegeError);
  assert.equal(priv.hint, 'Give the role the REPLICATION attribute with ALTER ROLE "Rep User" REPLICATION, or connect as a role that has it.');
  const clients = mapConnectError(serverError('53300', 'sorry, too many clients already'), tcp);
  assert.ok(clients instanceof TooManyConnectionsError);
  assert.equal(clients.hint, 'Raise max_connections on the server, or wait until other connections end.');
});

test('any other server error keeps its SQLSTATE and hint', () => {
  const starting = mapConnectError(serverError('57P03', 'the database system is starting up'), tcp);
  assert.ok(starting instanceof ServerError);
  assert.equal(starting.sqlState, '57P03');
  assert.equal(starting.message, 'could not connect for replication to "db1:5432": the database system is starting up');
  const hinted = mapConnectError(serverError('08P01', 'invalid value', 'Use a valid value.'), tcp);
  assert.equal(hinted.hint, 'Use a valid value.');
});

test('OS errors in libpq words, with the server-is-running hint', () => {
  const cases: Array<[string, string]> = [
    ['ECONNREFUSED', 'connection refused'],
    ['EHOSTUNREACH', 'no route to host'],
    ['ENETUNREACH', 'network is unreachable'],
    ['ETIMEDOUT', 'connection timed out'],
    ['ECONNRESET', 'connection reset by peer'],
  ];
  for (const [code, text] of cases) {
    const err = mapConnectError(errno(code), tcp);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.message, `could not connect for replication to "db1:5432": ${text}`);
    assert.equal(err.hint, 'Check that the server is running on host "db1" and accepts TCP/IP connections on port 5432.');
  }
  const dns = mapConnectError(errno('ENOTFOUND', 'getaddrinfo ENOTFOUND db1'), tcp);
  assert.equal(dns.message, 'could not connect for replication to "db1:5432": could not translate host name "db1" to address: name or service not known');
  assert.equal(dns.hint, 'Check the host name.');
  const perm = mapConnectError(errno('EACCES'), socket);
  assert.equal(perm.message, 'could not connect for replication to "/run/pg/.s.PGSQL.5432": permission denied');
});

test('pg and TLS failures', () => {
  const closed = mapConnectError(new Error('Connection terminated unexpectedly'), tcp);
  assert.ok(closed instanceof ConnectError);
  assert.equal(closed.message, 'could not connect for replication to "db1:5432": server closed the connection unexpectedly');
  const sasl = mapConnectError(new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match'), tcp);
  assert.ok(sasl instanceof AuthenticationError);
  assert.equal(sasl.message, 'could not connect for replication to "db1:5432": SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match');
  const altname = mapConnectError(errno('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"), tcp);
  assert.ok(altname instanceof ConnectError);
  assert.equal(altname.message, 'could not connect for replication to "db1:5432": SSL error: hostname/IP does not match certificate\'s altnames');
  const nopass = mapConnectError(new NoPasswordSuppliedError(), tcp);
  assert.ok(nopass instanceof AuthenticationError);
  assert.equal(nopass.message, 'could not connect for replication to "db1:5432": no password supplied');
  const ours = new InvalidOptionError('x');
  assert.equal(mapConnectError(ours, tcp), ours, 'our own errors pass through');
});
