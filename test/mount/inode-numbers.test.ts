import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { serverWithMount } from '../helpers/mounted-server.js';
import { ok } from '../helpers/mount-process.js';

/**
 * An entry keeps its inode number while the kernel forgets and looks it up again (the mount's
 * own numbers, see mount/fuse/inode-numbers.ts), and across a rename: tar, rsync and find -inum
 * compare st_ino between calls.
 */
const fixture = serverWithMount();

test('inode numbers survive the kernel forgetting the entries, and a rename', { timeout: 60_000 }, async () => {
  const dir = join(fixture.mount.path, 'inodes');
  await mkdir(dir);
  const names = Array.from({ length: 20 }, (_, i) => `f${i}`);
  for (const name of names) await writeFile(join(dir, name), name);
  const before = new Map<string, number>();
  for (const name of names) before.set(name, (await stat(join(dir, name))).ino);
  assert.equal(new Set(before.values()).size, names.length, 'distinct files, distinct numbers');
  // Drops the kernel's dentries and inodes: it sends FORGET for every entry it held.
  await ok('sync; echo 2 > /proc/sys/vm/drop_caches');
  for (const name of names) assert.equal((await stat(join(dir, name))).ino, before.get(name), `${name} kept its number`);
  await rename(join(dir, 'f0'), join(dir, 'moved'));
  await ok('echo 2 > /proc/sys/vm/drop_caches');
  assert.equal((await stat(join(dir, 'moved'))).ino, before.get('f0'), 'a renamed file keeps its number');
});

test('a rename onto a name whose file vanished behind the mount works (libfuse\'s remember aborted the daemon)', { timeout: 60_000 }, async () => {
  const dir = join(fixture.mount.path, 'vanished');
  await mkdir(dir);
  await writeFile(join(dir, 'g'), 'one');
  assert.equal((await stat(join(dir, 'g'))).size, 3);
  // Another client (here: the server's disk itself) removes it; this mount learns it at the next lookup.
  await rm(join(fixture.server.storage, 'alice', 'vanished', 'g'));
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await assert.rejects(stat(join(dir, 'g')), { code: 'ENOENT' });
  await writeFile(join(dir, 'f'), 'two');
  const ino = (await stat(join(dir, 'f'))).ino;
  await rename(join(dir, 'f'), join(dir, 'g'));
  assert.equal(await readFile(join(dir, 'g'), 'utf8'), 'two');
  assert.equal((await stat(join(dir, 'g'))).ino, ino);
  assert.deepEqual(await readdir(dir), ['g'], 'the mount is alive and lists the folder');
});
