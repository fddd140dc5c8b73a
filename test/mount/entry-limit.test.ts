import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

// The entry limit (--max-entries) through a real mount: at the limit mkdir, touch and ln -s fail
// with "Disk quota exceeded" (EDQUOT) and make nothing; rm gives the room back; df -i shows the
// limit as the drive's inodes.
const LIMIT = 5;
const T = { timeout: 60_000 };
let server: TestServer;
let mount: TestMount;

before(async () => {
  server = await startServer({ args: ['--max-entries', String(LIMIT)] });
  mount = await startMount(server.url, 'alice', 'alice-pass');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
});

/** df -i's Inodes, IUsed and IFree for the mount (statfs figures are cached for a second). */
async function inodes(): Promise<[number, number, number]> {
  const line = (await ok(`df --output=itotal,iused,iavail ${mount.path} | tail -1`)).trim();
  return line.split(/\s+/).map(Number) as [number, number, number];
}

test('at the entry limit mkdir, touch and ln -s fail with "Disk quota exceeded"; rm frees room', T, async () => {
  const m = mount.path;
  await ok(`mkdir ${m}/d1 ${m}/d2 && echo hi > ${m}/d1/f && touch ${m}/empty && ln -s d1/f ${m}/link`);
  for (const command of [`mkdir ${m}/d3`, `touch ${m}/new`, `ln -s d1 ${m}/link2`, `mkdir -p ${m}/d2/x/y`]) {
    const res = await sh(command);
    assert.notEqual(res.code, 0, `${command} must fail at the limit`);
    assert.match(res.stderr, /Disk quota exceeded/, command);
  }
  assert.deepEqual((await readdir(join(server.storage, 'alice'))).sort(), ['d1', 'd2', 'empty', 'link']);
  assert.deepEqual(await readdir(join(server.storage, 'alice', 'd2')), []);
  assert.deepEqual(await waitFor(inodes, (v) => v[2] === 0), [LIMIT, LIMIT, 0], 'df -i: all the entries used');
  // Writing into an existing file needs no new entry.
  await ok(`echo more >> ${m}/d1/f && echo again > ${m}/empty`);
  // rm and rmdir give the room back.
  await ok(`rm ${m}/link && rmdir ${m}/d2`);
  assert.deepEqual(await waitFor(inodes, (v) => v[2] === 2), [LIMIT, LIMIT - 2, 2]);
  await ok(`mkdir ${m}/d3 && touch ${m}/new`);
  const res = await sh(`mkdir ${m}/d4`);
  assert.match(res.stderr, /Disk quota exceeded/);
  // rm -r of a folder frees all it held.
  await ok(`rm -r ${m}/d1`);
  await ok(`mkdir -p ${m}/e/f`);
  assert.deepEqual(await waitFor(inodes, (v) => v[2] === 0), [LIMIT, LIMIT, 0]);
});
