import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { startServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

// Issue 10 item 6: failed logins must keep brute force off without letting a stranger lock a
// user out. Different client addresses are loopback aliases (127.0.0.x) bound as the source.
const T = { timeout: 150_000 };

const agents: Agent[] = [];
function from(address: string): Agent {
  const agent = new Agent({ localAddress: address });
  agents.push(agent);
  return agent;
}

async function login(url: string, agent: Agent, user: string, password: string): Promise<{ status: number; retryAfter: number | undefined }> {
  const res = await request(`${url}/api/v1/session`, {
    method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }),
  });
  await res.body.dump();
  const retry = res.headers['retry-after'];
  return { status: res.statusCode, retryAfter: typeof retry === 'string' ? Number(retry) : undefined };
}

test('login throttling: per pair, per address, progressive per name; a stranger cannot lock the owner out', T, async () => {
  const server = await startServer({ args: ['--login-attempts', '3', '--max-clients', '100'] });
  try {
    const owner = from('127.0.0.2');
    assert.equal((await login(server.url, owner, 'alice', 'alice-pass')).status, 201, 'the owner logs in from their usual address');

    // A stranger guesses alice's password from several addresses, far past every limit.
    for (const address of ['127.0.0.3', '127.0.0.4', '127.0.0.5']) {
      const stranger = from(address);
      const seen: number[] = [];
      for (let i = 0; i < 5; i++) seen.push((await login(server.url, stranger, 'alice', `guess-${i}`)).status);
      assert.ok(seen.includes(429), `the stranger at ${address} is throttled: ${seen.join(',')}`);
    }
    // Brute force from one address: once throttled, even the right password is refused there.
    assert.equal((await login(server.url, from('127.0.0.3'), 'alice', 'alice-pass')).status, 429);

    // The owner is not locked out: their address has its own count and is exempt from the
    // name's back-off; a typo there is an ordinary 401.
    assert.equal((await login(server.url, owner, 'alice', 'typo')).status, 401);
    assert.equal((await login(server.url, owner, 'alice', 'alice-pass')).status, 201);

    // One address spraying many names is throttled as an address (5 × 3 failures).
    const sprayer = from('127.0.0.6');
    const spray: number[] = [];
    for (let i = 0; i < 16; i++) spray.push((await login(server.url, sprayer, `user${i}`, 'guess')).status);
    assert.deepEqual(spray.slice(0, 15), Array(15).fill(401));
    assert.equal(spray[15], 429, 'the 16th failure from one address is refused');
    assert.equal((await login(server.url, sprayer, 'bob', 'bob-pass')).status, 429, 'that address waits even for a right password');
    assert.equal((await login(server.url, owner, 'bob', 'bob-pass')).status, 201, 'other addresses are not affected');
  } finally {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await server.cleanup();
  }
});

test('distributed guessing slows down progressively per name', T, async () => {
  const server = await startServer({ args: ['--login-attempts', '3'] });
  try {
    // Three failures on carol's name from three addresses: each pair is well under its limit.
    for (let i = 10; i < 13; i++) assert.equal((await login(server.url, from(`127.0.0.${i}`), 'carol', 'guess')).status, 401);
    // From here every new address waits after each failure, the wait doubling.
    const waits: number[] = [];
    for (let i = 13; i < 15; i++) {
      const guesser = from(`127.0.0.${i}`);
      const refused = await login(server.url, guesser, 'carol', 'guess');
      assert.equal(refused.status, 429, 'a fresh address must wait too');
      waits.push(refused.retryAfter ?? 0);
      const allowed = await waitFor(() => login(server.url, guesser, 'carol', 'guess'), (r) => r.status !== 429, 10_000, 200);
      assert.equal(allowed.status, 401, 'after the wait one more guess goes through');
    }
    assert.ok(waits[0]! >= 1, `first wait ${waits[0]} s`);
    assert.ok(waits[1]! > waits[0]!, `the wait grows: ${waits.join(', ')} s`);
  } finally {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await server.cleanup();
  }
});

test('logins refused without a password check (no password, a full server) leave nothing behind: a flood of long names does not run the server out of memory', T, async () => {
  // A 64 MiB heap: what the limiters kept of each refused login (its name as sent, for 15
  // minutes) filled it within a few thousand 15 KB names.
  const server = await startServer({ args: ['--max-clients', '1'], nodeArgs: ['--max-old-space-size=64'] });
  const agent = new Agent({ connections: 8 });
  try {
    const owner = await request(`${server.url}/api/v1/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }),
    });
    const { token } = await owner.body.json() as { token: string };
    const pad = 'n'.repeat(15_000);
    const seen = new Map<number, number>();
    let next = 0;
    // Half send no password (400), half a password while alice holds the one session (503).
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < 8000; i = next++) {
        const body = JSON.stringify(i % 2 === 0 ? { user: `${i}${pad}` } : { user: `${i}${pad}`, password: 'guess' });
        const res = await request(`${server.url}/api/v1/session`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body });
        await res.body.dump();
        seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...seen.entries()].sort(), [[400, 4000], [503, 4000]], 'each refused at once, none checked');
    const after = await request(`${server.url}/api/v1/statfs`, { headers: { authorization: `Bearer ${token}` } });
    await after.body.dump();
    assert.equal(after.statusCode, 200, 'the server is still up and the owner\'s session still works');
    assert.equal(server.process.exitCode, null, server.stderr().slice(-500));
  } finally {
    await agent.close();
    await server.cleanup();
  }
});

test('logins counted as failures keep only a digest of the name tried: long names sent in a flood do not run the server out of memory', T, async () => {
  // Many failures allowed per address, so one address stands for many: each failure (a wrong
  // password, or a login sent while the address had its two checks going) was a record holding
  // the name as sent, for 15 minutes.
  const server = await startServer({ args: ['--login-attempts', '2000'], nodeArgs: ['--max-old-space-size=64'] });
  const agent = new Agent({ connections: 8 });
  try {
    const pad = 'n'.repeat(15_000);
    const seen = new Map<number, number>();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < 5000; i = next++) {
        const res = await request(`${server.url}/api/v1/session`, {
          method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: `${i}${pad}`, password: 'guess' }),
        });
        await res.body.dump();
        seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...seen.keys()].filter((s) => s !== 401 && s !== 429), [], `only refusals: ${[...seen.entries()].join(' ')}`);
    assert.equal((await login(server.url, from('127.0.0.2'), 'alice', 'alice-pass')).status, 201, 'the server is still up');
    assert.equal(server.process.exitCode, null, server.stderr().slice(-500));
  } finally {
    await agent.close();
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await server.cleanup();
  }
});
