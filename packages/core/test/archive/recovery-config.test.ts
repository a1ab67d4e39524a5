import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/errors.js';
import {
  buildPrimaryConninfo, checkConfigValue, escapeConfigString, quoteConninfoValue, recoveryConfigContents,
} from '../../src/archive/recovery-config.js';

// Captured from /usr/lib/postgresql/15/bin/pg_basebackup -R -Ft run as OS user postgres (home
// /var/lib/postgresql) against a PostgreSQL 15 server, reading postgresql.auto.conf from base.tar.
// Each case gives the pg_basebackup invocation and the primary_conninfo/slot lines it wrote.
const SOCKET = '/tmp/pgf-pg15-C4zq';
const osUser = { osUser: 'postgres', homeDir: '/var/lib/postgresql' };
const captured = [
  {
    what: 'pg_basebackup -h SOCKET -p 54915',
    params: { host: SOCKET, port: 54915 },
    env: {},
    slot: null,
    text: "primary_conninfo = 'user=postgres passfile=''/var/lib/postgresql/.pgpass'' channel_binding=prefer host=''/tmp/pgf-pg15-C4zq'' port=54915 sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any'\n",
  },
  {
    what: `pg_basebackup -d "host=SOCKET port=54915 user=postgres application_name=my'app sslmode=disable password=se'cr\\et keepalives=1 connect_timeout=10"`,
    params: { host: SOCKET, port: '54915', user: 'postgres', application_name: "my'app", sslmode: 'disable', password: "se'cret", keepalives: 1, connect_timeout: 10, replication: 'true', fallback_application_name: 'pg_basebackup', dbname: 'replication' },
    env: {},
    slot: null,
    text: "primary_conninfo = 'user=postgres password=''se\\\\''cret'' channel_binding=prefer connect_timeout=10 host=''/tmp/pgf-pg15-C4zq'' port=54915 application_name=''my\\\\''app'' keepalives=1 sslmode=disable sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any'\n",
  },
  {
    what: 'PGHOST=SOCKET PGPORT=54915 PGAPPNAME=envapp pg_basebackup -X stream -C -S myslot',
    params: {},
    env: { PGHOST: SOCKET, PGPORT: '54915', PGAPPNAME: 'envapp' },
    slot: 'myslot',
    text: "primary_conninfo = 'user=postgres passfile=''/var/lib/postgresql/.pgpass'' channel_binding=prefer host=''/tmp/pgf-pg15-C4zq'' port=54915 application_name=envapp sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any'\nprimary_slot_name = 'myslot'\n",
  },
  {
    what: 'pg_basebackup (no host: default socket, default port)',
    params: {},
    env: {},
    slot: null,
    text: "primary_conninfo = 'user=postgres passfile=''/var/lib/postgresql/.pgpass'' channel_binding=prefer port=5432 sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any'\n",
  },
  {
    what: 'PGPASSFILE=/tmp/pp pg_basebackup -U postgres',
    params: { user: 'postgres' },
    env: { PGPASSFILE: '/tmp/pp' },
    slot: null,
    text: "primary_conninfo = 'user=postgres passfile=''/tmp/pp'' channel_binding=prefer port=5432 sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any'\n",
  },
];

describe('recovery config text', () => {
  for (const c of captured) {
    it(`matches pg_basebackup 15 for ${c.what}`, () => {
      const conninfo = buildPrimaryConninfo(c.params, { env: c.env, ...osUser });
      assert.equal(recoveryConfigContents({ serverVersionNum: 150004, primaryConninfo: conninfo, slotName: c.slot }), c.text);
    });
  }

  it('accepts options as ordered pairs and puts known keywords in libpq order', () => {
    const conninfo = buildPrimaryConninfo([['port', 5433], ['host', 'db1'], ['user', 'rep'], ['password', 'x']], { env: {}, ...osUser });
    assert.equal(conninfo, 'user=rep password=x channel_binding=prefer host=db1 port=5433 sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any');
  });

  it('without libpq defaults, writes exactly the given non-empty options', () => {
    const conninfo = buildPrimaryConninfo([['user', 'rep'], ['host', ''], ['dbname', 'x'], ['port', 5432]], { libpqDefaults: false });
    assert.equal(conninfo, 'user=rep port=5432');
  });

  it('appends dbname last when given (pg_basebackup 17 with -d dbname=...)', () => {
    const conninfo = buildPrimaryConninfo({ user: 'rep' }, { libpqDefaults: false, dbname: 'my db' });
    assert.equal(conninfo, "user=rep dbname='my db'");
  });

  it('quotes conninfo values as appendConnStrVal does', () => {
    assert.equal(quoteConninfoValue('abc_1.2'), 'abc_1.2');
    assert.equal(quoteConninfoValue('a b'), "'a b'");
    assert.equal(quoteConninfoValue("it's"), "'it\\'s'");
    assert.equal(quoteConninfoValue('C:\\x'), "'C:\\\\x'");
    assert.equal(quoteConninfoValue(''), "''");
  });

  it('doubles quotes and backslashes for the configuration file', () => {
    assert.equal(escapeConfigString("a'b\\c"), "a''b\\\\c");
  });

  it("writes standby_mode = 'on' for servers before 12", () => {
    assert.equal(
      recoveryConfigContents({ serverVersionNum: 110000, primaryConninfo: 'user=a', slotName: 's1' }),
      "standby_mode = 'on'\nprimary_conninfo = 'user=a'\nprimary_slot_name = 's1'\n",
    );
  });

  it('refuses a value with a control character (a newline from PGAPPNAME, say) instead of writing it into postgresql.auto.conf', () => {
    assert.throws(() => buildPrimaryConninfo({ host: '/tmp' }, { ...osUser, env: { PGAPPNAME: "x\nrestore_command = 'touch /tmp/owned'" } }), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.format(), 'connection option "application_name" contains a control character (newline), which postgresql.auto.conf cannot hold\n' +
        'HINT: -R writes the connection\'s options into primary_conninfo: correct "application_name" in the connection string or in PGAPPNAME.');
      return true;
    });
    assert.throws(() => buildPrimaryConninfo({ host: '/tmp', options: '-c a=b\r' }, osUser),
      { message: 'connection option "options" contains a control character (carriage return), which postgresql.auto.conf cannot hold' });
    assert.throws(() => buildPrimaryConninfo({ host: '/tmp' }, { ...osUser, dbname: 'db\u007f' }),
      { message: 'connection option "dbname" contains a control character (U+007F), which postgresql.auto.conf cannot hold' });
    assert.throws(() => recoveryConfigContents({ serverVersionNum: 150000, primaryConninfo: 'host=a\nport=1' }),
      { message: 'primary_conninfo contains a control character (newline), which postgresql.auto.conf cannot hold' });
    assert.throws(() => checkConfigValue('a\tb', '--x'), { message: '--x contains a control character (tab), which postgresql.auto.conf cannot hold' });
    // Anything printable passes, quotes and backslashes included.
    checkConfigValue("host='a b' password=x\\y é", '--x');
  });
});
