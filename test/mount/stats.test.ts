import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { CLIENT_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { serverWithMount } from '../helpers/mounted-server.js';
import { startMount } from '../helpers/mount-process.js';
import { statsFile } from '../../mount/daemon/stats-file.js';
import { registryDir } from '../../mount/daemon/pid-registry.js';

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

test('the stats file a daemon wrote goes when it exits', { timeout: 60_000 }, async () => {
  // One file per daemon ever asked: left behind, they piled up with every mount.
  const mount = await startMount(fx.server.url, 'alice', 'alice-pass');
  try {
    await stats([mount.path, '--json']);
    const file = statsFile(mount.process.pid!);
    await access(file);
    await mount.unmount();
    await assert.rejects(access(file), { code: 'ENOENT' }, `${file} is still there after the daemon exited`);
  } finally {
    await mount.cleanup();
  }
});

test('a stats file left by a daemon killed with -9 goes at the next mount', { timeout: 60_000 }, async () => {
  const gone = spawnSync('true').pid;
  const file = statsFile(gone);
  await mkdir(registryDir(), { recursive: true, mode: 0o700 });
  await writeFile(file, '{}', { mode: 0o600 });
  const mount = await startMount(fx.server.url, 'alice', 'alice-pass');
  try {
    await assert.rejects(access(file), { code: 'ENOENT' }, `${file} of the dead pid ${gone} is still there`);
  } finally {
    await mount.cleanup();
  }
});
