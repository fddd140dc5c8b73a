import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { sh } from '../helpers/mount-process.js';
import { startRedis, type TestRedis } from '../helpers/redis-process.js';
import { sharedStorage, type TestServer, startServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

// Two servers on one storage folder with their quota figure in Redis: writes, truncates,
// renames and removals of the same names through both at once must leave the figure equal to
// what the storage holds. It drifted by megabytes within a few rounds: each server measured
// what a change replaces under its own lock only, so both counted one old file as freed; a
// truncate counted the size a later stat saw (another server's truncate of the same file); a
// chmod counted an upload's change of size as its own.

const T = { timeout: 120_000 };
const USERS = { alice: 'alice-pass' };

async function login(url: string): Promise<string> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
  return ((await res.body.json()) as { token: string }).token;
}

async function send(url: string, token: string, method: string, path: string, body?: Buffer | string): Promise<number> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (typeof body === 'string') headers['content-type'] = 'application/json';
  const res = await request(`${url}/api/v1${path}`, { method: method as 'PUT', headers, ...(body === undefined ? {} : { body }) });
  await res.body.dump();
  return res.statusCode;
}

async function usedFigure(url: string, token: string): Promise<number> {
  const res = await request(`${url}/api/v1/statfs`, { headers: { authorization: `Bearer ${token}` } });
  return ((await res.body.json()) as { used: number }).used;
}

test('two servers changing the same names at once keep the shared quota figure equal to the storage', T, async () => {
  const tmp = await makeTempDir('rdrive-shared-quota-');
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  try {
    redis = await startRedis();
    const shared = await sharedStorage(tmp.path, redis.url, USERS);
    const { storage } = shared;
    const args = [...shared.args, '--quota', String(500 * 1024 * 1024)];
    for (let i = 0; i < 2; i++) servers.push(await startServer({ args }));
    const [a, b] = servers.map((s) => s.url) as [string, string];
    const [ta, tb] = [await login(a), await login(b)];
    // Small bodies (up to 256 KiB) are written under the lock, bigger ones through a temp file.
    const sizes = [700_000, 300_000, 5_000, 9_000];
    for (let round = 0; round < 40; round++) {
      const size = (i: number): number => sizes[(round + i) % 4]!;
      await Promise.all([
        send(a, ta, 'PUT', '/files/f.bin', Buffer.alloc(size(0), 1)),
        send(b, tb, 'PUT', '/files/f.bin', Buffer.alloc(size(1), 2)),
        send(a, ta, 'PATCH', '/attrs/f.bin', JSON.stringify({ size: size(2) })),
        send(b, tb, 'PATCH', '/attrs/f.bin', JSON.stringify({ size: 0 })),
        send(b, tb, 'PATCH', '/attrs/f.bin', JSON.stringify({ mode: 0o600 })),
        send(a, ta, 'PUT', '/files/g.bin', Buffer.alloc(size(2), 3)),
        send(b, tb, 'PUT', '/files/h.bin', Buffer.alloc(size(3), 4)),
      ]);
      // Both move a file onto the same name, then both remove it (one finds it gone).
      await Promise.all([
        send(a, ta, 'POST', '/rename', JSON.stringify({ from: 'g.bin', to: 'f.bin' })),
        send(b, tb, 'POST', '/rename', JSON.stringify({ from: 'h.bin', to: 'f.bin' })),
        send(a, ta, 'PUT', '/files/f.bin', Buffer.alloc(size(1), 5)),
      ]);
      if (round % 3 === 2) await Promise.all([send(a, ta, 'DELETE', '/files/f.bin'), send(b, tb, 'DELETE', '/files/f.bin')]);
    }
    const stored = Number((await sh(`find ${join(storage, 'alice')} -type f ! -name '.rdrive-tmp-*' -printf '%s\\n' | awk '{t+=$1} END {print t+0}'`)).stdout.trim());
    assert.equal(await usedFigure(a, ta), stored, 'the quota figure in Redis is what the storage holds');
    assert.equal((await sh(`find ${storage} -name '.rdrive-tmp-*' | wc -l`)).stdout.trim(), '0', 'no temp file left');
  } finally {
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await redis?.cleanup();
    await tmp.remove();
  }
});

// The entry limit (--max-entries) across servers: creates through both at once stop exactly at
// it, and removals through either give the room back to both.
test('two servers creating and removing entries at once stop exactly at the shared entry limit', T, async () => {
  const LIMIT = 30;
  const tmp = await makeTempDir('rdrive-shared-entries-');
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  try {
    redis = await startRedis();
    const shared = await sharedStorage(tmp.path, redis.url, USERS);
    const args = [...shared.args, '--max-entries', String(LIMIT), '--max-in-flight', '200'];
    for (let i = 0; i < 2; i++) servers.push(await startServer({ args }));
    const [a, b] = servers.map((s) => s.url) as [string, string];
    const [ta, tb] = [await login(a), await login(b)];
    const via = (i: number): [string, string] => (i % 2 === 0 ? [a, ta] : [b, tb]);
    const create = (i: number): Promise<number> => {
      const [url, token] = via(i);
      switch (i % 3) {
        case 0: return send(url, token, 'POST', `/dirs/n${i}`, '{}');
        case 1: return send(url, token, 'PUT', `/files/n${i}`, Buffer.from(`file ${i}`));
        default: return send(url, token, 'POST', `/symlinks/n${i}`, JSON.stringify({ target: 'x' }));
      }
    };
    const stored = async (): Promise<number> => Number((await sh(`find ${join(shared.storage, 'alice')} -mindepth 1 ! -name '.rdrive-tmp-*' | wc -l`)).stdout.trim());
    const entriesUsed = async (): Promise<number> => {
      const res = await request(`${a}/api/v1/statfs`, { headers: { authorization: `Bearer ${ta}` } });
      return ((await res.body.json()) as { entriesUsed: number }).entriesUsed;
    };
    let statuses = await Promise.all(Array.from({ length: 80 }, (_, i) => create(i)));
    assert.equal(statuses.filter((s) => s === 200 || s === 201).length, LIMIT, `exactly the limit made: ${statuses.join(',')}`);
    assert.equal(statuses.filter((s) => s === 507).length, 80 - LIMIT, 'the rest refused with 507 (EDQUOT)');
    assert.equal(await stored(), LIMIT);
    assert.equal(await entriesUsed(), LIMIT);

    // Remove 20 through both servers while creating 40 through both.
    const made = statuses.flatMap((s, i) => (s === 200 || s === 201 ? [i] : [])).slice(0, 20);
    const removals = made.map((i) => {
      const [url, token] = via(i + 1);
      return send(url, token, 'DELETE', i % 3 === 0 ? `/dirs/n${i}` : `/files/n${i}`);
    });
    statuses = await Promise.all([...removals, ...Array.from({ length: 40 }, (_, i) => create(100 + i))]);
    assert.deepEqual(statuses.slice(0, 20).filter((s) => s !== 204), [], 'every removal done');
    const now = await stored();
    assert.ok(now <= LIMIT, `${now} entries stored, over the limit`);
    assert.equal(await entriesUsed(), now, 'the shared figure is what the storage holds');
    statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => create(200 + i)));
    assert.equal(statuses.filter((s) => s === 200 || s === 201).length, LIMIT - now, 'the room given back, no more');
    assert.equal(await stored(), LIMIT);
    assert.equal(await entriesUsed(), LIMIT);
  } finally {
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await redis?.cleanup();
    await tmp.remove();
  }
});
