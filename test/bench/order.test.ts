import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balancedRounds } from './order.js';

/** How often each ordered pair (before, after) occurs in the stream of rounds. */
function pairCounts(rounds: string[][]): Map<string, number> {
  const stream = rounds.flat();
  const counts = new Map<string, number>();
  for (let i = 1; i < stream.length; i++) {
    const key = `${stream[i - 1]}>${stream[i]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

test('every round runs every tool once', () => {
  for (const n of [1, 2, 3, 4]) {
    const tools = ['a', 'b', 'c', 'd'].slice(0, n);
    for (const rounds of balancedRounds(tools, 5)) assert.deepEqual([...rounds].sort(), tools);
  }
});

test('four tools over three rounds: no tool follows the same tool twice, none follows itself', () => {
  const rounds = balancedRounds(['a', 'b', 'c', 'd'], 3);
  const counts = pairCounts(rounds);
  for (const [pair, n] of counts) {
    assert.equal(n, 1, `${pair} in ${JSON.stringify(rounds)}`);
    const [before, after] = pair.split('>');
    assert.notEqual(before, after);
  }
  // A plain rotation would put d after c in every round.
  assert.ok((counts.get('c>d') ?? 0) <= 1);
  assert.deepEqual(rounds.map((r) => r[0]), ['a', 'b', 'c']);
});

test('two tools alternate across round boundaries instead of running twice in a row', () => {
  assert.deepEqual(balancedRounds(['x', 'y'], 3), [['x', 'y'], ['x', 'y'], ['x', 'y']]);
  assert.deepEqual(balancedRounds(['x', 'y'], 2, 1), [['y', 'x'], ['y', 'x']]);
});

test('three tools over six rounds: each ordered pair of different tools occurs two to four times', () => {
  const counts = pairCounts(balancedRounds(['a', 'b', 'c'], 6));
  for (const a of ['a', 'b', 'c']) {
    assert.equal(counts.get(`${a}>${a}`) ?? 0, 0);
    for (const b of ['a', 'b', 'c']) if (a !== b) assert.ok([2, 3, 4].includes(counts.get(`${a}>${b}`) ?? 0), `${a}>${b}`);
  }
});

test('no tools, no rounds of work', () => {
  assert.deepEqual(balancedRounds([], 2), [[], []]);
  assert.deepEqual(balancedRounds(['a'], 0), []);
});
