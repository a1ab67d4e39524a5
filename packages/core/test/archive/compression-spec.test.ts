import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/errors.js';
import {
  compressionFromFileName, compressionSuffix, parseCompressionSpec,
} from '../../src/archive/compression-spec.js';

function rejects(option: string, message: string): void {
  assert.throws(() => parseCompressionSpec(option), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `${option}: ${String(err)}`);
    assert.equal(err.message, message, option);
    return true;
  });
}

describe('parseCompressionSpec', () => {
  it('-z is client gzip at the default level', () => {
    assert.deepEqual(parseCompressionSpec('gzip'), { location: 'client', method: 'gzip', level: -1, workers: null, longDistance: null, detail: null });
  });

  it('a bare integer means gzip at that level, 0 means none', () => {
    assert.deepEqual(parseCompressionSpec('5'), { location: 'client', method: 'gzip', level: 5, workers: null, longDistance: null, detail: '5' });
    assert.equal(parseCompressionSpec('0').method, 'none');
    assert.equal(parseCompressionSpec('client-9').level, 9);
    assert.deepEqual(parseCompressionSpec('server-0'), { location: 'server', method: 'none', level: 0, workers: null, longDistance: null, detail: null });
  });

  it('reads levels, workers and long for zstd', () => {
    assert.deepEqual(parseCompressionSpec('zstd:level=7,workers=2,long'), { location: 'client', method: 'zstd', level: 7, workers: 2, longDistance: true, detail: 'level=7,workers=2,long' });
    assert.equal(parseCompressionSpec('zstd:long=off').longDistance, false);
    assert.equal(parseCompressionSpec('client-zstd:-5').level, -5);
    assert.equal(parseCompressionSpec('zstd').level, 3);
    assert.equal(parseCompressionSpec('lz4').level, 0);
    assert.equal(parseCompressionSpec('lz4:12').level, 12);
    assert.equal(parseCompressionSpec('gzip:level=1').level, 1);
  });

  it('leaves server-side details to the server', () => {
    assert.deepEqual(parseCompressionSpec('server-zstd:level=99,bogus'), { location: 'server', method: 'zstd', level: 3, workers: null, longDistance: null, detail: 'level=99,bogus' });
    assert.equal(parseCompressionSpec('gzip', { target: true }).location, 'server');
    assert.equal(parseCompressionSpec('client-gzip', { target: true }).location, 'client');
  });

  it('rejects what pg_basebackup rejects, with its messages', () => {
    rejects('turkey', 'unrecognized compression algorithm: "turkey"');
    rejects('client-GZIP', 'unrecognized compression algorithm: "GZIP"');
    rejects('server-turkey:sandwich', 'unrecognized compression algorithm: "turkey"');
    rejects('gzip:0', 'invalid compression specification: compression algorithm "gzip" expects a compression level between 1 and 9 (default at -1)');
    rejects('gzip:10', 'invalid compression specification: compression algorithm "gzip" expects a compression level between 1 and 9 (default at -1)');
    rejects('lz4:13', 'invalid compression specification: compression algorithm "lz4" expects a compression level between 1 and 12 (default at 0)');
    rejects('zstd:23', 'invalid compression specification: compression algorithm "zstd" expects a compression level between -131072 and 22 (default at 3)');
    rejects('none:1', 'invalid compression specification: compression algorithm "none" does not accept a compression level');
    rejects('gzip:workers=3', 'invalid compression specification: compression algorithm "gzip" does not accept a worker count');
    rejects('lz4:long', 'invalid compression specification: compression algorithm "lz4" does not support long-distance mode');
    rejects('zstd:level', 'invalid compression specification: compression option "level" requires a value');
    rejects('zstd:level=x', 'invalid compression specification: value for compression option "level" must be an integer');
    rejects('zstd:long=maybe', 'invalid compression specification: value for compression option "long" must be a Boolean value');
    rejects('zstd:level=3,', 'invalid compression specification: found empty string where a compression option was expected');
    rejects('gzip:', 'invalid compression specification: found empty string where a compression option was expected');
    rejects('zstd:speed=3', 'invalid compression specification: unrecognized compression option: "speed"');
  });
});

describe('archive names', () => {
  it('maps methods to suffixes and back', () => {
    for (const method of ['none', 'gzip', 'lz4', 'zstd'] as const) {
      assert.equal(compressionFromFileName(`base.tar${compressionSuffix(method)}`), method);
    }
    assert.equal(compressionFromFileName('16384.tgz'), 'gzip');
    assert.equal(compressionFromFileName('base.tar.bz2'), null);
  });
});
