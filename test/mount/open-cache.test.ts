import assert from 'node:assert/strict';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { loggedRequests, waitForLog } from '../helpers/logs.js';
import { ok, startMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
const T = { timeout: 90_000 };

before(async () => {
  // Debug: the 304 answers counted here are routine answers, logged at debug. No read leases:
  // every open revalidates, as these tests count (leases: read-leases.test.ts).
  server = await startServer({ args: ['--log-level', 'debug', '--read-lease', '0'] });
});

after(async () => {
  await server?.cleanup();
});

test('GET with the ETag of the current version answers 304 with the attributes; a new version answers 200', T, async () => {
  const client = new ApiClient({ server: server.url });
  try {
    await client.login('alice', 'alice-pass');
    await client.upload('v.txt', () => 'version one');
    const first = await client.readFirst('v.txt', 1024);
    assert.equal(first.data?.toString(), 'version one');
    assert.ok(first.etag !== undefined);
    const again = await client.readFirst('v.txt', 1024, first.etag);
    assert.equal(again.data, undefined, 'not modified: no body');
    // atime aside (the first read may move it): the same attributes.
    assert.deepEqual({ ...again.attr, atime: 0 }, { ...first.attr, atime: 0 });
    await client.upload('v.txt', () => 'version two');
    const changed = await client.readFirst('v.txt', 1024, first.etag);
    assert.equal(changed.data?.toString(), 'version two');
    assert.notEqual(changed.etag, first.etag);
    await client.setAttr('v.txt', { mode: 0o600 });
    const chmodded = await client.readFirst('v.txt', 1024, changed.etag);
    assert.equal(chmodded.attr.mode, 0o600, 'a chmod is a new version: fresh attributes');
  } finally {
    await client.close();
  }
});

test('reopening a cached, unchanged file downloads nothing; reads never ask past the end', T, async () => {
  const client = new ApiClient({ server: server.url });
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await client.login('alice', 'alice-pass');
    const big = Buffer.alloc(2_500_000, 0x62);
    big.write('head of the file', 0);
    await client.upload('big.bin', () => big, { length: big.length });
    for (let i = 0; i < 20; i++) await client.upload(`small${i}.txt`, () => `small file ${i}\n`);
    const middling = Buffer.alloc(600_000, 0x6d);
    await client.upload('middling.bin', () => middling, { length: middling.length });
    assert.equal(await ok(`head -c 16 ${mount.path}/big.bin`), 'head of the file');
    assert.equal(await ok(`head -c 16 ${mount.path}/big.bin`), 'head of the file');
    await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/big.bin","status":304/);
    assert.deepEqual((await loggedRequests(server.logs, 'GET', 'files/big.bin')).map((r) => r.status), [206, 304], 'the second open revalidated only');
    await ok(`cat ${mount.path}/small*.txt > /dev/null`);
    assert.equal((await readFile(join(mount.path, 'middling.bin'))).length, middling.length);
    // The open's request and the read-ahead's next window, both within the file.
    await waitForLog(join(server.logs, 'server.log'), /middling.bin","status":206/, 2);
    // A read-ahead past the end would be logged by now; give it a moment to show up.
    const later = await waitForLog(join(server.logs, 'server.log'), /"status":416/, 1, 1_000);
    assert.doesNotMatch(later, /"status":416/, 'no read past the end of a file');
    // The cache never hides a change: another writer's new version is what the next open reads.
    await client.upload('big.bin', () => 'replaced');
    assert.equal(await readFile(join(mount.path, 'big.bin'), 'utf8'), 'replaced');
  } finally {
    await mount.cleanup();
    await client.close();
  }
});

test('a reader going on past the end of what it opened reads what another client appended (tail -f)', T, async () => {
  const client = new ApiClient({ server: server.url });
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  const path = join(mount.path, 'follow.log');
  try {
    await client.login('alice', 'alice-pass');
    await client.upload('follow.log', () => 'line 1\n');
    const reader = await open(path, 'r');
    try {
      const buf = Buffer.alloc(100);
      assert.equal(buf.subarray(0, (await reader.read(buf, 0, 100, 0)).bytesRead).toString(), 'line 1\n');
      await client.upload('follow.log', () => 'line 1\nline 2\n');
      // As tail -f does: fstat until the size grows, then read from the old end.
      assert.equal((await waitFor(() => reader.stat(), (st) => st.size === 14, 5_000)).size, 14);
      assert.equal(buf.subarray(0, (await reader.read(buf, 0, 100, 7)).bytesRead).toString(), 'line 2\n');
    } finally {
      await reader.close();
    }
    const tail = ok(`timeout 6 tail -n +1 -f ${path} || true`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await client.upload('follow.log', () => 'line 1\nline 2\nline 3\n');
    assert.equal(await tail, 'line 1\nline 2\nline 3\n', 'tail -f shows the appended line');
  } finally {
    await mount.cleanup();
    await client.close();
  }
});

test('after a listing of a big folder, another program here sees another client\'s change once the usual second is over', T, async () => {
  const client = new ApiClient({ server: server.url });
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await client.login('alice', 'alice-pass');
    await client.mkdir('crowd');
    // Made on the server's disk directly: 12,000 uploads would take the test's whole time.
    const stored = join(server.storage, 'alice', 'crowd');
    await mkdir(stored, { recursive: true });
    for (let i = 0; i < 12_000; i++) await writeFile(join(stored, `f${i}`), '');
    await client.upload('crowd/f1', () => 'x');
    // One program lists the folder (its walk may use the listing for ~7 s: 0.5 ms per entry)...
    await ok(`ls ${mount.path}/crowd > /dev/null`);
    const listedAt = Date.now();
    await client.upload('crowd/f1', () => 'longer content');
    await client.upload('crowd/new', () => 'created elsewhere');
    // ...another one opens its files once the attribute timeout (1 s) is over.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, listedAt + 1_500 - Date.now())));
    assert.equal(await ok(`cat ${mount.path}/crowd/f1`), 'longer content', 'not cut at the size the listing had');
    assert.equal(await ok(`cat ${mount.path}/crowd/new`), 'created elsewhere', 'not "No such file" from the listing');
    assert.ok(Date.now() - listedAt < 6_000, 'checked while the listing was still fresh for its walker');
  } finally {
    await mount.cleanup();
    // The server takes 5 sessions: this file's tests would fill it.
    await client.logout().catch(() => undefined);
    await client.close();
  }
});

/** 3 MiB whose every 4 bytes say their offset: a copy from the wrong place or version shows. */
function numbered(size: number): Buffer {
  const content = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) content.writeUInt32BE(i, i);
  return content;
}

/**
 * A mount and another client (the API) of alice, the 3 MiB numbered file stored as `name`
 * through the client; both go when `run` ends.
 */
async function withBigFile(name: string, run: (client: ApiClient, mount: Awaited<ReturnType<typeof startMount>>, content: Buffer) => Promise<void>): Promise<void> {
  const client = new ApiClient({ server: server.url });
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  const content = numbered(3 * 1024 * 1024);
  try {
    await client.login('alice', 'alice-pass');
    await client.upload(name, () => content, { length: content.length });
    await run(client, mount, content);
  } finally {
    await mount.cleanup();
    // The server takes 5 sessions: this file's tests would fill it.
    await client.logout().catch(() => undefined);
    await client.close();
  }
}

test('another client\'s chmod or rename of a big file is no new content: a reader here reads on', T, () =>
  withBigFile('kept.bin', async (client, mount, content) => {
    // A reader (cp out of the mount) has the head; the rest comes as it reads on.
    const reader = await open(join(mount.path, 'kept.bin'), 'r');
    try {
      const head = Buffer.alloc(65536);
      await reader.read(head, 0, head.length, 0);
      await client.setAttr('kept.bin', { mode: 0o600 });
      await client.rename('kept.bin', 'moved.bin');
      await client.rename('moved.bin', 'kept.bin');
      const rest = Buffer.alloc(content.length - head.length);
      const { bytesRead } = await reader.read(rest, 0, rest.length, head.length);
      assert.equal(bytesRead, rest.length, 'read on to the end, not cut by EIO');
      assert.ok(Buffer.concat([head, rest]).equals(content));
    } finally {
      await reader.close();
    }
  }));

test('another client\'s chmod of a big file is no new content: a partial write here lands at close, and the chmod stays', T, () =>
  withBigFile('patched.bin', async (client, mount, content) => {
    // A program changing a few bytes (this mount does not hold the whole file: a patch).
    const writer = await open(join(mount.path, 'patched.bin'), 'r+');
    try {
      await writer.write(Buffer.from('patched'), 0, 7, 1_000_000);
      await client.setAttr('patched.bin', { mode: 0o640 });
    } finally {
      await writer.close();
    }
    const expected = Buffer.from(content);
    expected.write('patched', 1_000_000);
    assert.ok((await readFile(join(server.storage, 'alice', 'patched.bin'))).equals(expected), 'the change landed');
    assert.equal((await client.stat('patched.bin')).mode, 0o640, 'and the chmod stayed');
  }));
