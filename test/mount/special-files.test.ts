import assert from 'node:assert/strict';
import { lstat, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ok, sh, startMount } from '../helpers/mount-process.js';
import { serverWithMount } from '../helpers/mounted-server.js';

/** FIFOs, sockets and device nodes on the mount: stored as data, given meaning by this machine's kernel only. */
const fx = serverWithMount();
const T = { timeout: 90_000 };
const isRoot = process.getuid?.() === 0;

test('the mount is nodev and nosuid, whoever mounts it', T, async () => {
  const line = (await readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === fx.mount.path);
  assert.ok(line !== undefined, 'the mount is listed');
  const options = line.split(' ')[3]!.split(',');
  assert.ok(options.includes('nodev'), `nodev missing: ${line}`);
  assert.ok(options.includes('nosuid'), `nosuid missing: ${line}`);
});

test('mkfifo: a FIFO on the mount carries data between two local processes, the server holds none of it', T, async () => {
  const fifo = join(fx.mount.path, 'pipe');
  await ok(`mkfifo -m 0640 ${fifo}`);
  const st = await lstat(fifo);
  assert.equal(st.isFIFO(), true);
  assert.equal(st.mode & 0o7777, 0o640);
  // A writer and a reader meet in this machine's kernel.
  const out = await ok(`(echo through-the-fifo > ${fifo} &) ; cat ${fifo}`, { timeoutMs: 20_000 });
  assert.equal(out.trim(), 'through-the-fifo');
  assert.equal((await lstat(fifo)).size, 0);
  await ok(`chmod 0600 ${fifo}`);
  assert.equal((await lstat(fifo)).mode & 0o7777, 0o600);
  await rename(fifo, join(fx.mount.path, 'pipe2'));
  assert.equal((await lstat(join(fx.mount.path, 'pipe2'))).isFIFO(), true);
  assert.match(await ok(`ls -l ${fx.mount.path}`), /^p[rwx-]{9} .* pipe2$/m);
  await unlink(join(fx.mount.path, 'pipe2'));
  assert.deepEqual((await readdir(fx.mount.path)).filter((n) => n.startsWith('pipe')), []);
});

test('a socket node can be made with mknod and lists as a socket', T, async () => {
  // python's os.mknod makes an S_IFSOCK node the way pjdfstest does.
  await ok(`python3 -c "import os,stat; os.mknod('${join(fx.mount.path, 'sock')}', stat.S_IFSOCK | 0o644)"`);
  assert.equal((await lstat(join(fx.mount.path, 'sock'))).isSocket(), true);
});

test('device nodes keep their number but never open a device (nodev)', { ...T, skip: isRoot ? false : 'mknod of a device needs root' }, async () => {
  const dev = join(fx.mount.path, 'zero');
  await ok(`mknod -m 0666 ${dev} c 1 5`);
  const st = await lstat(dev);
  assert.equal(st.isCharacterDevice(), true);
  assert.equal(st.rdev, (1 << 8) | 5);
  await ok(`mknod -m 0600 ${join(fx.mount.path, 'disk')} b 8 1`);
  assert.equal((await lstat(join(fx.mount.path, 'disk'))).isBlockDevice(), true);
  // 1:5 is /dev/zero: on a nodev mount even root cannot open it.
  const read = await sh(`head -c 4 ${dev}`);
  assert.notEqual(read.code, 0, 'opening a device node on the mount must fail');
  assert.match(read.stderr, /Permission denied/);
  // A second mount (fresh caches) reads the node back from the fx.server.
  const second = await startMount(fx.server.url, 'alice', 'alice-pass');
  try {
    const again = await lstat(join(second.path, 'zero'));
    assert.deepEqual([again.isCharacterDevice(), again.rdev, again.mode & 0o7777], [true, (1 << 8) | 5, 0o666]);
  } finally {
    await second.cleanup();
  }
});
