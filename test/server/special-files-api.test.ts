import assert from 'node:assert/strict';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiClient } from '../../mount/remote/api-client.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import type { TestServer } from '../helpers/server-process.js';

/** Issue 11: FIFOs, sockets and device nodes are stored as data; the server never opens one as such. */

let server: TestServer;
let alice: ApiClient;

before(async () => {
  ({ server, clients: [alice] } = await startServerWithClients(['alice']));
});

after(() => stopServerAndClients(server, [alice]));

const T = { timeout: 30_000 };

test('create each type; stat and list report type, mode and rdev', T, async () => {
  const fifo = await alice.mknod('fifo', { type: 'fifo', mode: 0o640 });
  assert.equal(fifo.type, 'fifo');
  assert.equal(fifo.mode, 0o640);
  assert.equal(fifo.size, 0);
  assert.equal(fifo.rdev, undefined);
  const dev = await alice.mknod('null', { type: 'char', mode: 0o666, rdev: 0x103 });
  assert.deepEqual([dev.type, dev.rdev], ['char', 0x103]);
  await alice.mknod('blk', { type: 'block', mode: 0o600, rdev: 0x801 });
  await alice.mknod('sock', { type: 'socket', mode: 0o755, rdev: 99 });
  assert.deepEqual(await alice.stat('blk').then((a) => [a.type, a.mode, a.rdev]), ['block', 0o600, 0x801]);
  const listed = Object.fromEntries((await alice.list('')).entries.map((e) => [e.name, [e.type, e.mode, e.rdev]]));
  assert.deepEqual(listed, { fifo: ['fifo', 0o640, undefined], null: ['char', 0o666, 0x103], blk: ['block', 0o600, 0x801], sock: ['socket', 0o755, undefined] });
  await rejectsWith(alice.mknod('fifo', { type: 'fifo' }), 'EEXIST');
  await rejectsWith(alice.mknod('odd', { type: 'door' as 'fifo' }), 'EINVAL');
  await rejectsWith(alice.mknod('neg', { type: 'char', rdev: -1 }), 'EINVAL');
});

test('a stored device node is a plain file on the server: never a device, never opened as one', T, async () => {
  await alice.mknod('zero', { type: 'char', mode: 0o666, rdev: 0x105 });
  const onDisk = await lstat(join(server.storage, 'alice', 'zero'));
  assert.equal(onDisk.isFile(), true, 'stored as a regular file');
  assert.equal(onDisk.isCharacterDevice(), false);
  assert.match(await readFile(join(server.storage, 'alice', 'zero'), 'latin1'), /^\0rdrive-node-v1\nc 0666 0000000000000105\n$/);
  // Reading or writing it through the API never touches a device (1:5 is /dev/zero).
  await rejectsWith(alice.download('zero').then((r) => r.stream.resume()), 'EINVAL');
  await rejectsWith(alice.upload('zero', () => 'data'), 'EINVAL');
  await rejectsWith(alice.setAttr('zero', { size: 10 }), 'EINVAL');
  await rejectsWith(alice.mkdir('zero/inside'), 'ENOTDIR');
  assert.equal((await alice.stat('zero')).type, 'char', 'unchanged by the refused calls');
});

test('chmod and utimes of a node keep it a node; rename and unlink work as on any entry', T, async () => {
  await alice.mknod('p', { type: 'fifo', mode: 0o644 });
  const changed = await alice.setAttr('p', { mode: 0o4600, mtime: 1_700_000_000_000 });
  assert.deepEqual([changed.type, changed.mode, changed.mtime], ['fifo', 0o4600, 1_700_000_000_000]);
  const kept = await alice.setAttr('p', { mode: 0o600 });
  assert.equal(kept.mtime, 1_700_000_000_000, 'chmod keeps the times');
  const moved = await alice.rename('p', 'q');
  assert.deepEqual([moved.type, moved.mode], ['fifo', 0o600]);
  await alice.unlink('q');
  await rejectsWith(alice.stat('q'), 'ENOENT');
});

test('a user file that merely looks like a node (same content, ordinary mode) stays a file', T, async () => {
  const content = '\0rdrive-node-v1\nc 0666 0000000000000105\n';
  await alice.upload('lookalike', () => content);
  const attr = await alice.stat('lookalike');
  assert.equal(attr.type, 'file');
  const { stream } = await alice.download('lookalike');
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString('latin1'), content);
});
