import assert from 'node:assert/strict';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { encodeExtentHeader } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import type { ApiClient } from '../../mount/remote/api-client.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import type { TestServer } from '../helpers/server-process.js';

/** Issue 11: the owner a mount shows is data stored with each entry; it never changes who owns what on the server. */

let server: TestServer;
let alice: ApiClient;
let bob: ApiClient;

before(async () => {
  ({ server, clients: [alice, bob] } = await startServerWithClients(['alice', 'bob']));
});

after(() => stopServerAndClients(server, [alice, bob]));

const T = { timeout: 30_000 };

const ownerOf = async (client: ApiClient, path: string) => client.stat(path).then((a) => [a.uid, a.gid]);

test('no owner until one is set; chown stores it, stat and list report it', T, async () => {
  await alice.upload('f', () => 'content');
  assert.deepEqual(await ownerOf(alice, 'f'), [undefined, undefined]);
  const attr = await alice.setAttr('f', { uid: 65534, gid: 100 });
  assert.deepEqual([attr.uid, attr.gid], [65534, 100]);
  assert.deepEqual(await ownerOf(alice, 'f'), [65534, 100]);
  const listed = (await alice.list('')).entries.find((e) => e.name === 'f');
  assert.deepEqual([listed?.uid, listed?.gid], [65534, 100]);
  await alice.setAttr('', { uid: 7, gid: 8 });
  assert.deepEqual(await ownerOf(alice, ''), [7, 8], 'the root folder too');
});

test('created with an owner: mkdir, PUT, symlink, node', T, async () => {
  assert.deepEqual(await alice.mkdir('d', { mode: 0o755, uid: 1, gid: 2 }).then((a) => [a.uid, a.gid]), [1, 2]);
  assert.deepEqual(await alice.upload('d/new', () => 'x', { exclusive: true, owner: { uid: 3, gid: 4 } }).then((a) => [a.uid, a.gid]), [3, 4]);
  assert.deepEqual(await alice.symlink('d/l', 'new', { uid: 5, gid: 6 }).then((a) => [a.uid, a.gid]), [5, 6]);
  assert.deepEqual(await alice.mknod('d/p', { type: 'fifo', uid: 7, gid: 8 }).then((a) => [a.uid, a.gid]), [7, 8]);
  assert.deepEqual(await ownerOf(alice, 'd/l'), [5, 6]);
  assert.deepEqual(await ownerOf(alice, 'd/p'), [7, 8]);
});

test('the owner survives a whole upload, a patch, a chmod of a node, a rename and a server restart', T, async () => {
  await alice.upload('kept', () => 'v1');
  await alice.setAttr('kept', { uid: 1000, gid: 1000 });
  await alice.upload('kept', () => 'v2, replaced through temp file + rename');
  assert.deepEqual(await ownerOf(alice, 'kept'), [1000, 1000], 'after PUT');
  await alice.patch('kept', () => Buffer.concat([encodeExtentHeader(0, 2), Buffer.from('V2')]));
  assert.deepEqual(await ownerOf(alice, 'kept'), [1000, 1000], 'after PATCH');
  await alice.mknod('pipe', { type: 'fifo', mode: 0o644, uid: 9, gid: 9 });
  await alice.setAttr('pipe', { mode: 0o600 });
  assert.deepEqual(await ownerOf(alice, 'pipe'), [9, 9], 'after a node chmod');
  await alice.rename('kept', 'moved');
  assert.deepEqual(await ownerOf(alice, 'moved'), [1000, 1000], 'after rename');
  await server.restart();
  await alice.login('alice', 'alice-pass');
  assert.deepEqual(await ownerOf(alice, 'moved'), [1000, 1000], 'after a restart');
  await bob.login('bob', 'bob-pass');
});

test('a refused chown changes no owner; a PUT that replaces a file keeps the file\'s owner', T, async () => {
  await alice.mkdir('refused-dir');
  await rejectsWith(alice.setAttr('refused-dir', { uid: 0, gid: 0, size: 5 }), 'EISDIR');
  await alice.symlink('refused-link', 'nowhere');
  await rejectsWith(alice.setAttr('refused-link', { uid: 0, gid: 0, mode: 0o644 }), 'EOPNOTSUPP');
  await alice.mknod('refused-pipe', { type: 'fifo' });
  await rejectsWith(alice.setAttr('refused-pipe', { uid: 0, gid: 0, size: 5 }), 'EINVAL');
  for (const name of ['refused-dir', 'refused-link', 'refused-pipe']) assert.deepEqual(await ownerOf(alice, name), [undefined, undefined], name);

  await alice.upload('owned', () => 'v1');
  await alice.setAttr('owned', { uid: 1000, gid: 1000 });
  await alice.upload('owned', () => 'v2', { owner: { uid: 0, gid: 0 } });
  assert.deepEqual(await ownerOf(alice, 'owned'), [1000, 1000], 'small replace');
  const big = Buffer.alloc(512 * 1024, 7);
  const attr = await alice.upload('owned', () => big, { owner: { uid: 0, gid: 0 } });
  assert.deepEqual([attr.uid, attr.gid], [1000, 1000], 'the answer tells the owner kept');
  assert.deepEqual(await ownerOf(alice, 'owned'), [1000, 1000], 'large replace');
});

test('chown drops setuid/setgid of a file as Linux does; a mode sent with it wins', T, async () => {
  await alice.upload('suid', () => '#!/bin/sh\n', { mode: 0o6755 });
  assert.equal((await alice.setAttr('suid', { uid: 0, gid: 0 })).mode, 0o755);
  await alice.setAttr('suid', { mode: 0o4755 });
  assert.equal((await alice.setAttr('suid', { uid: 1, gid: 1, mode: 0o4755 })).mode, 0o4755);
  await alice.mkdir('sgid', { mode: 0o2775 });
  assert.equal((await alice.setAttr('sgid', { uid: 1, gid: 1 })).mode, 0o2775, 'a directory keeps setgid');
});

test('abuse: chown is metadata only, of your own entries only, and checked', T, async () => {
  await alice.upload('mine', () => 'alice only');
  await alice.setAttr('mine', { uid: 0, gid: 0 });
  // The real owner on the server's disk is untouched (still the server's own account).
  const onDisk = await lstat(join(server.storage, 'alice', 'mine'));
  assert.equal(onDisk.uid, process.getuid?.());
  // Bob's "mine" is his own namespace: alice's file is out of reach, whatever owner it shows.
  await rejectsWith(bob.setAttr('mine', { uid: 1, gid: 1 }), 'ENOENT');
  await assert.rejects(bob.setAttr('../alice/mine', { uid: 1, gid: 1 }), RdriveError, 'no way up out of bob\'s folder');
  assert.deepEqual(await ownerOf(alice, 'mine'), [0, 0]);
  // Bad ids are refused and change nothing.
  for (const body of [{ uid: -1, gid: 0 }, { uid: 4294967295, gid: 0 }, { uid: 1 }, { uid: 'root', gid: 0 }]) {
    await rejectsWith(alice.setAttr('mine', body as { uid: number; gid: number }), 'EINVAL');
  }
  const res = await request(`${server.url}/api/v1/files/other`, {
    method: 'PUT', body: 'x', headers: { authorization: `Bearer ${alice.getToken()}`, 'x-rdrive-owner': '0:0:0' },
  });
  assert.equal(res.statusCode, 400);
  await res.body.dump();
  await rejectsWith(alice.stat('other'), 'ENOENT');
  assert.deepEqual(await ownerOf(alice, 'mine'), [0, 0]);
});
