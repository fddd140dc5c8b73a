import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { startServer } from '../helpers/server-process.js';

// A password check is a full scrypt (~128 MiB, about a second) whatever the name: unknown names
// pay it on a dummy hash, so timing cannot tell which names exist. Wrong logins must not be able
// to queue such checks up in front of everyone else's. Addresses are loopback aliases (127.0.0.x).
const T = { timeout: 120_000 };

const agents: Agent[] = [];
function from(address: string): Agent {
  const agent = new Agent({ localAddress: address });
  agents.push(agent);
  return agent;
}

interface Answer {
  status: number;
  retryAfter: number | undefined;
  ms: number;
}

async function login(url: string, agent: Agent, user: string, password: string): Promise<Answer> {
  const started = performance.now();
  const res = await request(`${url}/api/v1/session`, {
    method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }),
  });
  await res.body.dump();
  const retry = res.headers['retry-after'];
  return { status: res.statusCode, retryAfter: typeof retry === 'string' ? Number(retry) : undefined, ms: performance.now() - started };
}

/** What one password check costs on this machine now: a wrong name, alone. */
async function oneCheckMs(url: string): Promise<number> {
  // The first unknown name also makes the dummy hash (a second scrypt): not the usual cost.
  const agent = from('127.0.0.9');
  assert.equal((await login(url, agent, 'nobody-at-all', 'guess')).status, 401);
  const alone = await login(url, agent, 'nobody-either', 'guess');
  assert.equal(alone.status, 401);
  return alone.ms;
}

test('wrong logins from one address do not queue up checks in front of a right login', T, async (t) => {
  const server = await startServer({ args: ['--login-attempts', '3', '--max-clients', '100'] });
  try {
    const check = await oneCheckMs(server.url);
    // Twelve wrong names at once from one address (each a full check on the dummy hash).
    const attacker = from('127.0.0.2');
    const flood = Array.from({ length: 12 }, (_, i) => login(server.url, attacker, `nobody${i}`, 'guess'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const owner = await login(server.url, from('127.0.0.3'), 'alice', 'alice-pass');
    const answers = await Promise.all(flood);

    assert.equal(owner.status, 201);
    t.diagnostic(`one check ${Math.round(check)} ms; the right login ${Math.round(owner.ms)} ms; statuses ${answers.map((a) => a.status).join(',')}`);
    // Before: the owner's check queued behind all twelve in libuv's pool (12.3 s against 1.35 s
    // idle by hand). Now it waits for at most the one check it finds running, then its own.
    assert.ok(owner.ms < 2.5 * check + 500, `a right login from another address took ${Math.round(owner.ms)} ms; one check takes ${Math.round(check)} ms`);
    const computed = answers.filter((a) => a.status === 401);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(computed.length + refused.length, 12, `statuses: ${answers.map((a) => a.status).join(',')}`);
    assert.ok(computed.length <= 2, `one address has at most 2 checks at once; ${computed.length} were computed`);
    assert.ok(refused.every((a) => a.retryAfter !== undefined && a.retryAfter >= 1), 'refused with Retry-After');
    assert.ok(refused.every((a) => a.ms < check / 2), `refused at once, not after a check: ${refused.map((a) => Math.round(a.ms)).join(',')} ms`);

    // The refusals count against the address like wrong passwords (5 × 3 per 15 min): 12 so
    // far, so three more guesses, then the address waits.
    const next: number[] = [];
    for (let i = 0; i < 4; i++) next.push((await login(server.url, attacker, `later${i}`, 'guess')).status);
    assert.deepEqual(next, [401, 401, 401, 429]);
  } finally {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await server.cleanup();
  }
});

test('a login refused because the server is full pays no password check', T, async () => {
  const server = await startServer({ args: ['--max-clients', '1'] });
  try {
    const check = await oneCheckMs(server.url);
    assert.equal((await login(server.url, from('127.0.0.2'), 'alice', 'alice-pass')).status, 201);
    // A wrong name and a right password of another user look alike: 503 at once, same answer.
    const stranger = await login(server.url, from('127.0.0.3'), 'nobody', 'guess');
    const bob = await login(server.url, from('127.0.0.4'), 'bob', 'bob-pass');
    for (const refused of [stranger, bob]) {
      assert.equal(refused.status, 503);
      assert.ok(refused.retryAfter !== undefined && refused.retryAfter >= 1);
      assert.ok(refused.ms < check / 2, `answered in ${Math.round(refused.ms)} ms; a check takes ${Math.round(check)} ms`);
    }
  } finally {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await server.cleanup();
  }
});
