import assert from 'node:assert/strict';
import { test } from 'node:test';
import { didYouMean, editDistance } from '../../src/config/did-you-mean.js';

test('edit distance counts insertions, deletions, substitutions and swaps of neighbours', () => {
  assert.equal(editDistance('parallel', 'parallel'), 0);
  assert.equal(editDistance('paralel', 'parallel'), 1);
  assert.equal(editDistance('repositroy', 'repository'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

test('a typo of a known name is recognised; an unrelated name is not', () => {
  const known = ['listen', 'repository', 'parallel', 'allowedRoots', 'walMethod'];
  assert.equal(didYouMean('paralel', known), 'parallel');
  assert.equal(didYouMean('allowedroots', known), 'allowedRoots');
  assert.equal(didYouMean('walmethod', known), 'walMethod');
  assert.equal(didYouMean('lisen', known), 'listen');
  assert.equal(didYouMean('colour', known), null);
  assert.equal(didYouMean('x', known), null);
});
