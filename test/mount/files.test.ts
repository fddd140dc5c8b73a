import assert from 'node:assert/strict';
import { mkdir, open, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-local-');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

test('cp -r of a tree with random content is byte-for-byte identical, on the server too', T, async () => {
  await ok(`mkdir -p src/a/b src/c && for i in $(seq 1 30); do head -c $((RANDOM * 7)) /dev/urandom > src/a/f$i; done
    head -c 3000000 /dev/urandom > src/c/big && : > src/empty && echo hi > 'src/a/b/with space.txt'`, { cwd: local.path });
  await ok(`cp -r ${local.path}/src ${mount.path}/tree`);
  await ok(`diff -r ${local.path}/src ${mount.path}/tree`);
  await ok(`diff -r ${local.path}/src ${join(server.storage, 'alice', 'tree')}`);
});

test('ls -l shows sizes, modes and mtimes; df shows the server space', T, async () => {
  await ok(`printf 12345 > ${mount.path}/five && chmod 640 ${mount.path}/five && touch -d '2021-02-03 04:05:06' ${mount.path}/five`);
  const line = await ok(`ls -l --time-style=+%Y-%m-%dT%H:%M:%S ${mount.path} | grep ' five$'`);
  assert.match(line, /^-rw-r----- 1 \S+ \S+ 5 2021-02-03T04:05:06 five$/m);
  const df = await ok(`df -P ${mount.path} | tail -1`);
  // The filesystem column names the account, as sshfs does (user@host:port).
  assert.match(df, /^alice@127\.0\.0\.1:\d+\s+\d+/);
  // The server's storage is on this machine: the mount's figures are that disk's.
  const [mountUsed, mountAvail] = (await ok(`df -B1M --output=used,avail ${mount.path} | tail -1`)).trim().split(/\s+/).map(Number);
  const [diskUsed, diskAvail] = (await ok(`df -B1M --output=used,avail ${server.storage} | tail -1`)).trim().split(/\s+/).map(Number);
  assert.ok(Math.abs(mountUsed! - diskUsed!) < 2048, `used: mount ${mountUsed} MiB, disk ${diskUsed} MiB`);
  assert.ok(Math.abs(mountAvail! - diskAvail!) < 2048, `available: mount ${mountAvail} MiB, disk ${diskAvail} MiB`);
});

test('mv over an existing file replaces it; the editor save pattern keeps the content', T, async () => {
  await ok(`cd ${mount.path} && echo old > doc.txt && echo new > doc.tmp && mv doc.tmp doc.txt`);
  assert.equal(await readFile(join(mount.path, 'doc.txt'), 'utf8'), 'new\n');
  await ok(`cd ${mount.path} && python3 - <<'PY'
import os
with open('.doc.txt.swp', 'w') as f:
    f.write('saved by editor\\n'); f.flush(); os.fsync(f.fileno())
os.rename('.doc.txt.swp', 'doc.txt')
PY`);
  assert.equal(await readFile(join(server.storage, 'alice', 'doc.txt'), 'utf8'), 'saved by editor\n');
  assert.equal((await ok(`ls -a ${mount.path}`)).includes('.doc.txt.swp'), false);
});

test('mkdir -p, rm -r, rmdir of a non-empty directory, truncate, append', T, async () => {
  await ok(`mkdir -p ${mount.path}/p/q/r && echo x > ${mount.path}/p/q/r/f`);
  const rmdir = await sh(`rmdir ${mount.path}/p/q/r`);
  assert.notEqual(rmdir.code, 0);
  assert.match(rmdir.stderr, /not empty/i);
  await ok(`rm -r ${mount.path}/p`);
  assert.equal((await sh(`ls ${mount.path}/p`)).code, 2);
  await ok(`printf 0123456789 > ${mount.path}/t && truncate -s 4 ${mount.path}/t && printf AB >> ${mount.path}/t`);
  assert.equal(await readFile(join(mount.path, 't'), 'utf8'), '0123AB');
  await ok(`truncate -s 10 ${mount.path}/t`);
  assert.deepEqual(await readFile(join(server.storage, 'alice', 't')), Buffer.from('0123AB\0\0\0\0'));
});

test('errors: ENOENT, EEXIST with O_EXCL, EPERM for hard links; a FIFO is made; chown is stored', T, async () => {
  const missing = await sh(`cat ${mount.path}/nope`);
  assert.match(missing.stderr, /No such file or directory/);
  await ok(`echo a > ${mount.path}/excl`);
  const excl = await sh(`python3 -c "import os; os.open('${mount.path}/excl', os.O_CREAT | os.O_EXCL | os.O_WRONLY)"`);
  assert.match(excl.stderr, /FileExistsError/);
  assert.match((await sh(`ln ${mount.path}/excl ${mount.path}/hard`)).stderr, /Operation not permitted/);
  // FIFOs are stored as data and run by the client's kernel (docs/posix.md).
  assert.equal((await sh(`mkfifo ${mount.path}/fifo && test -p ${mount.path}/fifo`)).code, 0);
  // The owner is stored with the file (docs/api.md, Ownership); only root may give a file away.
  const giveAway = await sh(`chown 1234 ${mount.path}/excl && stat -c %u ${mount.path}/excl`);
  if (process.getuid?.() === 0) assert.equal(giveAway.stdout.trim(), '1234');
  else assert.match(giveAway.stderr, /Operation not permitted/);
  assert.equal((await sh(`chown $(id -u) ${mount.path}/excl`)).code, 0);
  assert.match((await sh(`echo x > ${mount.path}/p-missing/f`)).stderr, /No such file or directory/);
  assert.match((await sh(`touch ${mount.path}/${'n'.repeat(256)}`)).stderr, /File name too long/);
  assert.equal((await sh(`touch ${mount.path}/${'n'.repeat(255)}`)).code, 0, 'NAME_MAX itself is fine');
  assert.match((await sh(`mkdir ${mount.path}/excl`)).stderr, /File exists/);
  assert.match((await sh(`rmdir ${mount.path}/excl`)).stderr, /Not a directory/);
  assert.match((await sh(`echo x > ${mount.path}/excl/child`)).stderr, /Not a directory/);
  const names = await ok(`ls -a ${mount.path}`);
  assert.doesNotMatch(names, /hard/);
});

test('a file unlinked while open stays readable and leaves no .fuse_hidden file', T, async () => {
  await ok(`echo keep-reading > ${mount.path}/open.txt`);
  const out = await ok(`exec 3< ${mount.path}/open.txt; rm ${mount.path}/open.txt; cat <&3; ls -a ${mount.path}`).catch((err: Error) => {
    throw new Error(`${err.message}\ndaemon stderr: ${mount.stderr()}`);
  });
  assert.match(out, /keep-reading/);
  assert.doesNotMatch(out, /fuse_hidden/);
});

test('a write error reaches close(): writing beyond the quota fails the copy', T, async () => {
  const small = await startServer({ args: ['--quota', '1000000'] });
  const m = await startMount(small.url, 'bob', 'bob-pass');
  try {
    const res = await sh(`head -c 2000000 /dev/urandom > ${m.path}/too-big`);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /No space left on device/);
    // The shell created the file empty before `head` wrote to it; the failed upload left that.
    const listing = await ok(`ls -a ${join(small.storage, 'bob')}`);
    assert.doesNotMatch(listing, /rdrive-tmp/);
    assert.equal((await readFile(join(small.storage, 'bob', 'too-big'))).length, 0);
  } finally {
    await m.cleanup();
    await small.cleanup();
  }
});

test('a read-only mount refuses every change with EROFS', T, async () => {
  const ro = await startMount(server.url, 'alice', 'alice-pass', ['--read-only']);
  try {
    assert.equal(await readFile(join(ro.path, 'doc.txt'), 'utf8'), 'saved by editor\n');
    assert.match((await sh(`echo x > ${ro.path}/new`)).stderr, /Read-only file system/);
    assert.match((await sh(`rm ${ro.path}/doc.txt`)).stderr, /Read-only file system/);
    assert.match((await sh(`mkdir ${ro.path}/d`)).stderr, /Read-only file system/);
  } finally {
    await ro.cleanup();
  }
});

test('writes reach the daemon in 128 KiB pieces (big_writes), not 4 KiB', T, async () => {
  const dbg = await startMount(server.url, 'alice', 'alice-pass', ['--log-level', 'debug']);
  try {
    await ok(`dd if=/dev/zero of=${dbg.path}/chunks bs=1M count=4 status=none`);
    // The daemon's exit flushes its log: every write line is in the file after it.
    await dbg.unmount();
    const writes = (await readFile(dbg.logFile, 'utf8')).split('\n').filter((l) => l.includes('"op":"write"') && l.includes('/chunks'));
    assert.ok(writes.length > 0 && writes.length <= 40, `${writes.length} write calls for 4 MiB`);
  } finally {
    await dbg.cleanup();
  }
});

test('odd but legal names round-trip; names the server refuses fail with EINVAL', T, async () => {
  const names = ['a b.txt', 'hash#q?.txt', 'pct%20x%2e.txt', '100%', 'ünïcödé €.txt', '日本語.txt', "quote'\"s.txt", '-dash', '.hidden', 'colon:semi;.txt'];
  await mkdir(join(mount.path, 'odd'));
  for (const name of names) await writeFile(join(mount.path, 'odd', name), name);
  assert.deepEqual((await readdir(join(mount.path, 'odd'))).sort(), [...names].sort());
  for (const name of names) {
    assert.equal(await readFile(join(mount.path, 'odd', name), 'utf8'), name);
    assert.equal(await readFile(join(server.storage, 'alice', 'odd', name), 'utf8'), name);
  }
  // Refused by the path rules (see docs/api.md): control characters, backslashes, names that
  // decode to a separator or a dot-dot. At the create itself, not at a close after the writes.
  for (const name of ['new\nline', 'back\\slash', '%2f', '%2e%2e', 'x%00']) {
    await assert.rejects(open(join(mount.path, 'odd', name), 'w'), { code: 'EINVAL' }, JSON.stringify(name));
    await assert.rejects(mkdir(join(mount.path, 'odd', name)), { code: 'EINVAL' }, JSON.stringify(name));
  }
  assert.deepEqual((await readdir(join(mount.path, 'odd'))).sort(), [...names].sort());
});

test('a folder holding a new file still open is not empty: rmdir and rename over it fail, the file lands', T, async () => {
  const out = await ok(`cd ${mount.path} && mkdir -p held/D held/E held/X && cd held && python3 - <<'PY'
import errno, os
fd = os.open('D/f', os.O_CREAT | os.O_WRONLY, 0o644); os.write(fd, b'precious')
for what, call in (('rmdir', lambda: os.rmdir('D')), ('rename over', lambda: os.rename('X', 'D'))):
    try:
        call(); print(what, 'succeeded')
    except OSError as e:
        print(what, errno.errorcode[e.errno])
os.write(fd, b' data'); os.close(fd)
PY`);
  assert.equal(out, 'rmdir ENOTEMPTY\nrename over ENOTEMPTY\n');
  assert.equal(await readFile(join(server.storage, 'alice', 'held', 'D', 'f'), 'utf8'), 'precious data');
  assert.deepEqual((await readdir(join(mount.path, 'held'))).sort(), ['D', 'E', 'X']);
});

test('times before 1970 are kept: touch -d, utime, and tar x of an archive carrying them', T, async () => {
  await ok(`mkdir -p old && cd old && echo a > f1960 && touch -d '1960-01-01 12:00:00' f1960 && tar cf ../old.tar f1960`, { cwd: local.path });
  await ok(`mkdir ${mount.path}/old && tar xf ${local.path}/old.tar -C ${mount.path}/old 2>/dev/null; true`);
  assert.equal(await readFile(join(mount.path, 'old', 'f1960'), 'utf8'), 'a\n', 'the file landed');
  assert.equal((await ok(`date -u -r ${mount.path}/old/f1960 +%F`)).trim(), '1960-01-01');
  assert.equal((await ok(`date -u -r ${join(server.storage, 'alice', 'old', 'f1960')} +%F`)).trim(), '1960-01-01');
  await ok(`touch -d '1955-05-06 07:08:09.5 UTC' ${mount.path}/old/f1960`);
  assert.equal((await ok(`TZ=UTC stat -c %y ${mount.path}/old/f1960`)).trim(), '1955-05-06 07:08:09.500000000 +0000');
});

test('times beyond what a disk keeps are clamped as ext4 does, not refused: touch -d 1800 / 3000, tar x', T, async () => {
  const name = join(mount.path, 'ancient');
  await writeFile(name, 'x');
  await ok(`touch -d '1800-01-01 UTC' ${name}`);
  assert.equal((await ok(`TZ=UTC stat -c %y ${name}`)).trim(), '1901-12-13 20:45:52.000000000 +0000');
  await ok(`touch -d '3000-01-01 UTC' ${name}`);
  assert.equal((await ok(`TZ=UTC stat -c %y ${name}`)).trim(), '2446-05-10 22:38:55.000000000 +0000');
  await ok(`mkdir -p far && cd far && echo b > f3000 && tar --mtime='3000-01-01 UTC' -cf ../far.tar f3000`, { cwd: local.path });
  await ok(`mkdir ${mount.path}/far && tar xf ${local.path}/far.tar -C ${mount.path}/far`);
  assert.equal(await readFile(join(mount.path, 'far', 'f3000'), 'utf8'), 'b\n');
  assert.equal((await ok(`date -u -r ${mount.path}/far/f3000 +%Y`)).trim(), '2446');
});

test('names that are not UTF-8 are refused (EILSEQ), never merged into one file', T, async () => {
  const out = await ok(`cd ${mount.path} && mkdir latin1 && cd latin1 && python3 - <<'PY'
import errno, os
for name in (b'caf\\xe9', b'caf\\xeb', b'r\\xe9sum\\xe9.txt'):
    for what, call in (('create', lambda: os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o644))), ('mkdir', lambda: os.mkdir(name))):
        try:
            call(); print(what, 'ok')
        except OSError as e:
            print(what, errno.errorcode[e.errno])
for target in (b'caf\\xe9', b'dir/caf\\xe8'):
    try:
        os.symlink(target, b'link'); print('symlink ok')
    except OSError as e:
        print('symlink', errno.errorcode[e.errno])
open('caf\\u00e9', 'w').write('utf-8 name')
print(sorted(os.listdir('.')))
PY`);
  assert.equal(out, `${'create EILSEQ\nmkdir EILSEQ\n'.repeat(3)}symlink EILSEQ\nsymlink EILSEQ\n['café']\n`);
  assert.equal(await readFile(join(mount.path, 'latin1', 'café'), 'utf8'), 'utf-8 name');
});

test('truncate(2) by path of a file another process holds open for reading reaches the server at once', T, async () => {
  const file = join(mount.path, 'held-open.log');
  await writeFile(file, 'hello world');
  const reader = await open(file, 'r');
  try {
    await ok(`python3 -c "import os; os.truncate('${file}', 2)"`);
    assert.equal(await readFile(join(server.storage, 'alice', 'held-open.log'), 'utf8'), 'he', 'the server holds the truncated file while the reader is still open');
    const { bytesRead, buffer } = await reader.read(Buffer.alloc(16), 0, 16, 0);
    assert.equal(buffer.subarray(0, bytesRead).toString(), 'he', 'the open reader sees the truncate');
  } finally {
    await reader.close();
  }
  assert.equal(await readFile(file, 'utf8'), 'he');
});

test('`: > f` of an empty file and ftruncate to the same size move mtime and ctime, as on a local disk (make stamps)', T, async () => {
  const stamp = join(mount.path, 'stamp');
  await writeFile(stamp, '');
  const first = await stat(stamp);
  await waitFor(() => Date.now(), (now) => now > first.mtimeMs + 20, 5_000, 5);
  await ok(`: > '${stamp}'`);
  const second = await stat(stamp);
  assert.ok(second.mtimeMs > first.mtimeMs, `mtime moved (${first.mtimeMs} -> ${second.mtimeMs})`);
  assert.ok(second.ctimeMs > first.ctimeMs, 'ctime moved');
  assert.equal(Math.floor((await stat(join(server.storage, 'alice', 'stamp'))).mtimeMs), Math.floor(second.mtimeMs), 'the server has it');

  await waitFor(() => Date.now(), (now) => now > second.mtimeMs + 20, 5_000, 5);
  await ok(`python3 -c "import os; fd = os.open('${stamp}', os.O_WRONLY); os.ftruncate(fd, 0); os.close(fd)"`);
  assert.ok((await stat(stamp)).mtimeMs > second.mtimeMs, 'ftruncate to the same size moved mtime');
});

// An editor's atomic save (write a temp file, rename it over the name) while the file is open on
// this mount: libfuse first hides the open file under .fuse_hidden…, then renames. The name must
// be replaced in one step on the server, or other clients miss it meanwhile (each step waits
// for their read lease: ~1 s) and a crash in between leaves neither version at the name.
test('a rename over a file held open here replaces it in one step: another client never misses the name', T, async () => {
  const name = 'atomic.cfg';
  const other = new ApiClient({ server: server.url });
  // Longer than the head an open fetches: the held file's later reads go to the server.
  const old = Buffer.alloc(600_000, 'o');
  await writeFile(join(mount.path, name), old);
  const held = await open(join(mount.path, name), 'r');
  let stop = false;
  const seen = { reads: 0, missing: 0 };
  try {
    await other.login('alice', 'alice-pass');
    // A reader on another machine, holding read leases as a mount does.
    const watcher = (async () => {
      while (!stop) {
        try {
          await other.readFirst(name, 64);
          seen.reads++;
        } catch (err) {
          if (!(err instanceof RdriveError && err.code === 'ENOENT')) throw err;
          seen.missing++;
        }
      }
    })();
    try {
      for (let i = 1; i <= 3; i++) {
        await writeFile(join(mount.path, `.${name}.tmp`), `v${i}\n`);
        await rename(join(mount.path, `.${name}.tmp`), join(mount.path, name));
      }
    } finally {
      stop = true;
      await watcher;
    }
    const tail = Buffer.alloc(1000);
    assert.equal((await held.read(tail, 0, 1000, 500_000)).bytesRead, 1000, 'the open file still reads its own content');
    assert.ok(tail.equals(old.subarray(500_000, 501_000)));
  } finally {
    await held.close();
    await other.close();
  }
  assert.ok(seen.reads > 0);
  assert.equal(seen.missing, 0, `the name was missing on the server ${seen.missing} times of ${seen.reads + seen.missing}`);
  assert.equal(await readFile(join(server.storage, 'alice', name), 'utf8'), 'v3\n');
  assert.equal(await readFile(join(mount.path, name), 'utf8'), 'v3\n');
  // The old file's hidden name goes at its last close, and with it its bytes.
  await waitFor(() => readdir(join(server.storage, 'alice')), (names) => !names.some((n) => n.startsWith('.fuse_hidden')), 5_000);
  assert.deepEqual((await readdir(join(server.storage, 'alice'))).filter((n) => n.startsWith('.fuse_hidden')), []);
});

// truncate(2) by path right after the last close: the release and the truncate ran at once, the
// release disposed of the copy under the truncate, and the upload after it sent zeros.
test('truncate(2) by path right after the last close keeps the bytes it keeps', T, async () => {
  const out = await ok(`python3 - <<'PY'
import os
bad = 0
data = (b'0123456789abcdef' * 300)[:4000]
for i in range(30):
    p = '${mount.path}/cut-after-close-%d' % i
    open(p, 'wb').close()
    with open(p, 'ab') as f:
        f.write(data)
    os.truncate(p, 3000)
print('done')
PY`);
  assert.equal(out, 'done\n');
  const want = Buffer.from('0123456789abcdef'.repeat(300)).subarray(0, 3000);
  for (let i = 0; i < 30; i++) {
    const name = `cut-after-close-${i}`;
    const stored = await waitFor(() => readFile(join(server.storage, 'alice', name)), (b) => b.length === 3000, 5_000);
    assert.ok(stored.equals(want), `${name} on the server: ${stored.subarray(0, 16).toString('hex')}…`);
  }
  await ok(`rm -f ${mount.path}/cut-after-close-*`);
});

// A change made after a close that failed is a new change: it must reach the server (or fail).
test('a truncate and a chmod by path after a failed close reach the server', T, async () => {
  const limited = await startServer({ args: ['--max-file-size', '3000000'] });
  const m = await startMount(limited.url, 'alice', 'alice-pass');
  try {
    const out = await ok(`python3 - <<'PY'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
p = '${m.path}/a'
with open(p, 'wb') as f:
    f.write(b'x' * 2000000)
fd = os.open(p, os.O_RDWR)
os.lseek(fd, 0, os.SEEK_END)
os.write(fd, b'y' * 1500000)
# A mapping keeps the file open past close() without another descriptor (Python's mmap dups one).
addr = libc.mmap(None, 4096, 1, 1, fd, 0)
try:
    os.close(fd)
    print('close ok')
except OSError as e:
    print('close', errno.errorcode[e.errno])
os.truncate(p, 1000)
os.chmod(p, 0o600)
libc.munmap(ctypes.c_void_p(addr), 4096)
PY`);
    assert.equal(out, 'close EFBIG\n');
    const stored = join(limited.storage, 'alice', 'a');
    const st = await waitFor(() => stat(stored), (s) => s.size === 1000 && (s.mode & 0o777) === 0o600, 5_000);
    assert.equal(st.size, 1000, 'the truncate reached the server');
    assert.equal(st.mode & 0o777, 0o600, 'the chmod reached the server');
  } finally {
    await m.cleanup();
    await limited.cleanup();
  }
});

// The kernel still holds the name of a new file whose first close failed, for a moment, and
// sends an open instead of a create when a program makes the file again.
test('a new file whose first close failed can be made again at once', T, async () => {
  const limited = await startServer({ args: ['--quota', '1000000'] });
  const m = await startMount(limited.url, 'alice', 'alice-pass');
  try {
    const out = await ok(`python3 - <<'PY'
import errno
def write(n):
    try:
        with open('${m.path}/new.bin', 'wb') as f:
            f.write(b'x' * n)
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
print(write(2000000), write(10000))
PY`);
    assert.equal(out, 'ENOSPC ok\n');
    assert.equal((await stat(join(limited.storage, 'alice', 'new.bin'))).size, 10000);
  } finally {
    await m.cleanup();
    await limited.cleanup();
  }
});
