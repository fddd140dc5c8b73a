import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedCounter } from '../../server/state/keyed-counter.js';

test('a keyed counter counts per key and forgets a key once its count is back to zero', () => {
  const counter = new KeyedCounter();
  assert.equal(counter.add('a'), 1);
  assert.equal(counter.add('a'), 2);
  assert.equal(counter.add('b'), 1);
  counter.remove('a');
  assert.equal(counter.get('a'), 1);
  counter.remove('a');
  counter.remove('a');
  assert.equal(counter.get('a'), 0);
  assert.equal(counter.add('a'), 1, 'an extra remove does not leave a negative count behind');
  assert.equal(counter.get('b'), 1);
});
