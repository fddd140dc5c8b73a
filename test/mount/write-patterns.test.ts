import assert from 'node:assert/strict';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { ok, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };
let other: ApiClient | undefined;
const T = { timeout: 120_000 };

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-ref-');
});

after(async () => {
  await other?.close();
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

/**
 * Runs the same random sequence of opens, positioned writes, appends, truncates (up and down,
 * across the mount's 1 MiB in-memory limit), fsyncs and reads on a local folder and on the
 * mount, in step. Every read must match; after every close the mount's copy and the server's
 * stored file must equal the local one. Exits non-zero with the seed and step at the first
 * difference.
 */
const DIFFERENTIAL = `
import os, random, sys
seed, ref, mnt, store, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
rnd = random.Random(seed)
MiB = 1 << 20
SIZES = [0, 1, 5, 4096, 65536, 131079, MiB - 3, MiB, MiB + 1, 2 * MiB + 17]
NAMES = ['a', 'b', 'c']
history = {}
def fail(msg):
    sys.exit(f'seed {seed} step {step}: {msg}; what {name} went through: {history.get(name)}')
def content(path):
    with open(path, 'rb') as f:
        return f.read()
def pick_size(cur):
    return rnd.choice(SIZES + [cur, max(0, cur - rnd.randrange(1, 5000)), cur + rnd.randrange(1, 300000)])
def both(fn):
    return [fn(d) for d in (ref, mnt)]
def one_op(pair, flags):
    """One operation on one open file (a pair of descriptors: local, mount); returns its record."""
    cur = os.fstat(pair[0]).st_size
    op = rnd.choice(['pwrite', 'pwrite', 'write', 'truncate', 'fsync', 'read'])
    if op == 'pwrite' and not flags & os.O_APPEND:
        off, data = pick_size(cur), rnd.randbytes(rnd.choice([1, 100, 4096, 70000, 300000]))
        for fd in pair: os.pwrite(fd, data, off)
        return (op, off, len(data))
    if op in ('write', 'pwrite'):
        data = rnd.randbytes(rnd.choice([1, 100, 4096, 70000]))
        for fd in pair: os.lseek(fd, 0, os.SEEK_END); os.write(fd, data)
        return ('append', len(data))
    if op == 'truncate':
        size = pick_size(cur)
        for fd in pair: os.ftruncate(fd, size)
        return (op, size)
    if op == 'fsync':
        for fd in pair: os.fsync(fd)
        return (op,)
    off, n = rnd.randrange(0, cur + 2), rnd.choice([1, 4096, 200000])
    if os.pread(pair[0], n, off) != os.pread(pair[1], n, off): fail(f'read of {n} at {off} differs (size {cur})')
    return (op, off, n)
for step in range(steps):
    name = rnd.choice(NAMES)
    exists = os.path.exists(os.path.join(ref, name))
    flags = os.O_RDWR | (rnd.choice([os.O_CREAT, 0, os.O_APPEND, os.O_TRUNC, os.O_CREAT | os.O_TRUNC]) if exists else os.O_CREAT)
    log = history.setdefault(name, [])
    pairs = [both(lambda d: os.open(os.path.join(d, name), flags, 0o644))]
    log.append(('open', flags))
    if rnd.random() < 0.3:
        pairs.append(both(lambda d: os.open(os.path.join(d, name), os.O_RDWR)))
        log.append(('open', os.O_RDWR))
    for _ in range(rnd.randrange(1, 8)):
        which = rnd.randrange(len(pairs))
        log.append((which,) + one_op(pairs[which], flags if which == 0 else os.O_RDWR))
        sizes = [os.fstat(fd).st_size for fd in pairs[which]]
        if sizes[0] != sizes[1]: fail(f'size {sizes[1]}, want {sizes[0]}')
    if rnd.random() < 0.15:
        # Removed while open: the open descriptors still read what was written.
        both(lambda d: os.unlink(os.path.join(d, name)))
        log.append(('unlink while open',))
        want = os.pread(pairs[0][0], 4 * MiB, 0)
        if os.pread(pairs[0][1], 4 * MiB, 0) != want: fail('an unlinked open file reads differently')
        for pair in pairs:
            for fd in pair: os.close(fd)
        history.pop(name)
        continue
    for pair in pairs:
        for fd in pair: os.close(fd)
    want = content(os.path.join(ref, name))
    if content(os.path.join(mnt, name)) != want: fail(f'{name} on the mount differs after close')
    if content(os.path.join(store, name)) != want: fail(f'{name} on the server differs after close')
    chance = rnd.random()
    if chance < 0.2:
        both(lambda d: os.unlink(os.path.join(d, name)))
        history.pop(name)
    elif chance < 0.35:
        # Renamed over another name (replacing it when it exists): the content moves with it.
        to = rnd.choice([n for n in NAMES if n != name])
        both(lambda d: os.rename(os.path.join(d, name), os.path.join(d, to)))
        history[to] = history.pop(name) + [('renamed from', name)]
print('ok', steps)
`;

for (const seed of [2, 28, 7, 11]) {
  test(`random writes, appends, truncates and fsyncs give the local disk's bytes (seed ${seed})`, T, async () => {
    const dir = `seed${seed}`;
    await ok(`mkdir ${join(local.path, dir)} ${join(mount.path, dir)}`);
    await ok(`python3 -c "$PROG" ${seed} ${join(local.path, dir)} ${join(mount.path, dir)} ${join(server.storage, 'alice', dir)} 150`, {
      env: { PROG: DIFFERENTIAL },
    });
  });
}

test('a new file grown past 1 MiB by ftruncate after a write keeps the written bytes', T, async () => {
  await ok(`python3 - ${join(mount.path, 'prealloc')} <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'hello'); os.ftruncate(fd, 2 << 20); os.close(fd)
PY`);
  const stored = await readFile(join(server.storage, 'alice', 'prealloc'));
  assert.equal(stored.length, 2 << 20);
  assert.equal(stored.subarray(0, 5).toString(), 'hello');
});

test('truncated to zero and grown back to its old size, a file reads as zeros everywhere', T, async () => {
  await ok(`printf %4096s x > ${join(mount.path, 'regrown')}`);
  await ok(`python3 - ${join(mount.path, 'regrown')} <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_TRUNC); os.ftruncate(fd, 4096); os.close(fd)
PY`);
  assert.deepEqual(await readFile(join(server.storage, 'alice', 'regrown')), Buffer.alloc(4096));
  assert.deepEqual(await readFile(join(mount.path, 'regrown')), Buffer.alloc(4096));
});

test('reopened with O_TRUNC right after close, a big file is truncated once its last release has run', T, async () => {
  // FUSE sends release after close() has returned: it may arrive while the next open truncates.
  await ok(`python3 - ${join(mount.path, 'reopened')} <<'PY'
import os, sys
path = sys.argv[1]
for i in range(30):
    with open(path, 'wb') as f: f.write(b'x' * ((2 << 20) + i))
    fd = os.open(path, os.O_RDWR | os.O_TRUNC)
    os.lseek(fd, 0, os.SEEK_END); os.write(fd, b'y')
    size = os.fstat(fd).st_size
    os.close(fd)
    if size != 1: sys.exit(f'round {i}: size {size} after O_TRUNC and a 1-byte write')
    with open(path, 'rb') as f:
        if f.read() != b'y': sys.exit(f'round {i}: content differs after close')
PY`);
  assert.equal(await readFile(join(server.storage, 'alice', 'reopened'), 'utf8'), 'y');
});

test('pages dirtied through a shared mmap all reach the server (the kernel writes them back concurrently)', T, async () => {
  await ok(`python3 - ${join(mount.path, 'mapped')} ${join(server.storage, 'alice', 'mapped')} <<'PY'
import mmap, os, sys
path, stored = sys.argv[1], sys.argv[2]
size = 256 * 1024
orig = (bytes(range(1, 251)) * (size // 250 + 1))[:size]
for attempt in range(15):
    with open(path, 'wb') as f: f.write(orig)
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, size, mmap.MAP_SHARED)
    want = bytearray(orig)
    for page in range(0, 64, 2):
        mark = b'P%03d' % page
        m[page * 4096 + 10:page * 4096 + 14] = mark
        want[page * 4096 + 10:page * 4096 + 14] = mark
    m.flush(); m.close(); os.close(fd)
    for where in (path, stored):
        with open(where, 'rb') as f:
            if f.read() != want: sys.exit(f'attempt {attempt}: {where} lost pages written through mmap')
PY`);
});

/** `fn` with a second client of the same user (one for the file: the server counts clients), standing for another mount. */
async function withOtherClient(fn: (other: ApiClient) => Promise<void>): Promise<void> {
  if (other === undefined) {
    other = new ApiClient({ server: server.url });
    await other.login('alice', 'alice-pass');
  }
  await fn(other);
}

// Replaced by a shorter version (its zeros were bytes no version held) or by one of the same
// size (its bytes were another version's): either way the rest of the old one is gone.
for (const [what, newSize] of [['a shorter one', 100 * 1024], ['one of the same size', 4 * 1024 * 1024]] as const) {
  test(`a file replaced by ${what} while open reads as an I/O error, never as zeros or another version`, T, () => withOtherClient(async (other) => {
    const name = `replaced-${newSize}.bin`;
    await other.upload(name, () => Buffer.alloc(4 * 1024 * 1024, 0x41));
    const fh = await open(join(mount.path, name), 'r');
    try {
      const head = Buffer.alloc(64 * 1024);
      await fh.read(head, 0, head.length, 0);
      assert.ok(head.equals(Buffer.alloc(head.length, 0x41)));
      await other.upload(name, () => Buffer.alloc(newSize, 0x42));
      const later = Buffer.alloc(128 * 1024);
      await assert.rejects(fh.read(later, 0, later.length, 3 * 1024 * 1024), (err: NodeJS.ErrnoException) => err.code === 'EIO', 'the read fails');
    } finally {
      await fh.close();
    }
  }));
}

test('changes to part of a file replaced meanwhile by another client are refused at close, not mixed in', T, () => withOtherClient(async (other) => {
  const size = 2 * 1024 * 1024;
  await other.upload('edited.bin', () => Buffer.alloc(size, 0x41));
  const fh = await open(join(mount.path, 'edited.bin'), 'r+');
  await fh.write(Buffer.from('XXXXXXXXXX'), 0, 10, 100);
  await other.upload('edited.bin', () => Buffer.alloc(size, 0x42));
  await assert.rejects(fh.close(), (err: NodeJS.ErrnoException) => err.code === 'EIO', 'close() reports the conflict');
  const stored = await readFile(join(server.storage, 'alice', 'edited.bin'));
  assert.ok(stored.equals(Buffer.alloc(size, 0x42)), 'the other client\'s whole version stays');
}));

test('a refused patch is not taken for a lost one when the other client\'s version has its size and mtime', T, () => withOtherClient(async (other) => {
  const size = 2 * 1024 * 1024;
  await other.upload('twin.bin', () => Buffer.alloc(size, 0x41));
  const fh = await open(join(mount.path, 'twin.bin'), 'r+');
  await fh.write(Buffer.from('XXXXXXXXXX'), 0, 10, 100);
  // The other version has this copy's size and the very mtime its patch sends: as if written
  // in the same millisecond (which the race in the test above met now and then).
  const { mtimeMs } = await fh.stat();
  await other.upload('twin.bin', () => Buffer.alloc(size, 0x42), { mtime: mtimeMs });
  await assert.rejects(fh.close(), (err: NodeJS.ErrnoException) => err.code === 'EIO', 'close() reports the conflict');
  const stored = await readFile(join(server.storage, 'alice', 'twin.bin'));
  assert.ok(stored.equals(Buffer.alloc(size, 0x42)), `the other client's version stays whole: ${stored.subarray(96, 114).toString('latin1')}`);
}));

test('a file this mount holds whole goes up whole when another client replaced it meanwhile', T, () => withOtherClient(async (other) => {
  const size = 2 * 1024 * 1024;
  const mine = Buffer.alloc(size, 0x41);
  const fh = await open(join(mount.path, 'held.bin'), 'w+');
  try {
    await fh.write(mine, 0, size, 0);
    await fh.sync();
    await other.upload('held.bin', () => Buffer.alloc(size, 0x42));
    await fh.write(Buffer.from('XXXXXXXXXX'), 0, 10, 100);
    mine.write('XXXXXXXXXX', 100);
  } finally {
    await fh.close();
  }
  assert.ok((await readFile(join(server.storage, 'alice', 'held.bin'))).equals(mine), 'this mount\'s whole version, last close wins');
}));

test('a new open sees another client\'s change even while this mount still has the old version open', T, () => withOtherClient(async (other) => {
  await other.upload('kept.txt', () => 'version one');
  const keeper = await open(join(mount.path, 'kept.txt'), 'r');
  try {
    assert.equal((await keeper.read(Buffer.alloc(64), 0, 64, 0)).bytesRead, 'version one'.length);
    // Waits for this mount's read lease to end, as any change by another client does.
    await other.upload('kept.txt', () => 'version two, longer');
    assert.equal(await readFile(join(mount.path, 'kept.txt'), 'utf8'), 'version two, longer');
    const writer = await open(join(mount.path, 'kept.txt'), 'r+');
    try {
      assert.equal((await writer.stat()).size, 'version two, longer'.length, 'a writer opens the new version too');
    } finally {
      await writer.close();
    }
  } finally {
    await keeper.close();
  }
}));
