import assert from 'node:assert/strict';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { serverWithMount } from '../helpers/mounted-server.js';
import { ok } from '../helpers/mount-process.js';

/**
 * An entry keeps its inode number while the kernel forgets and looks it up again (libfuse's
 * `remember`, see mount/fuse/rdrive-fuse.ts), and across a rename: tar, rsync and find -inum
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
