import assert from 'node:assert/strict';
import { appendFile, chmod, lstat, mkdir, open, readFile, rename, rmdir, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serverWithMount } from '../helpers/mounted-server.js';
import { ok, sh } from '../helpers/mount-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitForLog } from '../helpers/logs.js';
import { waitFor } from '../helpers/wait.js';

/**
 * ctime on the mount is the server's real one (POSIX: it moves on every change of content or
 * attributes, never on a read), and the value shown after a change is the one every later stat
 * shows: tar compares them around each read ("file changed as we read it").
 */
const fixture = serverWithMount();
let local: { path: string; remove: () => Promise<void> };
const T = { timeout: 120_000 };

before(async () => {
  local = await makeTempDir('rdrive-ctime-');
});

after(async () => {
  await local?.remove();
});

/** Times as the mount shows them: whole milliseconds. */
async function times(path: string): Promise<{ mtime: number; ctime: number }> {
  const st = await lstat(path);
  return { mtime: Math.floor(st.mtimeMs), ctime: Math.floor(st.ctimeMs) };
}

/** The same file's times in the server's storage, which a later stat from any mount reports. */
function stored(name: string): Promise<{ mtime: number; ctime: number }> {
  return times(join(fixture.server.storage, 'alice', name));
}

/** Waits until the clock has passed `ms` by a few milliseconds, so that a new time differs. */
async function pastMs(ms: number): Promise<void> {
  await waitFor(() => Date.now(), (now) => now > ms + 5, 5_000, 5);
}

test('chmod, chown and utimes move ctime only; a write moves both; a read moves neither; each as the server has it', T, async () => {
  const file = join(fixture.mount.path, 'c.txt');
  await writeFile(file, 'first');
  const made = await times(file);
  assert.deepEqual(made, await stored('c.txt'), 'after the close, the mount shows the server\'s times');

  await pastMs(made.ctime);
  await chmod(file, 0o600);
  const chmodded = await times(file);
  assert.equal(chmodded.mtime, made.mtime, 'chmod keeps mtime');
  assert.ok(chmodded.ctime > made.ctime, `chmod moves ctime (${made.ctime} -> ${chmodded.ctime})`);
  assert.deepEqual(chmodded, await stored('c.txt'));

  await pastMs(chmodded.ctime);
  await ok(`chown 1234:1234 '${file}'`);
  const chowned = await times(file);
  assert.equal(chowned.mtime, made.mtime, 'chown keeps mtime');
  assert.ok(chowned.ctime > chmodded.ctime, 'chown moves ctime');
  assert.deepEqual(chowned, await stored('c.txt'));

  await pastMs(chowned.ctime);
  await utimes(file, new Date(1_000_000_000_000), new Date(1_000_000_000_000));
  const retimed = await times(file);
  assert.equal(retimed.mtime, 1_000_000_000_000);
  assert.ok(retimed.ctime > chowned.ctime, 'utimes moves ctime');
  assert.deepEqual(retimed, await stored('c.txt'));

  // Reads through fresh opens (the first one fetches from the server) change nothing anywhere.
  assert.equal(await readFile(file, 'utf8'), 'first');
  assert.equal(await readFile(file, 'utf8'), 'first');
  assert.deepEqual(await times(file), retimed, 'a read does not move ctime on the mount');
  assert.deepEqual(await stored('c.txt'), retimed, 'nor on the server');

  await pastMs(retimed.ctime);
  await appendFile(file, ' second');
  const written = await times(file);
  assert.ok(written.mtime > retimed.mtime && written.ctime > retimed.ctime, 'a write moves mtime and ctime');
  assert.deepEqual(written, await stored('c.txt'));
});

test('tar x then at once tar c of the same tree: no "file changed as we read it", exit status 0; tar x sends one request per file', T, async () => {
  const FILES = 60 + 30 + 1;
  // Old mtimes (as in any archive), modes tar must set, empty files and nested folders.
  await ok(`mkdir -p src/a/b src/c && for i in $(seq 1 60); do head -c $((i * 97)) /dev/urandom > src/a/f$i; done
    for i in $(seq 1 30); do echo $i > src/a/b/g$i; chmod 640 src/a/b/g$i; done; : > src/c/empty; chmod 755 src/a/f1
    touch -d '2001-02-03 04:05:06' src/a/f* src/c/empty src/a/b src/c src/a src`, { cwd: local.path });
  await ok(`tar -C ${local.path} -cf ${local.path}/in.tar src`);
  for (const round of [1, 2]) {
    const dir = join(fixture.mount.path, `tree${round}`);
    // Round 2 keeps no times (tar x -m): the files' mtimes are the extraction's.
    await ok(`mkdir '${dir}' && tar -C '${dir}' ${round === 2 ? '-m ' : ''}-xf ${local.path}/in.tar`);
    // tar sets times, owner and mode on each open file before closing it: all of it goes with
    // the content, one upload per file and no attribute request on any file.
    const log = await waitForLog(join(fixture.server.logs, 'server.log'), new RegExp(`"method":"PUT","route":"/api/v1/files/tree${round}/`), FILES);
    assert.equal(log.match(new RegExp(`"method":"PUT","route":"/api/v1/files/tree${round}/`, 'g'))?.length, FILES, `round ${round}: one upload per file`);
    assert.deepEqual(log.match(new RegExp(`"method":"PATCH","route":"/api/v1/attrs/tree${round}/src/(a/f|a/b/g|c/empty)[^"]*`, 'g')) ?? [], [], `round ${round}: no attribute request on a file`);
    const out = await sh(`tar -C '${dir}' -cf ${local.path}/out${round}.tar src`);
    assert.equal(out.stderr, '', `round ${round}: tar c warned`);
    assert.equal(out.code, 0, `round ${round}: tar c exit status`);
    await ok(`mkdir ${local.path}/out${round} && tar -C ${local.path}/out${round} -xf ${local.path}/out${round}.tar && diff -r ${local.path}/src ${local.path}/out${round}/src`);
  }
});

test('a folder\'s times after a change in it are the server\'s, whatever the new entry\'s own times', T, async () => {
  const dir = join(fixture.mount.path, 'folder-times');
  await mkdir(dir);
  await mkdir(join(fixture.mount.path, 'elsewhere'));
  await writeFile(join(fixture.mount.path, 'elsewhere', 'moved'), 'm');
  const changes: Array<[string, () => Promise<void>]> = [
    // An extracted or copied file keeps its old mtime; the folder's moves to now all the same.
    ['create with an old mtime', async () => {
      const fh = await open(join(dir, 'old'), 'w');
      await fh.write('x');
      await fh.utimes(new Date('2001-02-03'), new Date('2001-02-03'));
      await fh.close();
    }],
    ['mkdir', () => mkdir(join(dir, 'sub'))],
    ['symlink', () => symlink('old', join(dir, 'link'))],
    ['rename in', () => rename(join(fixture.mount.path, 'elsewhere', 'moved'), join(dir, 'moved'))],
    ['unlink', () => unlink(join(dir, 'old'))],
    ['rmdir', () => rmdir(join(dir, 'sub'))],
  ];
  for (const [what, change] of changes) {
    const before = await times(dir);
    assert.deepEqual(before, await stored('folder-times'), `before ${what}: the folder's times are the server's`);
    await pastMs(Math.max(before.mtime, before.ctime));
    await change();
    const after = await times(dir);
    assert.deepEqual(after, await stored('folder-times'), `after ${what}, the mount shows the server's folder times`);
    assert.ok(after.mtime > before.mtime, `${what} moves the folder's mtime (${before.mtime} -> ${after.mtime})`);
  }
  assert.deepEqual(await times(join(fixture.mount.path, 'elsewhere')), await stored('elsewhere'), 'the rename\'s source folder shows the server\'s times');
});
