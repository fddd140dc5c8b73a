import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PATH_MAX, STORED_PATH_MAX } from '../../common/paths.js';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/** Paths longer than PATH_MAX are stored when every name is valid (the server walks them a directory at a time). */
let server: TestServer;
let alice: ApiClient;

before(async () => {
  server = await startServer();
  alice = new ApiClient({ server: server.url });
  await alice.login('alice', 'alice-pass');
});

after(async () => {
  await alice?.close();
  await server?.cleanup();
});

test('a path of ~7,500 bytes (non-ASCII names too) works in every call; past STORED_PATH_MAX a clear ENAMETOOLONG', { timeout: 60_000 }, async () => {
  // 29 directories of 250 bytes, half of them two-byte characters (percent-encoded: 3 bytes each on the wire).
  const dirs = Array.from({ length: 29 }, (_, i) => (i % 2 === 0 ? 'd'.repeat(250) : 'é'.repeat(125)));
  let path = '';
  for (const d of dirs) {
    path = path === '' ? d : `${path}/${d}`;
    await alice.mkdir(path);
  }
  const file = `${path}/f.txt`;
  assert.ok(Buffer.byteLength(file) > PATH_MAX && Buffer.byteLength(file) <= STORED_PATH_MAX);
  await alice.upload(file, () => 'deep');
  assert.equal((await alice.stat(file)).size, 4);
  assert.deepEqual((await alice.list(path)).entries.map((e) => e.name), ['f.txt']);
  await alice.rename(file, `${path}/g.txt`);
  await alice.setAttr(`${path}/g.txt`, { mode: 0o600, uid: 1, gid: 1 });
  await alice.unlink(`${path}/g.txt`);
  const tooLong = `${path}/${'x'.repeat(250)}/${'y'.repeat(250)}/${'z'.repeat(250)}/${'w'.repeat(250)}`;
  await assert.rejects(alice.mkdir(tooLong.split('/').slice(0, -3).join('/')).then(() => alice.mkdir(tooLong)), (err: unknown) =>
    err instanceof RdriveError && err.code === 'ENAMETOOLONG' && err.message.includes(String(STORED_PATH_MAX)));
  await alice.rmdir(dirs[0]!, { recursive: true });
  assert.deepEqual((await alice.list('')).entries, []);
});
