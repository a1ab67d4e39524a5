// maskConninfo: the one function that hides passwords in connection strings shown or logged.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maskConninfo, parseConninfo } from '../../src/index.js';

describe('maskConninfo', () => {
  test('keyword/value: plain, quoted, escaped, spaced, several', () => {
    assert.equal(maskConninfo('host=a password=s3cret user=b'), 'host=a password=******** user=b');
    assert.equal(maskConninfo("host=a password='se cret' user=b"), 'host=a password=******** user=b');
    assert.equal(maskConninfo("host=a password = 'it\\'s \\\\ x' user=b"), 'host=a password = ******** user=b');
    assert.equal(maskConninfo('password=a\\ b host=c'), 'password=******** host=c');
    assert.equal(maskConninfo('password=x password=y'), 'password=******** password=********');
    assert.equal(maskConninfo("password=''"), 'password=********');
    // Only the keyword "password": passfile and values that merely contain the word stay.
    assert.equal(maskConninfo('passfile=/p application_name=password=x'), 'passfile=/p application_name=password=x');
    assert.equal(maskConninfo('host=a user=b'), 'host=a user=b');
    assert.equal(maskConninfo(''), '');
  });

  test('keyword/value: a dbname that is itself a connection string is masked inside', () => {
    const masked = maskConninfo("dbname='postgresql://u:pw@h/db' host=x");
    assert.equal(masked, "dbname='postgresql://u:********@h/db' host=x");
    assert.equal(parseConninfo(masked)['dbname'], 'postgresql://u:********@h/db');
    assert.equal(maskConninfo("dbname='host=h password=pw'"), "dbname='host=h password=********'");
    assert.equal(maskConninfo('dbname=postgres'), 'dbname=postgres');
  });

  test('keyword/value that libpq would refuse: masked from the first password on', () => {
    assert.equal(maskConninfo("host=a password='unterminated user=b"), 'host=a password=********');
    assert.equal(maskConninfo('host password=x'), 'host password=********');
    assert.equal(maskConninfo('garbage'), 'garbage');
  });

  test('URIs: user:password@, ?password=, both schemes, encoded and odd characters', () => {
    assert.equal(maskConninfo('postgresql://u:pw@h:5/db?password=x&sslmode=require'),
      'postgresql://u:********@h:5/db?password=********&sslmode=require');
    assert.equal(maskConninfo('postgres://u:p%40ss@h/db'), 'postgres://u:********@h/db');
    assert.equal(maskConninfo('postgresql://u:p?ss@h/db'), 'postgresql://u:********@h/db');
    assert.equal(maskConninfo('postgresql://u@h/db'), 'postgresql://u@h/db');
    assert.equal(maskConninfo('postgresql://h/db?user=u&password=%2Fx#frag'), 'postgresql://h/db?user=u&password=********#frag');
    assert.equal(maskConninfo('postgresql:///db?host=/tmp&pass%77ord=x'), 'postgresql:///db?host=/tmp&pass%77ord=********');
    assert.equal(maskConninfo('postgresql://u:@h'), 'postgresql://u:********@h');
    assert.equal(maskConninfo('postgresql://'), 'postgresql://');
    assert.equal(maskConninfo('postgresql://h/db?dbname=host%3Dx%20password%3Dy'), 'postgresql://h/db?dbname=host%3Dx%20password%3D********');
  });

  test('a masked string still parses to the same keywords, password aside', () => {
    for (const text of ["host=a port=5432 password='x y' user=b", 'postgresql://u:pw@h:5/db?sslmode=disable&password=z']) {
      const before = parseConninfo(text);
      const after = parseConninfo(maskConninfo(text));
      assert.equal(after['password'], '********');
      delete before['password'];
      delete after['password'];
      assert.deepEqual(after, before);
    }
  });
});
