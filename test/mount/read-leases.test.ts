import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { loggedRequests, waitForLog } from '../helpers/logs.js';
import { startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/**
 * Read leases (server/state/read-leases.ts): a mount re-opens a file it read moments ago
 * without a request, and close-to-open still holds: another client's change is answered only
 * once the lease has ended. The lease is long here (10 s) so that a slow machine still does
 * both opens within it.
 */
const LEASE_MS = 10_000;
let server: TestServer;
let mount: TestMount;
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer({ args: ['--log-level', 'debug', '--read-lease', String(LEASE_MS)] });
  mount = await startMount(server.url, 'alice', 'alice-pass');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
});

/** Runs `fn` with a second client of alice's (another machine): logged in, closed afterwards. */
async function asOtherClient(fn: (other: ApiClient) => Promise<void>): Promise<void> {
  const other = new ApiClient({ server: server.url });
  try {
    await other.login('alice', 'alice-pass');
    await fn(other);
  } finally {
    await other.close();
  }
}

test('a re-open within the lease asks nothing; another client\'s change waits for the lease and the next open sees it', T, () => asOtherClient(async (other) => {
  await other.upload('shared.txt', () => 'version one');
  assert.equal(await readFile(join(mount.path, 'shared.txt'), 'utf8'), 'version one');
  assert.equal(await readFile(join(mount.path, 'shared.txt'), 'utf8'), 'version one');
  await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/shared.txt"/);
  assert.deepEqual((await loggedRequests(server.logs, 'GET', 'files/shared.txt')).map((r) => r.status), [206], 'one request (the head, 206) for two opens');
  // Close-to-open: once this upload is answered, the mount's lease is over.
  await other.upload('shared.txt', () => 'version two');
  assert.equal(await readFile(join(mount.path, 'shared.txt'), 'utf8'), 'version two');
}));

test('changes made through the mount end its leases at once: it reads its own writes', T, async () => {
  const file = join(mount.path, 'own.txt');
  await writeFile(file, 'first');
  assert.equal(await readFile(file, 'utf8'), 'first');
  await writeFile(file, 'second, longer');
  assert.equal(await readFile(file, 'utf8'), 'second, longer');
  await writeFile(join(mount.path, 'other.txt'), 'x');
  await writeFile(file, 'third');
  assert.equal(await readFile(file, 'utf8'), 'third');
});

test('a reader walking through a folder gets its small files in batches; another client\'s change still waits and is seen', T, () => asOtherClient(async (other) => {
  await other.mkdir('walk');
  const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, '0')}`);
  for (const name of names) await other.upload(`walk/${name}`, () => `content of ${name}`);
  await other.upload('walk/zbig', () => Buffer.alloc(100 * 1024, 7));
  for (const name of [...names, 'zbig']) {
    const data = await readFile(join(mount.path, 'walk', name));
    if (name === 'zbig') assert.equal(data.length, 100 * 1024);
    else assert.equal(data.toString(), `content of ${name}`);
  }
  await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/walk\/zbig"/);
  const singles = (await loggedRequests(server.logs, 'GET', 'files/walk/', { prefix: true })).length;
  const batches = (await loggedRequests(server.logs, 'GET', 'heads/walk', { prefix: true })).length;
  // f00 alone (one open is no walk), then batches of 16 and 32 from f01 on; zbig is too big.
  assert.ok(batches >= 1 && batches <= 3, `folder reads: ${batches}`);
  assert.ok(singles <= 3, `single reads for 41 files: ${singles}`);
  // Close-to-open: the upload is answered once the mount's lease on f20 is over.
  await other.upload('walk/f20', () => 'changed elsewhere');
  assert.equal(await readFile(join(mount.path, 'walk', 'f20'), 'utf8'), 'changed elsewhere');
}));

test('a program reading back each file it has just written (rsync) is not sent folder reads; a reader listing the folder after it is', T, async () => {
  const dir = join(mount.path, 'rsync');
  await mkdir(dir);
  const FILES = 30;
  for (let i = 0; i < FILES; i++) {
    // rsync's receiver: a temp name, written and closed, opened again, then renamed in place.
    const temp = join(dir, `.f${i}.tmp${i}`);
    await writeFile(temp, `content ${i}`);
    assert.equal(await readFile(temp, 'utf8'), `content ${i}`);
    await rename(temp, join(dir, `f${i}`));
  }
  await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/rename"/, FILES);
  const duringWrites = (await loggedRequests(server.logs, 'GET', 'heads/rsync', { prefix: true })).length;
  // At most the first batch, which served nothing; before, every open asked for one.
  assert.ok(duringWrites <= 1, `folder reads while writing: ${duringWrites}`);
  const names = await readdir(dir);
  for (const name of names) assert.match(await readFile(join(dir, name), 'utf8'), /^content \d+$/);
  const afterListing = (await loggedRequests(server.logs, 'GET', 'heads/rsync', { prefix: true })).length;
  assert.ok(afterListing > duringWrites, 'a reader listing the folder, then opening its files, gets batches again');
});

test('copying a folder within the mount reads it without a folder read per file', T, () => asOtherClient(async (other) => {
  await other.mkdir('from');
  const FILES = 30;
  for (let i = 0; i < FILES; i++) await other.upload(`from/f${String(i).padStart(2, '0')}`, () => `copied ${i}`);
  // cp -r: open a source file, read it, write its copy (a change through this mount, which
  // ends the leases of any batch), next source file. Every open used to ask for a bigger batch.
  await cp(join(mount.path, 'from'), join(mount.path, 'to'), { recursive: true });
  for (let i = 0; i < FILES; i++) assert.equal(await readFile(join(mount.path, 'to', `f${String(i).padStart(2, '0')}`), 'utf8'), `copied ${i}`);
  const batches = (await loggedRequests(server.logs, 'GET', 'heads/from', { prefix: true })).length;
  assert.ok(batches <= 2, `folder reads for ${FILES} copied files: ${batches}`);
}));

test('reading the big files of a folder sends no folder read per file (cat *.o beside small sources)', T, () => asOtherClient(async (other) => {
  await other.mkdir('objs');
  const FILES = 20;
  for (let i = 0; i < FILES; i++) {
    await other.upload(`objs/m${String(i).padStart(2, '0')}.o`, () => Buffer.alloc(100 * 1024, i));
    await other.upload(`objs/m${String(i).padStart(2, '0')}.s`, () => `source ${i}`);
  }
  await other.upload('objs/zz-notes', () => 'small');
  for (let i = 0; i < FILES; i++) assert.equal((await readFile(join(mount.path, 'objs', `m${String(i).padStart(2, '0')}.o`))).length, 100 * 1024);
  const batches = (await loggedRequests(server.logs, 'GET', 'heads/objs', { prefix: true })).length;
  // Too big for any batch: each is read alone; a batch from each would re-send the small files after it.
  assert.ok(batches <= 1, `folder reads while reading ${FILES} big files: ${batches}`);
}));
