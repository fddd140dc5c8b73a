import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { CLIENT_BIN, startServer, strayTempFiles, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// The server's disk itself fills up (a small tmpfs as the storage root, no quota involved).
const run = promisify(execFile);
let server: TestServer;
let mount: TestMount;
let tmp: { path: string; remove: () => Promise<void> };
let tmpfsMounted = false;
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  // Before anyone logs in, so every user's folder lands on the small filesystem.
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', server.storage]);
  tmpfsMounted = true;
  tmp = await makeTempDir('rdrive-full-');
  mount = await startMount(server.url, 'alice', 'alice-pass');
});

after(async () => {
  await mount?.cleanup();
  await server?.stop();
  if (tmpfsMounted) await run('umount', ['-l', server.storage]).catch(() => undefined);
  await server?.cleanup();
  await tmp?.remove();
});

const aliceDir = (): string => join(server.storage, 'alice');

async function noTempFiles(): Promise<void> {
  assert.deepEqual(await strayTempFiles(aliceDir()), []);
}

test('a copy bigger than the free space fails with ENOSPC and the old content stays', T, async () => {
  const old = randomBytes(64 * 1024);
  await writeFile(join(mount.path, 'report.bin'), old);
  const big = join(tmp.path, 'big.bin');
  const filler = join(tmp.path, 'filler.bin');
  await writeFile(filler, randomBytes(5 * 1024 * 1024));
  await ok(`cp ${filler} ${mount.path}/filler.bin`);
  // One uploaded whole at close, one streamed while it is written (over 4 MiB).
  for (const size of [3 * 1024 * 1024 + 7, 12 * 1024 * 1024]) {
    await writeFile(big, randomBytes(size));
    const res = await sh(`cp ${big} ${mount.path}/report.bin`);
    assert.notEqual(res.code, 0, `a ${size}-byte copy cannot fit`);
    assert.match(res.stderr, /No space left on device/);
    assert.deepEqual(await readFile(join(aliceDir(), 'report.bin')), old);
    assert.deepEqual(await readFile(join(mount.path, 'report.bin')), old);
    await noTempFiles();
  }
  const df = await ok(`df -B1 --output=avail ${mount.path} | tail -1`);
  assert.ok(Number(df.trim()) < 4 * 1024 * 1024, `df shows the small disk: ${df}`);
  // Freeing space makes the same copy work.
  await rm(join(mount.path, 'filler.bin'));
  await writeFile(big, randomBytes(3 * 1024 * 1024));
  await ok(`cp ${big} ${mount.path}/report.bin`);
  assert.deepEqual(await readFile(join(aliceDir(), 'report.bin')), await readFile(big));
});

test('rdrive put onto a full disk: exit code 9 and one clear line', T, async () => {
  const big = join(tmp.path, 'huge.bin');
  await writeFile(big, randomBytes(10 * 1024 * 1024));
  const res = await run(process.execPath, [CLIENT_BIN, 'put', big, '/huge.bin', '--server', server.url, '--user', 'alice', '--quiet'], {
    env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass', RDRIVE_SESSION_FILE: join(tmp.path, 'session.json') },
  }).then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
  assert.equal(res.code, 9, res.stderr);
  assert.match(res.stderr, /No space left/);
  assert.equal(res.stderr.trim().split('\n').length, 1);
  await assert.rejects(readFile(join(aliceDir(), 'huge.bin')), { code: 'ENOENT' });
  await noTempFiles();
});

// The disk of the logs fills up (a user's own home, say, holding the mount's log): both
// processes must go on serving. They used to block for good in the log's flush, the mount hung.
test('a full log disk: the server and the mount keep answering, and log again once it has room', T, async () => {
  const logDisk = await makeTempDir('rdrive-logfull-');
  await run('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', logDisk.path]);
  // A quota small enough that uploads fail with ENOSPC: each failure is a warning in both logs.
  const logged = await startServer({ args: ['--logs', join(logDisk.path, 'server'), '--quota', '65536'] });
  const clientLog = join(logDisk.path, 'client.log');
  const own = await startMount(logged.url, 'alice', 'alice-pass', ['--log-file', clientLog]);
  try {
    await writeFile(join(logDisk.path, 'filler'), Buffer.alloc(1024 * 1024)).catch(() => undefined);
    for (let i = 0; i < 20; i++) {
      const res = await sh(`head -c 100000 /dev/zero > ${own.path}/over-quota-${i}`, { timeoutMs: 10_000 });
      assert.match(res.stderr, /No space left on device/, `write ${i} answered: ${res.stderr}`);
    }
    await ok(`echo still-here > ${own.path}/small && cat ${own.path}/small && ls ${own.path}`, { timeoutMs: 10_000 });
    assert.equal((await ok(`cat ${own.path}/small`, { timeoutMs: 10_000 })).trim(), 'still-here');
    assert.equal(logged.process.exitCode, null, logged.stderr());
    assert.equal(own.process.exitCode, null, own.stderr());
    assert.match(logged.stderr(), /cannot write the log .*ENOSPC/);

    await rm(join(logDisk.path, 'filler'));
    await sh(`head -c 100000 /dev/zero > ${own.path}/after-full`, { timeoutMs: 10_000 });
    const logs = async (): Promise<string[]> =>
      Promise.all([clientLog, join(logDisk.path, 'server', 'server.log')].map((f) => readFile(f, 'utf8').catch(() => '')));
    const texts = await waitFor(logs, (t) => t.every((text) => text.includes('after-full')), 10_000);
    assert.deepEqual(texts.map((text) => text.includes('after-full')), [true, true], 'the mount\'s log and the server\'s carry on once there is room');
  } finally {
    await own.cleanup();
    await logged.cleanup();
    await run('umount', ['-l', logDisk.path]).catch(() => undefined);
    await logDisk.remove();
  }
});
