import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

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

test('sparse files stay sparse on the server: truncate -s, a write past the end, cp --sparse', T, async () => {
  const stored = (name: string): string => join(server.storage, 'alice', name);
  await ok(`truncate -s 3G ${mount.path}/holes`);
  assert.equal((await stat(join(mount.path, 'holes'))).size, 3 * GiB);
  const holes = await stat(stored('holes'));
  assert.equal(holes.size, 3 * GiB);
  assert.ok(holes.blocks * 512 < 1024 * 1024, `the server stored ${holes.blocks * 512} bytes of zeros`);
  await ok(`printf 'far' | dd of=${mount.path}/far bs=1 seek=${GiB} status=none`);
  const far = await stat(stored('far'));
  assert.equal(far.size, GiB + 3);
  assert.ok(far.blocks * 512 < 1024 * 1024, `${far.blocks * 512} bytes stored for 3 written`);
  assert.equal(await ok(`tail -c 3 ${mount.path}/far`), 'far');
  assert.equal(await ok(`dd if=${mount.path}/far bs=1M skip=500 count=1 status=none | tr -d '\\0' | wc -c`), '0\n', 'a hole reads as zeros');
  await ok(`head -c 10000000 /dev/zero > ${local.path}/z && printf abc | dd of=${local.path}/z bs=1 seek=5000000 conv=notrunc status=none`);
  await ok(`cp --sparse=always ${local.path}/z ${mount.path}/z`);
  assert.equal(await md5(stored('z')), await md5(join(local.path, 'z')));
  assert.equal(await md5(join(mount.path, 'z')), await md5(join(local.path, 'z')));
  assert.ok((await stat(stored('z'))).blocks * 512 < 1024 * 1024);
  // Readers through the mount see the holes too (st_blocks): du, and a copy out keeps them.
  const shown = await waitFor(() => stat(join(mount.path, 'z')), (s) => s.blocks * 512 < 1024 * 1024, 5_000);
  assert.ok(shown.blocks * 512 < 1024 * 1024, `the mount shows ${shown.blocks} blocks for a file of 3 written bytes`);
  await ok(`cp ${mount.path}/z ${local.path}/z-out`);
  assert.equal(await md5(join(local.path, 'z-out')), await md5(join(local.path, 'z')));
  assert.ok((await stat(join(local.path, 'z-out'))).blocks * 512 < 1024 * 1024, 'cp out of the mount kept the holes');
  // A one-byte change to a file of holes (a patch: a copy of the file on the server) keeps them.
  await ok(`truncate -s 64M ${mount.path}/patched && printf 'y' | dd of=${mount.path}/patched bs=1 seek=1000000 conv=notrunc status=none`);
  assert.equal(await ok(`dd if=${mount.path}/patched bs=1 skip=1000000 count=1 status=none`), 'y');
  const patched = await stat(stored('patched'));
  assert.equal(patched.size, 64 * 1024 * 1024);
  assert.ok(patched.blocks * 512 < 1024 * 1024, `a patched file of holes stored ${patched.blocks * 512} bytes`);
  await ok(`rm ${mount.path}/holes ${mount.path}/far ${mount.path}/z ${mount.path}/patched`);
});

test('a 200 MiB sequential write and read back are identical', T, async () => {
  await ok(`head -c ${200 * 1024 * 1024} /dev/urandom > ${local.path}/seq`);
  await ok(`dd if=${local.path}/seq of=${mount.path}/seq bs=1M conv=fsync status=none`);
  // Read back through a second mount: its daemon and kernel page cache are fresh, so every byte
  // comes from the server (dropping the page cache needs a privilege a CI machine may not give).
  const second = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await ok(`cmp ${local.path}/seq ${second.path}/seq`);
  } finally {
    await second.cleanup();
  }
  await ok(`cmp ${local.path}/seq ${mount.path}/seq`);
  await ok(`cmp ${local.path}/seq ${join(server.storage, 'alice', 'seq')}`);
});

test('a streamed upload abandoned by a write out of order still stores the right bytes', T, async () => {
  const script = (f: string): string => `python3 - <<'PY'
import os
data = bytes(range(256)) * 4096 * 12
with open('${f}', 'wb') as out:
    out.write(data)
    out.seek(100)
    out.write(b'HEADER')
    out.seek(0, 2)
    out.write(b'tail')
PY`;
  await ok(script(join(local.path, 'streamed')));
  await ok(script(join(mount.path, 'streamed')));
  await ok(`cmp ${local.path}/streamed ${join(server.storage, 'alice', 'streamed')}`);
});

test('a streamed upload refused by the quota fails close() and keeps the old content', T, async () => {
  const small = await startServer({ args: ['--quota', String(20 * 1024 * 1024)] });
  const m = await startMount(small.url, 'bob', 'bob-pass');
  try {
    await ok(`head -c 1000 /dev/urandom > ${m.path}/keep.bin && cp ${m.path}/keep.bin ${local.path}/keep.bin`);
    await ok(`head -c ${40 * 1024 * 1024} /dev/zero > ${local.path}/forty`);
    // cp opens the target with O_TRUNC once and closes it once: the truncation only reaches the
    // server with the upload, so a refused upload leaves the old bytes.
    const res = await sh(`cp ${local.path}/forty ${m.path}/keep.bin`);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /No space left on device/);
    await ok(`cmp ${local.path}/keep.bin ${join(small.storage, 'bob', 'keep.bin')}`);
  } finally {
    await m.cleanup();
    await small.cleanup();
  }
});
