import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitForLog } from '../helpers/logs.js';
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

test('fsync() on a default mount waits for the server\'s group commit', T, async () => {
  const server = await startServer();
  const mount = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const fh = await open(join(mount.path, 'journal.txt'), 'w');
    try {
      await fh.write('entry\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    const log = await waitForLog(join(server.logs, 'server.log'), /"method":"POST","route":"\/api\/v1\/sync","status":204/);
    assert.match(log, /"route":"\/api\/v1\/sync","status":204/, 'fsync() asked the server to commit');
    assert.equal(await readFile(join(server.storage, 'alice', 'journal.txt'), 'utf8'), 'entry\n');
  } finally {
    await mount.cleanup();
    await server.cleanup();
  }
});
