import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { CLIENT_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { serverWithMount } from '../helpers/mounted-server.js';

const run = promisify(execFile);
const fx = serverWithMount();

async function stats(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLIENT_BIN, 'stats', ...args], { timeout: 30_000 });
  return stdout;
}

interface Snapshot { requests: number; bytesRead: number; bytesWritten: number; cacheHits: number; ops: Record<string, number>; errors: Record<string, number>; uploadsPending: number }

test('rdrive stats shows the mount\'s counters, and they move with use', { timeout: 90_000 }, async () => {
  const before = JSON.parse(await stats([fx.mount.path, '--json'])) as Snapshot;
  const data = Buffer.alloc(300_000, 7);
  await writeFile(join(fx.mount.path, 'counted.bin'), data);
  assert.deepEqual(await readFile(join(fx.mount.path, 'counted.bin')), data);
  await readFile(join(fx.mount.path, 'no-such-file')).catch(() => undefined);
  const afterUse = JSON.parse(await stats([fx.mount.path, '--json'])) as Snapshot;
  assert.ok(afterUse.requests > before.requests, `requests ${before.requests} -> ${afterUse.requests}`);
  assert.ok(afterUse.bytesWritten - before.bytesWritten >= data.length, `bytesWritten ${before.bytesWritten} -> ${afterUse.bytesWritten}`);
  assert.ok(afterUse.bytesRead - before.bytesRead >= data.length, `bytesRead ${before.bytesRead} -> ${afterUse.bytesRead}`);
  assert.ok((afterUse.ops.write ?? 0) > (before.ops.write ?? 0));
  assert.ok((afterUse.errors.ENOENT ?? 0) > (before.errors.ENOENT ?? 0));
  assert.equal(afterUse.uploadsPending, 0);

  const text = await stats([fx.mount.path]);
  assert.match(text, /^requests +\d+ to the server/m);
  assert.match(text, /^attr cache +\d+ hits, \d+ misses/m);
  assert.match(text, /^open files +\d+, uploads pending 0$/m);
});

test('rdrive stats on a folder that is not an rdrive mount says so', { timeout: 30_000 }, async () => {
  const tmp = await makeTempDir('rdrive-stats-');
  try {
    await assert.rejects(stats([tmp.path]), (err: { code: number; stderr: string }) => {
      assert.notEqual(err.code, 0);
      assert.match(err.stderr, /is not an rdrive mount/);
      return true;
    });
  } finally {
    await tmp.remove();
  }
});
