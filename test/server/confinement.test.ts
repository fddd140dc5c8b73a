import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import { ApiClient } from '../../mount/remote/api-client.js';
import { LocalDiskBackend } from '../../server/storage/local-disk.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/**
 * Issue 10 item 1: a symlink an administrator left inside alice's folder resolves inside it, but
 * alice can move it (through the API alone) to where it points into bob's folder. The server
 * must never follow a symlink in storage, so racing renames with reads and writes through it
 * must never reach bob's files.
 */

let server: TestServer;
let alice: ApiClient;

const BOB_SECRET = 'BOB-SECRET-CONTENT';

before(async () => {
  ({ server, clients: [alice] } = await startServerWithClients(['alice']));
  const bobClient = new ApiClient({ server: server.url });
  await bobClient.login('bob', 'bob-pass');
  await bobClient.upload('secret.txt', () => BOB_SECRET);
  await bobClient.close();
  // What the administrator left: alice/d1/w/link -> ../../bob, i.e. alice/bob (inside her folder).
  // Alice moving the folder w up one level makes the same link point at bob's folder.
  const aliceRoot = join(server.storage, 'alice');
  await mkdir(join(aliceRoot, 'd1', 'w'), { recursive: true });
  await mkdir(join(aliceRoot, 'bob'));
  await writeFile(join(aliceRoot, 'bob', 'secret.txt'), 'alice-decoy');
  await symlink('../../bob', join(aliceRoot, 'd1', 'w', 'link'));
  await symlink('inside.txt', join(aliceRoot, 'file-link'));
  await writeFile(join(aliceRoot, 'inside.txt'), 'inside');
});

after(() => stopServerAndClients(server, [alice]));

test('symlinks found in storage are never followed, listed or acted on', { timeout: 30_000 }, async () => {
  const names = (await alice.list('/')).entries.map((e) => e.name).sort();
  assert.deepEqual(names, ['bob', 'd1', 'inside.txt'], 'a real symlink is not listed');
  assert.deepEqual((await alice.list('d1/w')).entries, []);
  await rejectsWith(alice.read('d1/w/link/secret.txt', 0, 100), 'ELOOP');
  await rejectsWith(alice.read('file-link', 0, 100), 'ELOOP');
  await rejectsWith(alice.stat('file-link'), 'ELOOP');
  await rejectsWith(alice.list('d1/w/link'), 'ELOOP');
  await rejectsWith(alice.upload('d1/w/link/new.txt', () => 'x'), 'ELOOP');
  await rejectsWith(alice.upload('file-link', () => 'x'), 'ELOOP');
  await rejectsWith(alice.setAttr('file-link', { mode: 0o600 }), 'ELOOP');
  await rejectsWith(alice.mkdir('d1/w/link/sub'), 'ELOOP');
  await rejectsWith(alice.rename('d1/w/link', 'moved'), 'ELOOP');
  await rejectsWith(alice.rename('inside.txt', 'file-link'), 'ELOOP');
  await rejectsWith(alice.rename('inside.txt', 'd1/w/link/x.txt'), 'ELOOP');
  await rejectsWith(alice.unlink('file-link'), 'ELOOP');
  assert.equal(await readFile(join(server.storage, 'alice', 'inside.txt'), 'utf8'), 'inside');
  assert.deepEqual(await readdir(join(server.storage, 'bob')), ['secret.txt']);
});

test('racing renames of an admin-made symlink with GET/PUT never reach another user', { timeout: 60_000 }, async () => {
  const token = alice.getToken()!;
  const pool = new Pool(server.url, { connections: 8 });
  const headers = { authorization: `Bearer ${token}` };
  let crossReads = 0;
  let requests = 0;
  const deadline = Date.now() + 4_000;
  const call = async (method: 'GET' | 'PUT' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> => {
    const res = await pool.request({ method, path: `/api/v1${path}`, headers: body === undefined ? headers : { ...headers, 'content-type': method === 'POST' ? 'application/json' : 'application/octet-stream' }, body: body ?? null });
    requests++;
    return { status: res.statusCode, text: await res.body.text() };
  };
  const renamer = async (): Promise<void> => {
    let deep = true;
    while (Date.now() < deadline) {
      const [from, to] = deep ? ['d1/w', 'w'] : ['w', 'd1/w'];
      const res = await call('POST', '/rename', JSON.stringify({ from, to }));
      if (res.status === 200) deep = !deep;
    }
  };
  const reader = async (): Promise<void> => {
    while (Date.now() < deadline) {
      for (const path of ['/files/w/link/secret.txt', '/files/d1/w/link/secret.txt']) {
        const res = await call('GET', path);
        if (res.text.includes(BOB_SECRET)) crossReads++;
      }
    }
  };
  let n = 0;
  const writer = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const i = n++;
      await call('PUT', `/files/w/link/planted-${i}.txt`, 'planted');
    }
  };
  try {
    await Promise.all([renamer(), renamer(), reader(), reader(), reader(), writer(), writer()]);
  } finally {
    await pool.close();
  }
  const planted = (await readdir(join(server.storage, 'bob'))).filter((name) => name.startsWith('planted-'));
  assert.ok(requests > 100, `the race ran (${requests} requests)`);
  assert.equal(crossReads, 0, `GETs that returned bob's file: ${crossReads}`);
  assert.deepEqual(planted, [], `files written into bob's folder: ${planted.length}`);
});

test('rm -r of a folder holding an admin-made symlink removes the link, never what it points to', { timeout: 30_000 }, async () => {
  await alice.mkdir('gone/inner', { parents: true });
  await symlink(join(server.storage, 'bob'), join(server.storage, 'alice', 'gone', 'inner', 'to-bob'));
  await alice.rmdir('gone', { recursive: true });
  await assert.rejects(readdir(join(server.storage, 'alice', 'gone')));
  assert.ok((await readdir(join(server.storage, 'bob'))).includes('secret.txt'));
});

test('usage of a user whose folder does not exist yet is 0', { timeout: 10_000 }, async () => {
  const backend = new LocalDiskBackend(server.storage);
  assert.deepEqual(await backend.usage('nobody-yet'), { bytes: 0, entries: 0 });
  await backend.close();
});

test('a storage folder removed under the running server comes back private (0700) at the next login', { timeout: 30_000 }, async () => {
  // Users' folders are 0755 (a mount's root is an ordinary folder): the storage folder's 0700 is
  // what keeps every other account on the server machine out of all of them.
  const own = await startServer();
  const client = new ApiClient({ server: own.url });
  try {
    await rm(own.storage, { recursive: true });
    await client.login('alice', 'alice-pass');
    assert.equal(((await stat(own.storage)).mode & 0o777).toString(8), '700');
    assert.ok((await stat(join(own.storage, 'alice'))).isDirectory());
  } finally {
    await client.close();
    await own.cleanup();
  }
});
