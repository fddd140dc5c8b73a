import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };
const T = { timeout: 240_000 };
const GiB = 1024 ** 3;

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-large-');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

/** The same writes go to a local file and the mounted one; both must end identical. */
async function both(script: (f: string) => string): Promise<void> {
  await ok(script(join(local.path, 'big')));
  await ok(script(join(mount.path, 'big')));
}

const md5 = async (f: string): Promise<string> => (await ok(`md5sum < '${f}'`)).split(' ')[0]!;

test('a sparse file over 1 GiB: far writes, appends and an overwrite in the middle', T, async () => {
  await ok(`head -c 3000000 /dev/urandom > ${local.path}/chunk`);
  const chunk = join(local.path, 'chunk');
  await both((f) => `dd if=${chunk} of=${f} bs=1M seek=1100 conv=notrunc status=none`);
  await both((f) => `dd if=${chunk} of=${f} bs=1M seek=3 count=1 conv=notrunc status=none`);
  await both((f) => `head -c 777777 ${chunk} >> ${f}`);
  await both((f) => `printf 'MIDDLE' | dd of=${f} bs=1 seek=${550 * 1024 * 1024 + 3} conv=notrunc status=none`);
  const size = (await stat(join(mount.path, 'big'))).size;
  assert.ok(size > 1.07 * GiB, `size ${size}`);
  assert.equal(size, (await stat(join(local.path, 'big'))).size);
  assert.equal((await stat(join(server.storage, 'alice', 'big'))).size, size);
  assert.equal(await md5(join(mount.path, 'big')), await md5(join(local.path, 'big')));
  assert.equal(await md5(join(server.storage, 'alice', 'big')), await md5(join(local.path, 'big')));
});

test('a 200 MiB sequential write and read back are identical', T, async () => {
  await ok(`head -c ${200 * 1024 * 1024} /dev/urandom > ${local.path}/seq`);
  await ok(`dd if=${local.path}/seq of=${mount.path}/seq bs=1M conv=fsync status=none`);
  await ok(`echo 3 > /proc/sys/vm/drop_caches || true`);
  await ok(`cmp ${local.path}/seq ${mount.path}/seq`);
  await ok(`cmp ${local.path}/seq ${join(server.storage, 'alice', 'seq')}`);
});
