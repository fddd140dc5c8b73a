import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, strayTempFiles, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// The mount talks to the server through a proxy that misbehaves on demand: a busy upstream,
// connections cut in the middle of a body, a server that never answers. Every call either
// succeeds with the right bytes or fails with an error, in bounded time; nothing is corrupted.
let server: TestServer;
let proxy: FaultProxy;
let mount: TestMount;
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 120_000 };
/**
 * The mount's --timeout: every lost answer or stall costs it once. Not shorter: an fsync() here
 * is a durable patch (two fsyncs on the server), and with the suite's big-file tests writing to
 * the same disk one took over 3 s in a clean-clone CI run (ETIMEDOUT where 'ok' was due).
 */
const TIMEOUT_S = 6;

before(async () => {
  server = await startServer();
  proxy = await startFaultProxy(server.url);
  tmp = await makeTempDir('rdrive-faults-');
  mount = await startMount(proxy.url, 'alice', 'alice-pass', ['--timeout', String(TIMEOUT_S), '--attr-timeout', '0']);
});

after(async () => {
  await mount?.cleanup();
  await proxy?.close();
  await server?.cleanup();
  await tmp?.remove();
});

beforeEach(() => proxy.set({ kind: 'pass' }));

const stored = (name: string): Promise<Buffer> => readFile(join(server.storage, 'alice', name));

async function noTempFiles(): Promise<void> {
  assert.deepEqual(await strayTempFiles(join(server.storage, 'alice')), []);
}

test('a busy upstream answering 503 now and then: a tree still copies in and out intact', T, async () => {
  const src = join(tmp.path, 'tree');
  await mkdir(join(src, 'sub'), { recursive: true });
  for (let i = 0; i < 12; i++) await writeFile(join(src, i % 2 === 0 ? 'sub' : '', `f${i}`), randomBytes(1000 * i * i + 1));
  await writeFile(join(src, 'big'), randomBytes(6 * 1024 * 1024));
  proxy.set({ kind: 'unavailable', every: 3, retryAfter: 0 });
  const before = proxy.stats.injected;
  await ok(`cp -r ${src} ${mount.path}/tree`);
  await ok(`diff -r ${src} ${mount.path}/tree`);
  await ok(`diff -r ${src} ${join(server.storage, 'alice', 'tree')}`);
  assert.ok(proxy.stats.injected > before + 5, `503s injected: ${proxy.stats.injected - before}`);
  await noTempFiles();
});

test('an upload cut midway fails close() and the server keeps the old content', T, async () => {
  const old = randomBytes(100_000);
  await writeFile(join(mount.path, 'doc.bin'), old);
  const next = join(tmp.path, 'next.bin');
  await writeFile(next, randomBytes(12 * 1024 * 1024));
  proxy.set({ kind: 'cut-upload', afterBytes: 2 * 1024 * 1024 });
  const res = await sh(`cp ${next} ${mount.path}/doc.bin`);
  assert.notEqual(res.code, 0, 'cp must see the failed upload');
  assert.match(res.stderr, /Input\/output error|Connection|timed out/i);
  assert.ok(proxy.stats.injected > 0);
  proxy.set({ kind: 'pass' });
  assert.deepEqual(await stored('doc.bin'), old);
  await noTempFiles();
  // Once the network is back the same copy goes through.
  await ok(`cp ${next} ${mount.path}/doc.bin`);
  assert.deepEqual(await stored('doc.bin'), await readFile(next));
});

test('downloads cut midway are an I/O error, never wrong bytes', T, async () => {
  const data = randomBytes(8 * 1024 * 1024);
  await writeFile(join(server.storage, 'alice', 'video.bin'), data);
  // Every answer is cut after 64 KiB, retries too: the read must fail, not hang or invent bytes.
  proxy.set({ kind: 'cut-download', afterBytes: 64 * 1024 });
  const res = await sh(`cat ${mount.path}/video.bin > ${tmp.path}/copy.bin`);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /Input\/output error/);
  const partial = await readFile(join(tmp.path, 'copy.bin'));
  assert.deepEqual(partial, data.subarray(0, partial.length), 'what arrived is a true prefix');
  assert.ok(proxy.stats.injected > 0);
  // Cut after 1 MiB: the first small windows pass, bigger ones are cut (their retries too).
  // (Another file: the first one's pages may sit in the kernel's cache and never reach the proxy.)
  const data2 = randomBytes(8 * 1024 * 1024);
  await writeFile(join(server.storage, 'alice', 'video2.bin'), data2);
  proxy.set({ kind: 'cut-download', afterBytes: 1024 * 1024 });
  const injected = proxy.stats.injected;
  const second = await sh(`cat ${mount.path}/video2.bin > ${tmp.path}/copy2.bin`);
  const copy2 = await readFile(join(tmp.path, 'copy2.bin'));
  assert.ok(proxy.stats.injected > injected, `the bigger windows were cut (cat ${second.code}, ${copy2.length} B, ${second.stderr})`);
  assert.deepEqual(copy2, data2.subarray(0, copy2.length), 'what arrived is a true prefix');
  // A cut must never pass for the end of the file: cat succeeds only with every byte.
  assert.equal(second.code === 0, copy2.length === data2.length, `cat exited ${second.code} after ${copy2.length} of ${data2.length} bytes: ${second.stderr}`);
  if (second.code !== 0) assert.match(second.stderr, /Input\/output error/);
  proxy.set({ kind: 'pass' });
  await ok(`cmp ${mount.path}/video.bin ${join(server.storage, 'alice', 'video.bin')}`);
});

test('a server that never answers: calls fail with a timeout in bounded time, then recover', T, async () => {
  proxy.set({ kind: 'stall' });
  const started = Date.now();
  const res = await sh(`ls -l ${mount.path}/`, { timeoutMs: 60_000 });
  const took = Date.now() - started;
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /timed out/i);
  assert.ok(took < (TIMEOUT_S + 10) * 1000, `ls took ${took} ms`);
  proxy.set({ kind: 'pass' });
  await ok(`ls -l ${mount.path}/`);
});

test('an upload slower than fuse-native\'s 15 s default still completes at close()', T, async () => {
  // A mount with the default --timeout (30 s): only fuse-native's own per-op limit is in play.
  const slow = await startMount(proxy.url, 'bob', 'bob-pass');
  try {
    await writeFile(join(tmp.path, 'slow.txt'), 'patient\n');
    proxy.set({ kind: 'delay', ms: 16_000, methods: ['PUT'] });
    const started = Date.now();
    // cp closes once (a shell redirect would close twice: dup2, then the end of the command).
    await ok(`cp ${tmp.path}/slow.txt ${slow.path}/slow.txt`, { timeoutMs: 60_000 });
    assert.ok(Date.now() - started >= 16_000, 'close() waited for the upload');
    assert.equal(await readFile(join(server.storage, 'bob', 'slow.txt'), 'utf8'), 'patient\n');
  } finally {
    proxy.set({ kind: 'pass' });
    await slow.cleanup();
  }
});

/**
 * Runs `before` (python, fd open on `name` read-write) with PATCH answers lost, then `after` with
 * the proxy passing again; returns what the script printed. `step(offset, data)` writes and
 * fsyncs, printing ok or the errno's name.
 */
async function withLostPatchAnswer(name: string, before: string, after: string): Promise<string> {
  const step1 = join(tmp.path, `${name}.step1`);
  const go = join(tmp.path, `${name}.go`);
  proxy.set({ kind: 'lose-answer', methods: ['PATCH'] });
  const run = ok(`python3 - <<'PY'
import errno, os, time
fd = os.open('${mount.path}/${name}', os.O_RDWR)
def step(offset, data):
    os.pwrite(fd, data, offset)
    try:
        os.fsync(fd); return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
${before}
open('${step1}', 'w').close()
while not os.path.exists('${go}'): time.sleep(0.05)
${after}
os.close(fd)
print('closed')
PY`);
  await waitFor(() => stat(step1).then(() => true, () => false), (found) => found, 30_000, 50);
  assert.ok(proxy.stats.injected >= 1, 'a patch\'s answer was lost');
  proxy.set({ kind: 'pass' });
  await writeFile(go, '');
  return run;
}

// Big and opened from the server: the mount holds only what it wrote, so fsync() patches.
test('a patch whose answer was lost had landed: the next fsync() patches on from it, nothing is lost', T, async () => {
  const size = 8 * 1024 * 1024;
  await writeFile(join(server.storage, 'alice', 'lost-answer.bin'), Buffer.alloc(size, 0x2e));
  const out = await withLostPatchAnswer('lost-answer.bin', "print(step(0, b'first'))", "print(step(4096, b'second'))\nprint(step(8192, b'third'))");
  assert.equal(out, 'ETIMEDOUT\nok\nok\nclosed\n', 'only the fsync whose answer was lost failed');
  const data = await stored('lost-answer.bin');
  assert.equal(data.length, size);
  assert.equal(data.subarray(0, 5).toString(), 'first');
  assert.equal(data.subarray(4096, 4102).toString(), 'second');
  assert.equal(data.subarray(8192, 8197).toString(), 'third');
});

test('after a lost-answer patch that grew the file, bytes truncated away and grown back are zeros on the server', T, async () => {
  const size = 2 * 1024 * 1024;
  await writeFile(join(server.storage, 'alice', 'lost-tail.bin'), Buffer.alloc(size, 0x2e));
  const out = await withLostPatchAnswer('lost-tail.bin', `print(step(${size}, b'X' * 4096))`, `os.ftruncate(fd, 4096)\nprint(step(${size + 4095}, b'\\0'))`);
  assert.equal(out, 'ETIMEDOUT\nok\nclosed\n');
  const data = await stored('lost-tail.bin');
  assert.equal(data.length, size + 4096);
  assert.deepEqual(data.subarray(4096), Buffer.alloc(size), 'everything past 4096 reads as zeros, as it does on the mount');
});

test('a write by another descriptor while an upload is out is sent at its own close, never dropped', T, async () => {
  const name = 'two-writers.bin';
  await writeFile(join(mount.path, name), Buffer.alloc(64 * 1024, 'o'));
  const a = await open(join(mount.path, name), 'r+');
  const b = await open(join(mount.path, name), 'r+');
  try {
    await a.write(Buffer.alloc(64 * 1024, 'A'), 0, 64 * 1024, 0);
    // A's upload waits in the proxy; B writes meanwhile and closes after A's answer came.
    proxy.set({ kind: 'delay', ms: 1_500, methods: ['PUT', 'PATCH'] });
    const closingA = a.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await b.write(Buffer.from('BBBB'), 0, 4, 0);
    await closingA;
    proxy.set({ kind: 'pass' });
    await b.close();
  } finally {
    proxy.set({ kind: 'pass' });
    await a.close().catch(() => undefined);
    await b.close().catch(() => undefined);
  }
  const onServer = await stored(name);
  assert.equal(onServer.subarray(0, 8).toString(), 'BBBBAAAA', 'B\'s write reached the server');
  assert.equal(onServer.length, 64 * 1024);
});

// A body over 1 MiB streams from the mount's temp file while it goes out; the proxy holds it, so
// the stream is still reading when the truncate shrinks that file under it.
test('a truncate by path while a big upload\'s body is still streaming: close() succeeds, the cut reaches the server', T, async () => {
  const name = 'cut-while-streaming.bin';
  const path = join(mount.path, name);
  const a = await open(path, 'w');
  // Written back to front: not a stream the mount sends as it comes, so close() sends it whole.
  const half = 16 * 1024 * 1024;
  await a.write(Buffer.alloc(half, 'a'), 0, half, half);
  await a.write(Buffer.alloc(half, 'a'), 0, half, 0);
  proxy.set({ kind: 'delay', ms: 1_500, methods: ['PUT', 'PATCH'] });
  try {
    const closing = a.close();
    await new Promise((resolve) => setTimeout(resolve, 700));
    await ok(`python3 -c "import os; os.truncate('${path}', 100)"`);
    await closing;
    await waitFor(() => stored(name).then((b) => b.length, () => -1), (n) => n === 100, 15_000);
  } finally {
    proxy.set({ kind: 'pass' });
  }
  assert.equal((await stored(name)).toString(), 'a'.repeat(100));
  assert.equal((await readFile(path)).toString(), 'a'.repeat(100));
  await noTempFiles();
});

test('a truncate by path made while the last close\'s upload is out reaches the server too', T, async () => {
  const name = 'cut-while-closing.bin';
  const path = join(mount.path, name);
  const a = await open(path, 'w');
  await a.write(Buffer.alloc(50_000, 'a'));
  proxy.set({ kind: 'delay', ms: 1_500, methods: ['PUT', 'PATCH'] });
  try {
    const closing = a.close();
    // The first truncate lands during the close's flush, the second during the upload the
    // release then makes for it; truncate(2) by path, as a program holding no descriptor does.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await ok(`python3 -c "import os; os.truncate('${path}', 20)"`);
    await closing;
    await new Promise((resolve) => setTimeout(resolve, 500));
    await ok(`python3 -c "import os; os.truncate('${path}', 10)"`);
    await waitFor(() => stored(name).then((b) => b.length), (n) => n === 10, 15_000);
  } finally {
    proxy.set({ kind: 'pass' });
  }
  assert.equal((await stored(name)).toString(), 'a'.repeat(10));
});
