import { after, test } from 'node:test';
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  defaultSocketDirectory, describeTarget, effectiveConnectionParameters, lookupPassfile, parseConninfo,
  parseKeywordValueConninfo, resolveConnectParams, tlsAttempts,
} from '../../src/replication/connection-options.js';

const require = createRequire(import.meta.url);

test('keyword/value strings: bare and quoted values, backslash escapes, spaces around =', () => {
  assert.deepEqual(parseKeywordValueConninfo("host=db1 port = 5433  user='a b' password='it\\'s' options=-c\\ x=1"), {
    host: 'db1', port: '5433', user: 'a b', password: "it's", options: '-c x=1',
  });
  assert.deepEqual(parseKeywordValueConninfo("application_name='' dbname=x"), { application_name: '', dbname: 'x' });
  assert.deepEqual(parseKeywordValueConninfo('   '), {});
  assert.throws(() => parseKeywordValueConninfo('host'), { message: 'missing "=" after "host" in connection info string' });
  assert.throws(() => parseKeywordValueConninfo("host='db"), { message: 'unterminated quoted string in connection info string' });
});

test('URIs are parsed by pg-connection-string into libpq keywords', () => {
  assert.deepEqual(parseConninfo('postgresql://rep:s%40cret@db1:5433/postgres?sslmode=require&application_name=x'), {
    user: 'rep', password: 's@cret', host: 'db1', port: '5433', dbname: 'postgres', sslmode: 'require', application_name: 'x',
  });
  assert.equal(parseConninfo('postgres://%2Fvar%2Frun%2Fpostgresql/db')['host'], '/var/run/postgresql');
});

test('precedence: keyword > connection string > environment > default', () => {
  const env = { PGHOST: 'envhost', PGPORT: '6000', PGUSER: 'envuser', PGSSLMODE: 'disable', PGAPPNAME: 'envapp' };
  const fromEnv = resolveConnectParams({}, env);
  assert.equal(fromEnv.host, 'envhost');
  assert.equal(fromEnv.port, 6000);
  assert.equal(fromEnv.user, 'envuser');
  assert.equal(fromEnv.sslmode, 'disable');
  assert.equal(fromEnv.applicationName, 'envapp');
  const fromString = resolveConnectParams({ connectionString: 'host=strhost port=6001 user=struser' }, env);
  assert.deepEqual([fromString.host, fromString.port, fromString.user], ['strhost', 6001, 'struser']);
  const fromKeyword = resolveConnectParams({ connectionString: 'host=strhost port=6001', host: 'kwhost', port: 6002 }, env);
  assert.deepEqual([fromKeyword.host, fromKeyword.port, fromKeyword.user], ['kwhost', 6002, 'envuser']);
  const defaults = resolveConnectParams({}, {});
  assert.equal(defaults.host, defaultSocketDirectory());
  assert.equal(defaults.port, 5432);
  assert.equal(defaults.user, userInfo().username);
  assert.equal(defaults.sslmode, 'prefer');
  assert.equal(defaults.dbname, 'replication');
  assert.equal(defaults.fallbackApplicationName, 'pgfleet');
  assert.equal(defaults.isSocket, true);
});

test('passwords: keyword or string first, then PGPASSWORD', () => {
  assert.deepEqual(
    [resolveConnectParams({ password: 'kw' }, { PGPASSWORD: 'env' }).password, resolveConnectParams({ password: 'kw' }, {}).passwordSource],
    ['kw', 'given'],
  );
  const env = resolveConnectParams({}, { PGPASSWORD: 'env' });
  assert.deepEqual([env.password, env.passwordSource], ['env', 'environment']);
  const none = resolveConnectParams({}, {});
  assert.deepEqual([none.password, none.passwordSource], [null, 'none']);
});

test('bad options are rejected with libpq-like messages', () => {
  assert.throws(() => resolveConnectParams({ connectionString: 'hots=x' }, {}), {
    name: 'InvalidOptionError', message: 'invalid connection option "hots"',
  });
  assert.throws(() => resolveConnectParams({ port: 'abc' }, {}), {
    message: 'invalid integer value "abc" for connection option "port"',
  });
  assert.throws(() => resolveConnectParams({}, { PGSSLMODE: 'sometimes' }), { message: 'invalid sslmode value: "sometimes"' });
  assert.throws(() => resolveConnectParams({ host: 'a,b' }, {}), {
    name: 'NotSupportedError', message: 'multiple hosts in connection option "host" are not supported: "a,b"',
  });
  // Keywords libpq knows but that cannot change what we do are accepted.
  assert.equal(resolveConnectParams({ connectionString: 'host=x gssencmode=disable target_session_attrs=any' }, {}).host, 'x');
});

test('targets name the server as messages show it', () => {
  assert.equal(describeTarget({ host: '127.0.0.1', port: 5432, isSocket: false }), '127.0.0.1:5432');
  assert.equal(describeTarget({ host: '::1', port: 5432, isSocket: false }), '[::1]:5432');
  assert.equal(describeTarget({ host: '/var/run/postgresql/', port: 5433, isSocket: true }), '/var/run/postgresql/.s.PGSQL.5433');
});

test('TLS attempts follow libpq sslmode; Unix sockets never use TLS', () => {
  const home = mkdtempSync(join(tmpdir(), 'pgfleet-tls-'));
  try {
    const env = { HOME: home };
    const at = (sslmode: string, extra = {}) => tlsAttempts(resolveConnectParams({ host: 'db', sslmode: sslmode as never, ...extra }, env), env);
    assert.deepEqual(at('disable'), [false]);
    assert.deepEqual(at('allow'), [false, { rejectUnauthorized: false }]);
    assert.deepEqual(at('prefer'), [{ rejectUnauthorized: false }, false]);
    assert.deepEqual(at('require'), [{ rejectUnauthorized: false }]);
    assert.throws(() => at('verify-full'), {
      message: `root certificate file "${join(home, '.postgresql', 'root.crt')}" does not exist`,
    });
    writeFileSync(join(home, 'ca.pem'), 'PEM');
    const full = at('verify-full', { sslrootcert: join(home, 'ca.pem') });
    assert.deepEqual(full, [{ ca: 'PEM', rejectUnauthorized: true }]);
    const ca = at('verify-ca', { sslrootcert: join(home, 'ca.pem') })[0];
    assert.ok(ca !== false && ca?.rejectUnauthorized === true && typeof ca.checkServerIdentity === 'function');
    assert.deepEqual(tlsAttempts(resolveConnectParams({ host: '/tmp', sslmode: 'require' }, env), env), [false]);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('password file lookup uses pg\'s pgpass rules ("localhost" for sockets, permissions)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-pgpass-'));
  const file = join(dir, 'pgpass');
  try {
    writeFileSync(file, 'db1:5432:replication:rep:secret1\nlocalhost:*:*:rep:secret2\n', { mode: 0o600 });
    const tcp = resolveConnectParams({ host: 'db1', user: 'rep', passfile: file }, {});
    assert.equal(await lookupPassfile(tcp), 'secret1');
    const socket = resolveConnectParams({ host: '/tmp', port: 6543, user: 'rep', passfile: file }, {});
    assert.equal(await lookupPassfile(socket), 'secret2');
    const other = resolveConnectParams({ host: 'db2', user: 'rep', passfile: file }, {});
    assert.equal(await lookupPassfile(other), null);
    assert.equal(await lookupPassfile(resolveConnectParams({ host: 'db1', user: 'rep', passfile: join(dir, 'none') }, {})), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('effective parameters for primary_conninfo, in libpq order, password or passfile', () => {
  const p = resolveConnectParams({
    host: 'db1', port: 5433, user: 'rep', password: 'pw', sslmode: 'require', application_name: 'app', connect_timeout: 10,
  }, {});
  assert.deepEqual(Object.entries(effectiveConnectionParameters(p, 'given', 'pw')), [
    ['user', 'rep'], ['password', 'pw'], ['connect_timeout', '10'], ['host', 'db1'], ['port', '5433'],
    ['application_name', 'app'], ['sslmode', 'require'],
  ]);
  const q = resolveConnectParams({ host: '/var/run/postgresql', user: 'rep', passfile: '/home/x/.pgpass' }, {});
  assert.deepEqual(effectiveConnectionParameters(q, 'passfile', 'fromfile'), {
    user: 'rep', passfile: '/home/x/.pgpass', host: '/var/run/postgresql', port: '5432', sslmode: 'prefer',
  });
});

test('pgpass files readable by others are ignored (as libpq does)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-pgpass-'));
  const file = join(dir, 'pgpass');
  try {
    writeFileSync(file, '*:*:*:*:secret\n');
    chmodSync(file, 0o644);
    // pgpass warns on stderr, as libpq does; keep the test output clean.
    const pgpass = createRequire(require.resolve('pg'))('pgpass') as { warnTo(s: NodeJS.WritableStream): NodeJS.WritableStream };
    const previous = pgpass.warnTo(new PassThrough());
    after(() => { pgpass.warnTo(previous); });
    assert.equal(await lookupPassfile(resolveConnectParams({ host: 'db1', passfile: file }, {})), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
