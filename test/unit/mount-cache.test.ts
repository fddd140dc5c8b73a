import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { AttrCache, splitPath } from '../../mount/cache/attr-cache.js';
import { ExtentSet } from '../../mount/cache/extents.js';
import { OpenFile } from '../../mount/cache/open-file.js';
import type { Attr } from '../../common/api.js';
import { nextHandleNumber } from '../../mount/fuse/state.js';

test('extents merge adjacent and overlapping writes', () => {
  const set = new ExtentSet();
  for (let i = 0; i < 100; i++) set.add(i * 131072, (i + 1) * 131072);
  assert.deepEqual(set.list, [{ start: 0, end: 100 * 131072 }]);
  set.add(200, 100);
  set.add(20_000_000, 20_000_010);
  set.add(19_999_990, 20_000_000);
  assert.deepEqual(set.list, [{ start: 0, end: 13107200 }, { start: 19_999_990, end: 20_000_010 }]);
  assert.equal(set.coversWhole(13107200), false);
});

test('extents clip on truncate and split reads into dirty and clean pieces', () => {
  const set = new ExtentSet();
  set.add(10, 20);
  set.add(30, 40);
  assert.deepEqual(set.split(0, 50), [
    { start: 0, end: 10, dirty: false }, { start: 10, end: 20, dirty: true },
    { start: 20, end: 30, dirty: false }, { start: 30, end: 40, dirty: true }, { start: 40, end: 50, dirty: false },
  ]);
  set.clip(35);
  assert.deepEqual(set.list, [{ start: 10, end: 20 }, { start: 30, end: 35 }]);
  set.clip(5);
  assert.equal(set.isEmpty, true);
  assert.equal(set.coversWhole(0), true);
});

const file = (size: number): Attr => ({ type: 'file', size, mtime: 1, atime: 1, ctime: 1, mode: 0o644 });

test('attr cache: listings answer lookups, entries expire, mutations update', () => {
  let now = 0;
  const cache = new AttrCache(1000, () => now);
  cache.setListing('/d', [{ name: 'a', ...file(1) }]);
  assert.equal(cache.get('/d/a')?.size, 1);
  assert.equal(cache.knownMissing('/d/b'), true);
  cache.added('/d/b', file(2));
  assert.equal(cache.knownMissing('/d/b'), false);
  cache.removed('/d/a');
  assert.equal(cache.get('/d/a'), undefined);
  assert.equal(cache.knownMissing('/d/a'), true);
  now = 1001;
  assert.equal(cache.get('/d/b'), undefined);
  assert.equal(cache.knownMissing('/d/zzz'), false, 'an expired listing proves nothing');
});

test('attr cache: an answer to a request sent before a change in its folder is dropped, never brings back what was removed', () => {
  const cache = new AttrCache(1000, () => 0);
  const file: Attr = { type: 'file', size: 1, mtime: 0, atime: 0, ctime: 0, mode: 0o644 };
  cache.setListing('/obj', [{ name: 'a.o', ...file }, { name: 'b.o', ...file }]);
  // A lookup elsewhere in the folder asks for a listing; meanwhile a.o is unlinked here.
  const listingTicket = cache.ticket();
  const statTicket = cache.ticket();
  cache.removed('/obj/a.o', 'file');
  cache.setListing('/obj', [{ name: 'a.o', ...file }, { name: 'b.o', ...file }], listingTicket);
  cache.setFetched('/obj/a.o', file, statTicket);
  assert.equal(cache.get('/obj/a.o'), undefined, 'the stale answers did not bring a.o back');
  assert.equal(cache.knownMissing('/obj/a.o'), true, 'the listing kept since the unlink still says it is gone');
  // A request sent after the change fills the cache as usual; other folders are not affected.
  const later = cache.ticket();
  cache.setListing('/obj', [{ name: 'b.o', ...file }, { name: 'c.o', ...file }], later);
  assert.equal(cache.get('/obj/c.o')?.size, 1);
  cache.setFetched('/src/x.c', file, listingTicket);
  assert.equal(cache.get('/src/x.c')?.size, 1, 'a change in /obj does not drop answers about /src');
  // A folder above renamed away after the request was sent: its answer is stale too.
  const deep = cache.ticket();
  cache.removed('/a/b', 'dir-or-unknown');
  cache.setFetched('/a/b/sub/c', file, deep);
  cache.setListing('/a/b/sub', [{ name: 'c', ...file }], deep);
  assert.equal(cache.get('/a/b/sub/c'), undefined);
  assert.equal(cache.listing('/a/b/sub'), undefined);
});

test('splitPath handles the root', () => {
  assert.deepEqual(splitPath('/a'), { dir: '/', name: 'a' });
  assert.deepEqual(splitPath('/a/b/c'), { dir: '/a/b', name: 'c' });
});

test('attr cache: a change inside a directory shows the server\'s folder times, not the entry\'s or the clock\'s, never moving its expiry', () => {
  let now = 5000;
  const cache = new AttrCache(1000, () => now);
  cache.set('/d', { type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 });
  // An upload of a file with an old mtime (tar x, cp -p): the folder's times are not the file's.
  cache.added('/d/new', { ...file(3), mtime: 50 });
  cache.folderTimes('/d', { mtime: 4000, ctime: 4001 });
  assert.deepEqual([cache.get('/d')?.mtime, cache.get('/d')?.ctime], [4000, 4001], 'the server\'s folder times');
  now = 5500;
  cache.removed('/d/new');
  assert.equal(cache.get('/d')?.mtime, 4000, 'a removal alone is no time: the answer brings it');
  cache.folderTimes('/d', { mtime: 5200, ctime: 5200 });
  cache.folderTimes('/d', { mtime: 4500, ctime: 4500 });
  assert.equal(cache.get('/d')?.mtime, 5200, 'answers arriving out of order: the later ctime wins');
  now = 6000;
  assert.equal(cache.get('/d'), undefined, 'still expires when it was going to');  // touch -d 2099 of the folder, then a create in it: the server's mtime is now again.
  cache.set('/d', { type: 'dir', size: 4096, mtime: 4_070_908_800_000, atime: 100, ctime: 5300, mode: 0o755 });
  cache.folderTimes('/d', { mtime: 5400, ctime: 5400 });
  assert.deepEqual([cache.get('/d')?.mtime, cache.get('/d')?.ctime], [5400, 5400], 'a future mtime does not outlive the next change');
});

test('attr cache: an answer without folder times forgets the folder; a folder stat sent before a change in it is dropped', () => {
  const cache = new AttrCache(60_000);
  cache.set('/d', { type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 });
  cache.folderTimes('/d', undefined);
  assert.equal(cache.get('/d'), undefined, 'the folder\'s times are unknown: asked again');
  const ticket = cache.ticket();
  cache.added('/d/new', file(3));
  cache.setFetched('/d', { type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 }, ticket);
  assert.equal(cache.get('/d'), undefined, 'a stat answered from before the create holds the old times');
  cache.setListing('/', [{ name: 'd', type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 }], ticket);
  assert.equal(cache.get('/d'), undefined, 'nor does a listing of its parent sent then');

  // The change's answer is read before the op records the change: an older stat landing in
  // between must not undo the times it brought.
  cache.set('/d', { type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 });
  const early = cache.ticket();
  cache.folderTimes('/d', { mtime: 200, ctime: 200 });
  cache.setFetched('/d', { type: 'dir', size: 4096, mtime: 100, atime: 100, ctime: 100, mode: 0o755 }, early);
  cache.added('/d/other', file(1));
  assert.equal(cache.get('/d')?.mtime, 200);
});

test('attr cache: a small directory is listed again at the first miss, a big one once the stats cost as much', () => {
  let now = 0;
  const cache = new AttrCache(1000, () => now);
  const entries = (n: number): Array<{ name: string } & Attr> => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, ...file(i) }));
  cache.setListing('/small', entries(10));
  cache.setListing('/big', entries(4000));
  now = 2000;
  assert.equal(cache.worthRelisting('/small'), true);
  for (let miss = 1; miss < 100; miss++) assert.equal(cache.worthRelisting('/big'), false, `miss ${miss}`);
  assert.equal(cache.worthRelisting('/big'), true, '100 stats cost about one listing of 4000 entries');
  cache.setListing('/big', entries(4000));
  assert.equal(cache.worthRelisting('/big'), false, 'a new listing starts the count again');
  now = 60_000;
  assert.equal(cache.worthRelisting('/small'), false, 'not listed recently: a stat is cheaper');
  assert.equal(cache.worthRelisting('/never-listed'), false);
});

test('attr cache: a big listing stays fresh for as long as a walk through it takes, for the program walking it', () => {
  let now = 0;
  const cache = new AttrCache(1000, () => now);
  const entries = Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}`, ...file(i) }));
  const WALKER = 4242;
  cache.setListing('/big', entries, undefined, WALKER);
  cache.setListing('/small', entries.slice(0, 2), undefined, WALKER);
  now = 500;
  assert.equal(cache.get('/big/f1', 77)?.size, 1, 'within the usual lifetime, for every program');
  now = 4000;
  assert.equal(cache.get('/big/f9999', WALKER)?.size, 9999, '10,000 entries: still fresh 4 s later for the walker');
  assert.equal(cache.knownMissing('/big/nope', WALKER), true);
  // Another program (cat after ls) asks the server: a size or a "no such file" 4 s old would
  // hide another mount's change past the usual second.
  assert.equal(cache.get('/big/f9999', 77), undefined, 'not for another program');
  assert.equal(cache.get('/big/f9998'), undefined, 'nor for an unknown one');
  assert.equal(cache.knownMissing('/big/nope', 77), false);
  assert.equal(cache.get('/big/f9997', WALKER)?.size, 9997, 'the walker keeps it meanwhile');
  assert.equal(cache.get('/small/f1', WALKER), undefined, 'a small listing expires with the usual lifetime');
  now = 7000;
  assert.equal(cache.get('/big/f0', WALKER), undefined, 'and the big one expires too, a walk later');
});

test('attr cache: a walk over a huge tree keeps memory bounded (least recently used go first)', () => {
  const cache = new AttrCache(60_000);
  for (let d = 0; d < 300; d++) {
    cache.setListing(`/t/d${d}`, Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}`, ...file(i) })));
  }
  assert.equal(cache.get('/t/d0/f0'), undefined, 'the oldest entries were dropped');
  assert.equal(cache.knownMissing('/t/d299/zz'), true, 'the newest listing answers lookups');
  assert.equal(cache.get('/t/d299/f999')?.size, 999, 'the newest are kept');
});

test('attr cache: a removed file leaves its siblings; a removed directory takes its subtree', () => {
  const cache = new AttrCache(1000, () => 0);
  const fileAttr: Attr = { type: 'file', size: 1, mtime: 1, atime: 1, ctime: 1, mode: 0o644 };
  const dirAttr: Attr = { ...fileAttr, type: 'dir', size: 0, mode: 0o755 };
  cache.setListing('/', [{ name: 'f', ...fileAttr }, { name: 'd', ...dirAttr }]);
  cache.setListing('/d', [{ name: 'x', ...fileAttr }]);
  cache.removed('/f', 'file');
  assert.equal(cache.get('/f'), undefined);
  assert.equal(cache.knownMissing('/f'), true);
  assert.deepEqual(cache.get('/d/x'), fileAttr);
  cache.removed('/d');
  assert.equal(cache.get('/d/x'), undefined);
  assert.equal(cache.listing('/d'), undefined);
});

test('attr cache: a removed directory hides every cached entry below it, and what is cached afterwards shows', () => {
  const cache = new AttrCache(1000, () => 0);
  const fileAttr: Attr = { type: 'file', size: 1, mtime: 1, atime: 1, ctime: 1, mode: 0o644 };
  const dirAttr: Attr = { ...fileAttr, type: 'dir', size: 0, mode: 0o755 };
  cache.setListing('/', [{ name: 'd', ...dirAttr }]);
  cache.setListing('/d', [{ name: 'e', ...dirAttr }]);
  cache.setListing('/d/e', [{ name: 'deep', ...fileAttr }]);
  cache.set('/d/e/stat-only', fileAttr);
  cache.setListing('/dd', [{ name: 'sibling', ...fileAttr }]);
  cache.removed('/d');
  assert.equal(cache.get('/d/e/deep'), undefined);
  assert.equal(cache.get('/d/e/stat-only'), undefined);
  assert.equal(cache.listing('/d/e'), undefined);
  assert.deepEqual(cache.get('/dd/sibling'), fileAttr, 'a name that only starts the same is untouched');
  cache.createdDir('/d', dirAttr);
  assert.deepEqual(cache.listing('/d'), new Set());
  assert.equal(cache.knownMissing('/d/e'), true);
  cache.added('/d/new', fileAttr);
  assert.deepEqual(cache.get('/d/new'), fileAttr);
});

test('open file: ctime is the server\'s while nothing is unsent, the last local change\'s until the upload brings the server\'s', async () => {
  const server = { ...file(5), mtime: 100, ctime: 200 };
  const open = new OpenFile('/f', server, { created: false, cacheDir: tmpdir(), fetch: async () => Buffer.alloc(0) });
  assert.equal(open.attr().ctime, 200);
  open.refresh({ ...server, mode: 0o600, ctime: 300 });
  assert.deepEqual([open.attr().mtime, open.attr().ctime], [100, 300], 'a chmod answered by the server: its ctime, same mtime');
  const before = Date.now();
  open.setPendingMtime(50);
  assert.equal(open.attr().mtime, 50);
  assert.ok(open.attr().ctime >= before, 'a utimens not sent yet moves ctime to now');
  open.uploaded({ ...server, mtime: 50, ctime: 400 }, false);
  assert.deepEqual([open.attr().mtime, open.attr().ctime], [50, 400], 'the upload brings the server\'s ctime');
  await open.truncate(2);
  assert.ok(open.attr().ctime >= before && open.attr().ctime === open.attr().mtime, 'a local truncate moves mtime and ctime');
  await open.dispose();
});

test('handle numbers wrap below 2^31 and skip those still open', () => {
  assert.equal(nextHandleNumber(11, () => false), 12);
  assert.equal(nextHandleNumber(0x7fffffff, () => false), 10, 'past the int32 range fuse-native keeps: back to the first');
  assert.equal(nextHandleNumber(0x7ffffffe, (n) => n === 0x7fffffff || n === 10), 11, 'numbers in use are skipped');
});

test('open file: a write or truncate made while an upload is out stays to be sent after its answer', async () => {
  const bodyOf = async (plan: Awaited<ReturnType<OpenFile['plan']>>): Promise<Buffer> => {
    assert.notEqual(plan.kind, 'none');
    if (plan.kind === 'none') return Buffer.alloc(0);
    const body = plan.body();
    if (Buffer.isBuffer(body)) return body;
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const open = new OpenFile('/f', file(0), { created: true, cacheDir: tmpdir(), fetch: async () => Buffer.alloc(0) });
  await open.write(Buffer.from('AAAAAAAA'), 0);
  const first = await open.plan();
  assert.equal((await bodyOf(first)).toString(), 'AAAAAAAA');
  // Another descriptor writes while that upload is out; then its answer comes.
  await open.write(Buffer.from('BB'), 0);
  open.uploaded({ ...file(8), mtime: 1, ctime: 1 }, true);
  assert.equal(open.dirty, true, 'the write made meanwhile is still unsent');
  assert.equal((await bodyOf(await open.plan())).toString(), 'BBAAAAAA');
  await open.truncate(3);
  open.uploaded({ ...file(8), mtime: 2, ctime: 2 }, true);
  assert.equal(open.dirty, true, 'a truncate made meanwhile is still unsent');
  assert.equal((await bodyOf(await open.plan())).toString(), 'BBA');
  open.uploaded({ ...file(3), mtime: 3, ctime: 3 }, true);
  assert.equal(open.dirty, false, 'nothing made meanwhile: clean');
  await open.dispose();
});
