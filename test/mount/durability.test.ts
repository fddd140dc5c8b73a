import assert from 'node:assert/strict';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loggedRequests, waitForLog } from '../helpers/logs.js';
import { startMount } from '../helpers/mount-process.js';
import { startServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const T = { timeout: 90_000 };

/**
 * Through a real mount, in both durability modes: kill -9 of the server while files are being
 * closed loses none whose close() returned (the contract: at close the bytes are on the server,
 * whole; a process crash keeps the page cache; a machine crash is the README's business).
 */
for (const mode of [[], ['--sync']]) {
  test(`kill -9 of the server loses no closed file (${mode.length === 0 ? 'default' : '--sync'} mount)`, T, async () => {
    const server = await startServer();
    const mount = await startMount(server.url, 'alice', 'alice-pass', [...mode, '--timeout', '5']);
    const closed = new Map<string, Buffer>();
    try {
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const name = `w${w}-${i}.txt`;
          const content = Buffer.alloc(1000 + ((w * 7919 + i * 613) % 40_000), 0x61 + ((w + i) % 26));
          try {
            await writeFile(join(mount.path, name), content);
            closed.set(name, content);
          } catch {
            return;
          }
        }
      };
      const writers = [0, 1, 2].map(writer);
      await waitFor(() => closed.size, (n) => n >= 30, 30_000);
      assert.ok(closed.size >= 30, `only ${closed.size} files closed before the kill`);
      await server.stop('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await server.restart();
      for (const [name, content] of closed) {
        const stored = await readFile(join(server.storage, 'alice', name));
        assert.ok(stored.equals(content), `${name}: ${stored.length} bytes stored, ${content.length} closed`);
      }
    } finally {
      await mount.cleanup();
      await server.cleanup();
    }
  });
}

/** The server's request log lines for `route` (exact, after /api/v1), as parsed objects. */
test('fsync() on a default mount: a dirty file goes up durable in one request, a clean one and a directory are synced', T, async () => {
  const server = await startServer();
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const fh = await open(join(mount.path, 'journal.txt'), 'w');
    try {
      await fh.write('entry\n');
      await fh.sync();
      await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/journal.txt"/);
      const puts = await loggedRequests(server.logs, 'PUT', 'files/journal.txt');
      assert.deepEqual(puts.map((p) => p.durable), [true], 'the upload at fsync() was fsynced on the server before its answer');
      assert.equal((await loggedRequests(server.logs, 'POST', 'sync/journal.txt')).length, 0, 'no second request for it');
      await fh.sync();
      await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/sync\/journal.txt","status":204/);
      assert.equal((await loggedRequests(server.logs, 'POST', 'sync/journal.txt')).length, 1, 'fsync() of the clean file made the server sync it');
    } finally {
      await fh.close();
    }
    assert.equal(await readFile(join(server.storage, 'alice', 'journal.txt'), 'utf8'), 'entry\n');
    // The durable-rename pattern: the directory's fsync() commits the rename.
    await writeFile(join(mount.path, 'new.tmp'), 'x');
    await rename(join(mount.path, 'new.tmp'), join(mount.path, 'new.txt'));
    const dir = await open(mount.path, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    const log = await waitForLog(join(server.logs, 'server.log'), /"method":"POST","route":"\/api\/v1\/sync","status":204/);
    assert.match(log, /"route":"\/api\/v1\/sync","status":204/, 'fsync() of a directory asked the server to commit');
  } finally {
    await mount.cleanup();
    await server.cleanup();
  }
});

test('appending and calling fsync() on a growing file sends the appended bytes, not the file each time', T, async () => {
  const server = await startServer();
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const chunks: Buffer[] = [];
    const fh = await open(join(mount.path, 'app.log'), 'w');
    try {
      for (let i = 0; i < 40; i++) {
        const chunk = Buffer.alloc(64 * 1024, 0x41 + (i % 26));
        chunks.push(chunk);
        await fh.write(chunk);
        await fh.sync();
      }
    } finally {
      await fh.close();
    }
    const expected = Buffer.concat(chunks);
    // One upload per fsync(); pino may write the last lines a moment later.
    await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/app.log"/, 40);
    assert.ok((await readFile(join(server.storage, 'alice', 'app.log'))).equals(expected), 'the server holds every appended byte');
    const sent = [...(await loggedRequests(server.logs, 'PUT', 'files/app.log')), ...(await loggedRequests(server.logs, 'PATCH', 'files/app.log'))];
    const bytes = sent.reduce((sum, r) => sum + r.bytesIn, 0);
    // Re-sending the whole file at each fsync() would be ~54 MB; the file is 2.6 MB. Files up to
    // 1 MiB still go whole (one request either way): at most ~9 MB then.
    assert.ok(bytes < 12 * 1024 * 1024, `${bytes} bytes uploaded for a ${expected.length}-byte file`);
  } finally {
    await mount.cleanup();
    await server.cleanup();
  }
});
