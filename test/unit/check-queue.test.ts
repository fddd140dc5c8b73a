import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PasswordCheckQueue } from '../../server/auth/check-queue.js';

/** A check that ends when the test says so, recording when it started. */
function controlled(started: string[], name: string): { check: () => Promise<string>; finish: () => void } {
  let finish = (): void => undefined;
  const done = new Promise<void>((resolve) => { finish = resolve; });
  return {
    check: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('checks run at most N at once, each address at most M queued or running, turns round-robin', async () => {
  const queue = new PasswordCheckQueue(2, 2);
  const started: string[] = [];
  const checks = new Map<string, ReturnType<typeof controlled>>();
  const runs = new Map<string, ReturnType<PasswordCheckQueue['run']>>();
  const send = (address: string, name: string): void => {
    const c = controlled(started, name);
    checks.set(name, c);
    runs.set(name, queue.run(address, c.check));
  };
  send('a', 'a1');
  send('a', 'a2');
  assert.deepEqual(await queue.run('a', async () => 'a3'), { ran: false, why: 'busy' }, 'a third from one address is refused, not run');
  send('b', 'b1');
  send('b', 'b2');
  send('c', 'c1');
  send('c', 'c2');
  send('d', 'd1');
  await tick();
  assert.deepEqual(started, ['a1', 'a2'], 'two at once');
  // Turns go round the addresses waiting: b, c, d, then b and c again (not b1, b2, c1 ...).
  for (const name of ['a1', 'a2', 'b1', 'c1', 'd1', 'b2']) {
    checks.get(name)!.finish();
    assert.deepEqual(await runs.get(name), { ran: true, value: name });
    await tick();
  }
  assert.deepEqual(started, ['a1', 'a2', 'b1', 'c1', 'd1', 'b2', 'c2']);
  checks.get('c2')!.finish();
  assert.deepEqual(await runs.get('c2'), { ran: true, value: 'c2' });
  // Every slot is back: an address may send two again.
  send('a', 'a4');
  send('a', 'a5');
  await tick();
  assert.deepEqual(started.slice(-2), ['a4', 'a5']);
  checks.get('a4')!.finish();
  checks.get('a5')!.finish();
  await Promise.all([runs.get('a4'), runs.get('a5')]);
});

test('a check whose client left while waiting is dropped, never run, and frees its place', async () => {
  const queue = new PasswordCheckQueue(1, 2);
  const started: string[] = [];
  const first = controlled(started, 'first');
  const running = queue.run('a', first.check);
  const left = new AbortController();
  const gone = queue.run('b', async () => { started.push('gone'); return 'gone'; }, left.signal);
  const next = controlled(started, 'next');
  const waiting = queue.run('c', next.check);
  await tick();
  left.abort();
  assert.deepEqual(await gone, { ran: false, why: 'gone' });
  first.finish();
  await running;
  await tick();
  assert.deepEqual(started, ['first', 'next']);
  next.finish();
  await waiting;
  // A check that throws still gives its slot back.
  await assert.rejects(queue.run('b', async () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual(await queue.run('b', async () => 'ok'), { ran: true, value: 'ok' });
});
