import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { startRedis, type TestRedis } from '../helpers/redis-process.js';
import { type TestServer, startServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

// --max-in-flight counts a user's requests across every server (slots in Redis). A server
// killed with the user's requests in flight kept their slots for the slots' 10 min lifetime:
// every other server answered that user 429 meanwhile. Real redis-server and rdrive-servers.

const T = { timeout: 90_000 };

async function login(url: string): Promise<string> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
  return ((await res.body.json()) as { token: string }).token;
}

async function stat(url: string, token: string): Promise<number> {
  const res = await request(`${url}/api/v1/stat/`, { headers: { authorization: `Bearer ${token}` } });
  await res.body.dump();
  return res.statusCode;
}

test('a killed server\'s requests in flight stop counting against the user once its heartbeat lapses', T, async () => {
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  const bodies = [new PassThrough(), new PassThrough()];
  try {
    redis = await startRedis();
    const args = ['--redis', redis.url, '--max-in-flight', '2'];
    const doomed = await startServer({ args });
    servers.push(doomed);
    // The same storage, so that both serve one user's files as servers behind one address do.
    const other = await startServer({ args: [...args, '--storage', doomed.storage, '--users', doomed.usersFile] });
    servers.push(other);
    const token = await login(other.url);
    // Two uploads that stall on the server about to die take the user's two slots.
    bodies.forEach((body, i) => {
      void request(`${doomed.url}/api/v1/files/slow${i}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body }).catch(() => undefined);
      body.write('start');
    });
    assert.equal(await waitFor(() => stat(other.url, token), (s) => s === 429, 10_000, 100), 429, 'both slots are taken');
    await doomed.stop('SIGKILL');
    // The heartbeat lapses 10 s after the kill; the slots' own lifetime is 10 min.
    const status = await waitFor(() => stat(other.url, token), (s) => s === 200, 25_000, 500);
    assert.equal(status, 200, 'the dead server\'s slots are given back');
  } finally {
    for (const body of bodies) body.destroy();
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await redis?.cleanup();
  }
});
