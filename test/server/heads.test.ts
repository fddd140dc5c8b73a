import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HEADS_FILE_MAX } from '../../common/api.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { DEFAULT_TEST_USERS, startServer, type TestServer } from '../helpers/server-process.js';
import { rejectsWith } from '../helpers/api-clients.js';
import { rawRequest } from '../helpers/raw-http.js';

/**
 * GET /heads/<dir>: a folder's small files, whole, in name order, each under a read lease
 * (server/http/routes/heads.ts). The lease is long (5 s) so its effect is measurable.
 */
const LEASE_MS = 5_000;
const T = { timeout: 60_000 };
let server: TestServer;
let alice: ApiClient;
let writer: ApiClient;

before(async () => {
  server = await startServer({ args: ['--read-lease', String(LEASE_MS)] });
  alice = new ApiClient({ server: server.url });
  writer = new ApiClient({ server: server.url });
  await alice.login('alice', DEFAULT_TEST_USERS.alice!);
  await writer.login('alice', DEFAULT_TEST_USERS.alice!);
  await alice.mkdir('d');
  await alice.mkdir('d/sub');
  for (const name of ['c', 'a', 'b', 'e']) await alice.upload(`d/${name}`, () => Buffer.from(`content of ${name}`));
  await alice.upload('d/big', () => Buffer.alloc(HEADS_FILE_MAX + 1, 1));
  await alice.upload('d/empty', () => Buffer.alloc(0));
  await alice.symlink('d/link', '/etc/passwd');
  await alice.mknod('d/fifo', { type: 'fifo', mode: 0o644 });
});

after(async () => {
  await alice?.close();
  await writer?.close();
  await server?.cleanup();
});

test('small plain files come whole, in name order, from the name asked on; big files, folders, links and nodes are left out', T, async () => {
  const all = await alice.readHeads('d', '', 100);
  assert.deepEqual(all.files.map((f) => f.name), ['a', 'b', 'c', 'e', 'empty']);
  assert.equal(all.files[0]!.data.toString(), 'content of a');
  assert.equal(all.files[4]!.data.length, 0);
  assert.equal(all.files[2]!.attr.size, 'content of c'.length);
  assert.equal(all.leaseMs, LEASE_MS);
  const rest = await alice.readHeads('d', 'c', 2);
  assert.deepEqual(rest.files.map((f) => [f.name, f.data.toString()]), [['c', 'content of c'], ['e', 'content of e']]);
  assert.equal(rest.more, true);
  // The version matches what a single read reports, so a later open can revalidate it.
  const single = await alice.readFirst('d/c', 1024);
  assert.equal(rest.files[0]!.etag, single.etag);
});

test('every file sent is leased: another session\'s change of it waits for the lease, a file not sent does not', T, async () => {
  await writer.mkdir('w');
  for (const name of ['a', 'b']) await writer.upload(`w/${name}`, () => `first ${name}`);
  assert.deepEqual((await alice.readHeads('w', 'a', 1)).files.map((f) => f.name), ['a']);
  let started = Date.now();
  await writer.upload('w/b', () => 'changed b');
  assert.ok(Date.now() - started < LEASE_MS / 2, 'b was not sent, its change did not wait');
  started = Date.now();
  await writer.upload('w/a', () => 'changed a');
  assert.ok(Date.now() - started >= LEASE_MS - 1_000, `the change of a waited for the lease (${Date.now() - started} ms)`);
  assert.equal((await alice.readHeads('w', 'a', 1)).files[0]!.data.toString(), 'changed a');
});

test('the folder itself is leased: another session\'s rename of it waits, so no file sent moves away meanwhile', T, async () => {
  await writer.mkdir('moving');
  // Only a file too big to be sent: what waits is the folder's own lease.
  await writer.upload('moving/big', () => Buffer.alloc(HEADS_FILE_MAX + 1, 2));
  assert.deepEqual((await alice.readHeads('moving', '', 10)).files, []);
  const started = Date.now();
  await writer.rename('moving', 'moved');
  assert.ok(Date.now() - started >= LEASE_MS - 1_000, `the rename waited for the folder's lease (${Date.now() - started} ms)`);
});

test('a change sent in a form the routes take but that differs from their own (/RENAME, /files#name) waits for the leases too', T, async () => {
  const auth = { authorization: `Bearer ${writer.getToken()!}` };
  await writer.mkdir('#odd');
  for (const name of ['a', 'b']) await writer.upload(`#odd/${name}`, () => `first ${name}`);
  assert.equal((await alice.readHeads('#odd', '', 10)).files.length, 2);
  // Express matches '/rename' in any case, and a raw '#' ends the path it routes on.
  let started = Date.now();
  const renamed = await rawRequest(server.url, 'POST', '/api/v1/RENAME', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ from: '#odd/a', to: '#odd/a2' }));
  assert.equal(renamed.status, 200, renamed.body);
  assert.ok(Date.now() - started >= LEASE_MS - 1_000, `the rename waited for the lease (${Date.now() - started} ms)`);
  assert.deepEqual((await alice.readHeads('#odd', 'b', 1)).files.map((f) => f.name), ['b'], 'leased again');
  started = Date.now();
  const written = await rawRequest(server.url, 'PUT', '/api/v1/files#odd/b', auth, 'changed');
  assert.equal(written.status, 200, written.body);
  assert.ok(Date.now() - started >= LEASE_MS - 1_000, `the upload waited for the lease (${Date.now() - started} ms)`);
  assert.equal((await alice.readHeads('#odd', 'b', 1)).files[0]!.data.toString(), 'changed');
});

test('bad requests change nothing and say what is wrong', T, async () => {
  await rejectsWith(alice.readHeads('nowhere', '', 10), 'ENOENT');
  await rejectsWith(alice.readHeads('d/a', '', 10), 'ENOTDIR');
  await rejectsWith(alice.readHeads('d/link', '', 10), 'ELOOP');
  await rejectsWith(alice.readHeads('d', 'x'.repeat(300), 10), 'EINVAL');
  await rejectsWith(alice.readHeads('../bob', '', 10), 'EINVAL');
  assert.deepEqual((await alice.readHeads('d', '', 0)).files, []);
});

test('a server without read leases offers no folder reads (ENOSYS)', T, async () => {
  const plain = await startServer({ args: ['--read-lease', '0'] });
  const client = new ApiClient({ server: plain.url });
  try {
    await client.login('alice', DEFAULT_TEST_USERS.alice!);
    await rejectsWith(client.readHeads('', '', 10), 'ENOSYS');
  } finally {
    await client.close();
    await plain.cleanup();
  }
});
