import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/**
 * chown/chgrp on the mount: the owner is stored with the entry on the server and shown by every
 * mount; the kernel (default_permissions) decides who may change it and checks access against
 * it. Needs root (to act as other users) and --allow-other (so that they reach the mount).
 */
let server: TestServer;
let mount: TestMount;
const T = { timeout: 90_000 };
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Runs a shell command as uid:gid (no supplementary groups unless given). */
function as(uid: number, gid: number, command: string, groups: number[] = []) {
  const g = groups.length === 0 ? '--clear-groups' : `--groups ${groups.join(',')}`;
  return sh(`setpriv --reuid ${uid} --regid ${gid} ${g} sh -c '${command}'`);
}

before(async () => {
  if (!isRoot) return;
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass', ['--allow-other']);
  // Other users must be able to walk to the mountpoint (the helper's temp dir is 0700).
  await chmod(dirname(mount.path), 0o755);
  await mkdir(join(mount.path, 'shared'), { mode: 0o777 });
  await chmod(join(mount.path, 'shared'), 0o777);
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
});

const skip = isRoot ? false : 'acting as other users needs root';

test('root gives a file away: every mount shows the new owner, and the kernel checks access against it', { ...T, skip }, async () => {
  const f = join(mount.path, 'shared', 'given');
  await writeFile(f, 'secret\n', { mode: 0o600 });
  await chmod(f, 0o600);
  await ok(`chown ${NOBODY}:${NOBODY} ${f}`);
  const st = await lstat(f);
  assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY]);
  assert.equal((await as(NOBODY, NOBODY, `cat ${f}`)).stdout, 'secret\n', 'the new owner reads its 0600 file');
  const other = await as(NOBODY - 1, NOBODY - 1, `cat ${f}`);
  assert.notEqual(other.code, 0, 'anyone else is refused');
  assert.match(other.stderr, /Permission denied/);
  // The new owner writes; the upload replaces the stored file and keeps the owner.
  const rewrite = await as(NOBODY, NOBODY, `echo rewritten > ${f}`);
  assert.equal(rewrite.code, 0, rewrite.stderr);
  const second = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const again = await lstat(join(second.path, 'shared', 'given'));
    assert.deepEqual([again.uid, again.gid, again.size], [NOBODY, NOBODY, 'rewritten\n'.length]);
  } finally {
    await second.cleanup();
  }
});

test('what another user creates is theirs; a setgid directory gives its group', { ...T, skip }, async () => {
  const d = join(mount.path, 'shared');
  const made = await as(NOBODY, NOBODY, `touch ${d}/n-file && mkdir ${d}/n-dir && mkfifo ${d}/n-fifo && ln -s n-file ${d}/n-link && echo ok`);
  assert.equal(made.stdout.trim(), 'ok', made.stderr);
  for (const name of ['n-file', 'n-dir', 'n-fifo', 'n-link']) {
    const st = await lstat(join(d, name));
    assert.deepEqual([name, st.uid, st.gid], [name, NOBODY, NOBODY]);
  }
  const sgid = join(mount.path, 'sgid');
  await mkdir(sgid);
  await ok(`chown 0:4242 ${sgid} && chmod 2777 ${sgid}`);
  assert.equal((await as(NOBODY, NOBODY, `touch ${sgid}/f && mkdir ${sgid}/sub`)).code, 0);
  const f = await lstat(join(sgid, 'f'));
  const sub = await lstat(join(sgid, 'sub'));
  assert.deepEqual([f.uid, f.gid], [NOBODY, 4242]);
  assert.deepEqual([sub.uid, sub.gid, sub.mode & 0o2000], [NOBODY, 4242, 0o2000], 'a subdirectory inherits setgid');
});

test('only root gives a file away; an owner changes the group only to one of its own', { ...T, skip }, async () => {
  const f = join(mount.path, 'shared', 'owned');
  await writeFile(f, 'x');
  await ok(`chown ${NOBODY}:${NOBODY} ${f}`);
  const giveAway = await as(NOBODY, NOBODY, `chown 0 ${f}`);
  assert.notEqual(giveAway.code, 0);
  assert.match(giveAway.stderr, /Operation not permitted/);
  const foreignGroup = await as(NOBODY, NOBODY, `chgrp 4242 ${f}`);
  assert.notEqual(foreignGroup.code, 0, 'not a member of 4242');
  assert.equal((await as(NOBODY, NOBODY, `chgrp 4343 ${f}`, [4343])).code, 0, 'a member of 4343');
  const st = await lstat(f);
  assert.deepEqual([st.uid, st.gid], [NOBODY, 4343]);
  const notOwner = await as(NOBODY - 1, NOBODY - 1, `chgrp ${NOBODY - 1} ${f}`);
  assert.notEqual(notOwner.code, 0, 'someone else cannot touch it');
});

test('chown clears setuid and executable setgid, as on Linux', { ...T, skip }, async () => {
  const f = join(mount.path, 'shared', 'suid');
  await writeFile(f, '#!/bin/sh\n');
  await chmod(f, 0o6755);
  await ok(`chown 1:1 ${f}`);
  assert.equal((await lstat(f)).mode & 0o7777, 0o755);
});
