import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, open, readdir, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { CLIENT_BIN } from '../helpers/server-process.js';
import { serverWithMount } from '../helpers/mounted-server.js';

/**
 * A mount stays up for weeks: what it holds must follow what is in use, not how many calls it
 * has served. These tests repeat a workload and watch a count through `rdrive stats`.
 */
const run = promisify(execFile);
const fx = serverWithMount();

interface Counts { fuseThreadRecords: number; inodeNumbers: number }

async function stats(): Promise<Counts> {
  const { stdout } = await run(process.execPath, [CLIENT_BIN, 'stats', fx.mount.path, '--json'], { timeout: 30_000 });
  return JSON.parse(stdout) as Counts;
}

test('bursts of parallel calls do not leave the FUSE addon a thread record each time', { timeout: 120_000 }, async (t) => {
  // libfuse 2 starts a thread when all of its threads are busy and ends one when more than ten
  // are idle: every burst of more than ten calls at once starts threads that end right after.
  const dir = join(fx.mount.path, 'burst');
  await mkdir(dir);
  const files = Array.from({ length: 80 }, (_, i) => `f${i}`);
  for (const name of files) await writeFile(join(dir, name), `content of ${name}\n`);
  // Separate processes: node's own fs calls go through four libuv threads, never more at once.
  const burst = (): Promise<unknown> => run('sh', ['-c', 'for f in "$1"/*; do cat "$f" >/dev/null & done; wait', 'sh', dir], { timeout: 60_000 });
  await burst();
  const first = (await stats()).fuseThreadRecords;
  assert.ok(first > 0, 'the mount reports its thread records');
  for (let i = 0; i < 6; i++) await burst();
  const last = (await stats()).fuseThreadRecords;
  t.diagnostic(`thread records: ${first} after one burst, ${last} after seven`);
  // The records of threads that ended are reused: the count is the most threads at once, which
  // one burst already reached (give or take scheduling), not one more per thread ever started.
  assert.ok(last <= first + 20, `thread records grew from ${first} after one burst to ${last} after seven`);
});

test('the inode numbers of removed folders are forgotten', { timeout: 120_000 }, async (t) => {
  const dir = join(fx.mount.path, 'churn');
  await mkdir(dir);
  const before = (await stats()).inodeNumbers;
  for (let i = 0; i < 100; i++) {
    const sub = join(dir, `d${i}`);
    await mkdir(sub);
    await stat(sub);
    await rmdir(sub);
    // A temp file removed while open (libfuse hides it until the close): its number goes too.
    const file = join(dir, `t${i}`);
    const handle = await open(file, 'w');
    await unlink(file);
    await handle.close();
  }
  const after = (await stats()).inodeNumbers;
  t.diagnostic(`inode numbers: ${before} before, ${after} after 100 folders and 100 temp files came and went`);
  assert.ok(after <= before + 10, `inode numbers grew from ${before} to ${after}`);
});

test('the inode numbers of files another client removed are forgotten when the folder is listed', { timeout: 120_000 }, async (t) => {
  const dir = join(fx.mount.path, 'elsewhere');
  await mkdir(dir);
  const other = new ApiClient({ server: fx.server.url });
  t.after(() => other.close());
  await other.login('alice', 'alice-pass');
  const before = (await stats()).inodeNumbers;
  for (let round = 0; round < 20; round++) {
    const names = Array.from({ length: 50 }, (_, i) => `r${round}-${i}`);
    for (const name of names) await other.upload(`/elsewhere/${name}`, () => name);
    // `ls -l` here: every name shown gets a number.
    assert.equal((await readdir(dir)).length, names.length);
    for (const name of names) await other.unlink(`/elsewhere/${name}`);
    assert.deepEqual(await readdir(dir), []);
  }
  const after = (await stats()).inodeNumbers;
  t.diagnostic(`inode numbers: ${before} before, ${after} after another client made and removed 1,000 files`);
  assert.ok(after <= before + 60, `inode numbers grew from ${before} to ${after}`);
});
