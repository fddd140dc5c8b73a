import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StatFs } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { resolveServerConfig } from '../../server/config.js';
import { sh } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

// Folders, empty files and links cost a filesystem an inode each and no bytes: with a byte quota
// alone, one user could run the server's disk out of inodes (millions of mkdirs) and deny
// everyone. --max-entries limits them per user, as an inode quota does, with EDQUOT.
const T = { timeout: 120_000 };

/**
 * Entries in the user's folder on the server's disk, as inodes (a file under two names is one),
 * the folder itself and temp files left out.
 */
async function storedEntries(server: TestServer, user = 'alice'): Promise<number> {
  return Number((await sh(`find ${join(server.storage, user)} -mindepth 1 ! -name '.rdrive-tmp-*' -printf '%i\\n' | sort -u | wc -l`)).stdout.trim());
}

async function withServer(args: string[], fn: (server: TestServer, alice: ApiClient) => Promise<void>, seed?: (storage: string) => Promise<void>): Promise<void> {
  const server = await startServer({ args });
  const alice = new ApiClient({ server: server.url });
  try {
    await seed?.(server.storage);
    await alice.login('alice', 'alice-pass');
    await fn(server, alice);
  } finally {
    await alice.close();
    await server.cleanup();
  }
}

async function refusedForEntries(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof RdriveError, String(err));
    assert.equal(err.code, 'EDQUOT');
    assert.match(err.message, /at most \d+ entries.*remove some/);
    return true;
  });
}

test('--max-entries takes a whole number or "unlimited"; the default is 1,000,000', () => {
  assert.equal(resolveServerConfig({}).maxEntries, 1_000_000);
  assert.equal(resolveServerConfig({ maxEntries: 'unlimited' }).maxEntries, 0);
  assert.equal(resolveServerConfig({ maxEntries: '0' }).maxEntries, 0);
  assert.equal(resolveServerConfig({ maxEntries: '250' }).maxEntries, 250);
  for (const bad of ['-1', '1e6', '0x10', 'lots', '2.5']) {
    assert.throws(() => resolveServerConfig({ maxEntries: bad }), (err: unknown) => err instanceof RdriveError && /--max-entries must be a whole number/.test(err.message), bad);
  }
});

test('every kind of create stops at the limit with EDQUOT; replacing, hidden names and removals do not count against it', T, async () => {
  await withServer(['--max-entries', '8'], async (server, alice) => {
    // Measured by the first walk: a folder and a file already there.
    assert.deepEqual(pick(await alice.statfs()), { entriesTotal: 8, entriesUsed: 2, entriesFree: 6 });
    await alice.mkdir('d');
    await alice.upload('d/f.txt', () => Buffer.from('x'));
    await alice.upload('empty', () => Buffer.alloc(0), { exclusive: true, length: 0 });
    await alice.symlink('link', 'd/f.txt');
    await alice.mknod('fifo', { type: 'fifo', mode: 0o644 });
    // mkdir -p with room for one of its two folders: the first is made and counts, the second is refused.
    await refusedForEntries(alice.mkdir('p/q', { parents: true }));
    assert.equal(await storedEntries(server), 8);
    assert.deepEqual(pick(await alice.statfs()), { entriesTotal: 8, entriesUsed: 8, entriesFree: 0 });
    await refusedForEntries(alice.mkdir('more'));
    await refusedForEntries(alice.upload('new.txt', () => Buffer.from('new')));
    await refusedForEntries(alice.upload('new.txt', () => Buffer.alloc(0), { exclusive: true, length: 0 }));
    await refusedForEntries(alice.symlink('link2', 'x'));
    await refusedForEntries(alice.mknod('fifo2', { type: 'fifo', mode: 0o644 }));
    await refusedForEntries(alice.mkdir('p/q/r', { parents: true }));
    // Nothing was made by a refused create.
    assert.equal(await storedEntries(server), 8);
    // Replacing an existing file, patching and truncating it, renaming: no new entry.
    await alice.upload('d/f.txt', () => Buffer.from('replaced'));
    await alice.setAttr('d/f.txt', { size: 3 });
    await alice.rename('d/f.txt', 'f.txt');
    // A mount keeps a file it has open under a hidden second name: no new inode, allowed at the limit.
    await alice.linkHidden('f.txt', '.fuse_hidden0001');
    assert.equal((await alice.statfs()).entriesUsed, 8);
    // A new file over the name needs a new inode (the old one lives on under its hidden name),
    // as a new file does on a disk while an unlinked one is still open: refused at the limit.
    await refusedForEntries(alice.upload('f.txt', () => Buffer.from('over the open one')));
    await alice.unlink('.fuse_hidden0001');
    assert.equal((await alice.statfs()).entriesUsed, 8);
    assert.equal(await storedEntries(server), 8);
    // A rename over another entry frees one; an unlink and an rmdir each free one.
    await alice.rename('empty', 'f.txt');
    await alice.mkdir('new1');
    await alice.unlink('link');
    await alice.symlink('link3', 'f.txt');
    await alice.rmdir('new1');
    await alice.upload('new.txt', () => Buffer.from('fits again'));
    assert.deepEqual(pick(await alice.statfs()), { entriesTotal: 8, entriesUsed: 8, entriesFree: 0 });
    assert.equal(await storedEntries(server), 8);
    // rm -r: what it removed is counted off, and room comes back.
    await alice.rmdir('p', { recursive: true });
    assert.equal((await alice.statfs()).entriesUsed, 7);
    await alice.mkdir('a');
    await refusedForEntries(alice.mkdir('c'));
    assert.equal(await storedEntries(server), 8);
  }, async (storage) => {
    await mkdir(join(storage, 'alice', 'seeded'), { recursive: true });
    await writeFile(join(storage, 'alice', 'seeded', 'file'), 'seeded');
  });
});

test('parallel creates against the limit end exactly at it; parallel removals give the room back', T, async () => {
  const LIMIT = 40;
  await withServer(['--max-entries', String(LIMIT), '--max-in-flight', '200'], async (server, alice) => {
    const create = (i: number): Promise<unknown> => {
      switch (i % 4) {
        case 0: return alice.mkdir(`n${i}`);
        case 1: return alice.upload(`n${i}`, () => Buffer.from(`file ${i}`));
        case 2: return alice.symlink(`n${i}`, 'target');
        default: return alice.upload(`n${i}`, () => Buffer.alloc(0), { exclusive: true, length: 0 });
      }
    };
    const settle = async (work: Array<Promise<unknown>>): Promise<{ made: number; refused: number }> => {
      const results = await Promise.allSettled(work);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof RdriveError && r.reason.code === 'EDQUOT', `only EDQUOT refuses: ${String(r.reason)}`);
      }
      return { made: results.filter((r) => r.status === 'fulfilled').length, refused: results.filter((r) => r.status === 'rejected').length };
    };
    let round = await settle(Array.from({ length: 100 }, (_, i) => create(i)));
    assert.deepEqual(round, { made: LIMIT, refused: 100 - LIMIT });
    assert.equal(await storedEntries(server), LIMIT);
    assert.equal((await alice.statfs()).entriesUsed, LIMIT);

    // Removals and creates at once: whatever the order, the figure stays what is stored.
    const removals = (await alice.list('')).entries.slice(0, 25).map((e) => (e.type === 'dir' ? alice.rmdir(e.name) : alice.unlink(e.name)));
    round = await settle([...removals, ...Array.from({ length: 60 }, (_, i) => create(100 + i))]);
    const stored = await storedEntries(server);
    assert.ok(stored <= LIMIT, `${stored} stored, over the limit`);
    assert.equal((await alice.statfs()).entriesUsed, stored, 'the figure is what is stored');

    round = await settle(Array.from({ length: 60 }, (_, i) => create(200 + i)));
    assert.equal(round.made, LIMIT - stored, 'the room given back is all there is, no more');
    assert.equal(await storedEntries(server), LIMIT);
    assert.equal((await alice.statfs()).entriesUsed, LIMIT);
  });
});

test('two rm -r of nested folders at once count each folder they free once', T, async () => {
  // Each rm -r counts off what it frees; a folder inside both (t/b and t/b/c for rm -r t/b and
  // rm -r t) must be counted by the removal that removed it, not by both, or the figure falls
  // below what is stored and the user may pass the limit by that much.
  const FILES = 3000;
  const rounds = [0, 1, 2];
  await withServer(['--max-entries', '100000'], async (server, alice) => {
    assert.equal((await alice.statfs()).entriesUsed, await storedEntries(server));
    for (const i of rounds) {
      const outer = alice.rmdir(`t${i}`, { recursive: true });
      // The inner removal starts while the outer one is under way inside t/b/c.
      const c = join(server.storage, 'alice', `t${i}`, 'b', 'c');
      const deadline = Date.now() + 30_000;
      while ((await readdir(c).catch(() => [])).length > FILES - 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
      const results = await Promise.allSettled([outer, alice.rmdir(`t${i}/b`, { recursive: true })]);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof RdriveError && r.reason.code === 'ENOENT', String(r.reason));
      assert.equal((await alice.statfs()).entriesUsed, await storedEntries(server), `the figure is what is stored (round ${i})`);
    }
  }, async (storage) => {
    for (const i of rounds) {
      const c = join(storage, 'alice', `t${i}`, 'b', 'c');
      await mkdir(c, { recursive: true });
      for (let f = 0; f < FILES; f++) await writeFile(join(c, `f${f}`), 'x');
    }
  });
});

test('an rm -r racing the first count of the folder leaves the figure what is stored', T, async () => {
  // The first statfs (or create) after a start walks the user's folder; an rm -r under way
  // meanwhile must not count off what that walk never saw.
  const FILES = 3000;
  await withServer(['--max-entries', '100000'], async (server, alice) => {
    const removal = alice.rmdir('big', { recursive: true });
    const c = join(server.storage, 'alice', 'big');
    const deadline = Date.now() + 30_000;
    while ((await readdir(c).catch(() => [])).length > FILES - 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    await Promise.all([removal, alice.statfs()]);
    assert.equal((await alice.statfs()).entriesUsed, await storedEntries(server), 'the figure is what is stored');
  }, async (storage) => {
    await mkdir(join(storage, 'alice', 'big'), { recursive: true });
    for (let f = 0; f < FILES; f++) await writeFile(join(storage, 'alice', 'big', `f${f}`), 'x');
    await mkdir(join(storage, 'alice', 'kept'), { recursive: true });
    for (let f = 0; f < 50; f++) await writeFile(join(storage, 'alice', 'kept', `f${f}`), 'x');
  });
});

test('without a limit creates are never refused for entries, and statfs shows the disk\'s inodes', T, async () => {
  await withServer(['--max-entries', 'unlimited'], async (_server, alice) => {
    for (let i = 0; i < 20; i++) await alice.mkdir(`d${i}`);
    const fs = await alice.statfs();
    assert.ok(fs.entriesTotal !== undefined && fs.entriesFree !== undefined && fs.entriesUsed !== undefined);
    assert.equal(fs.entriesUsed, fs.entriesTotal - fs.entriesFree, 'the disk\'s figures');
  });
});

function pick(fs: StatFs): { entriesTotal: number | undefined; entriesUsed: number | undefined; entriesFree: number | undefined } {
  return { entriesTotal: fs.entriesTotal, entriesUsed: fs.entriesUsed, entriesFree: fs.entriesFree };
}
