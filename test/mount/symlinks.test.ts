import assert from 'node:assert/strict';
import { lstat, readFile, readlink, readdir, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Symbolic links on the mount: stored by the server as data, resolved by this machine's kernel. */
let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-links-');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

test('ln -s, readlink, lstat and stat: relative and absolute targets, read through the link', T, async () => {
  const m = mount.path;
  await writeFile(join(m, 'target.txt'), 'through the link\n');
  await symlink('target.txt', join(m, 'rel'));
  await symlink(join(m, 'target.txt'), join(m, 'abs'));
  assert.equal(await readlink(join(m, 'rel')), 'target.txt');
  assert.equal(await readlink(join(m, 'abs')), join(m, 'target.txt'));
  const l = await lstat(join(m, 'rel'));
  assert.equal(l.isSymbolicLink(), true);
  assert.equal(l.size, Buffer.byteLength('target.txt'));
  assert.equal(l.mode & 0o777, 0o777);
  assert.equal((await stat(join(m, 'rel'))).isFile(), true, 'stat follows the link');
  assert.equal(await readFile(join(m, 'rel'), 'utf8'), 'through the link\n');
  assert.equal(await readFile(join(m, 'abs'), 'utf8'), 'through the link\n');
  await writeFile(join(m, 'rel'), 'written through the link\n');
  assert.equal(await readFile(join(m, 'target.txt'), 'utf8'), 'written through the link\n');
  assert.equal((await lstat(join(m, 'rel'))).isSymbolicLink(), true, 'writing through a link leaves it a link');
  const listing = await ok(`ls -l ${m}`);
  assert.match(listing, /^l[rwx-]{9} .* rel -> target\.txt$/m);
});

test('a new mount (empty caches) reads links back from the server', T, async () => {
  await symlink('somewhere/else', join(mount.path, 'kept'));
  const second = await startMount(server.url, 'alice', 'alice-pass');
  try {
    assert.equal(await readlink(join(second.path, 'kept')), 'somewhere/else');
    const types = await ok(`find ${second.path} -maxdepth 1 -name kept -printf '%y'`);
    assert.equal(types, 'l');
  } finally {
    await second.cleanup();
  }
});

test('dangling links: lstat works, stat and open say ENOENT, rm removes the link', T, async () => {
  const link = join(mount.path, 'dangling');
  await symlink('no/such/file', link);
  assert.equal((await lstat(link)).isSymbolicLink(), true);
  await assert.rejects(stat(link), { code: 'ENOENT' });
  await assert.rejects(readFile(link), { code: 'ENOENT' });
  assert.ok((await readdir(mount.path)).includes('dangling'));
  await unlink(link);
  await assert.rejects(lstat(link), { code: 'ENOENT' });
});

test('rename and unlink act on the link, never on its target; a link to itself loops', T, async () => {
  const m = mount.path;
  await writeFile(join(m, 'keep.txt'), 'keep\n');
  await symlink('keep.txt', join(m, 'l1'));
  await rename(join(m, 'l1'), join(m, 'l2'));
  assert.equal(await readlink(join(m, 'l2')), 'keep.txt');
  await assert.rejects(lstat(join(m, 'l1')), { code: 'ENOENT' });
  await writeFile(join(m, 'other.txt'), 'other\n');
  await rename(join(m, 'other.txt'), join(m, 'l2'));
  assert.equal((await lstat(join(m, 'l2'))).isFile(), true, 'a file renamed over a link replaces the link');
  assert.equal(await readFile(join(m, 'keep.txt'), 'utf8'), 'keep\n', 'the old link\'s target is untouched');
  await symlink('loop', join(m, 'loop'));
  await assert.rejects(readFile(join(m, 'loop')), { code: 'ELOOP' });
  await assert.rejects(symlink('x', join(m, 'keep.txt')), { code: 'EEXIST' });
  const deep = await sh(`ln -s x ${join(m, 'keep.txt')}/y`);
  assert.match(deep.stderr, /Not a directory/);
});

test('a link pointing outside the mount is resolved by this machine\'s kernel, not the server', T, async () => {
  const outside = join(local.path, 'outside.txt');
  await writeFile(outside, 'client-side file\n');
  await symlink(outside, join(mount.path, 'out'));
  assert.equal(await readFile(join(mount.path, 'out'), 'utf8'), 'client-side file\n');
  // The server stores no OS symlink: nothing in its storage resolves to the client's file.
  const found = await ok(`find ${server.storage} -type l | wc -l`);
  assert.equal(found.trim(), '0');
});

test('cp -a, rsync -a and tar keep links as links, in and out of the mount', T, async () => {
  const src = join(local.path, 'tree');
  await ok(`mkdir -p ${src}/d && echo data > ${src}/d/f && ln -s d/f ${src}/rel && ln -s /etc/hostname ${src}/abs && ln -s gone ${src}/dangling && ln -s d ${src}/dirlink`);
  const check = async (dir: string): Promise<void> => {
    assert.equal(await readlink(join(dir, 'rel')), 'd/f');
    assert.equal(await readlink(join(dir, 'abs')), '/etc/hostname');
    assert.equal(await readlink(join(dir, 'dangling')), 'gone');
    assert.equal(await readlink(join(dir, 'dirlink')), 'd');
    assert.equal(await readFile(join(dir, 'dirlink', 'f'), 'utf8'), 'data\n');
  };
  await ok(`cp -a ${src} ${mount.path}/cp && cp -a ${mount.path}/cp ${local.path}/cp-back`);
  await check(join(mount.path, 'cp'));
  await check(join(local.path, 'cp-back'));
  await ok(`rsync -a ${src}/ ${mount.path}/rs/ && rsync -a ${mount.path}/rs/ ${local.path}/rs-back/`);
  await check(join(mount.path, 'rs'));
  await check(join(local.path, 'rs-back'));
  await ok(`diff -r --no-dereference ${src} ${local.path}/rs-back`);
  await ok(`tar -C ${local.path} -cf - tree | tar -C ${mount.path} -xf - --transform s/^tree/tar/ && tar -C ${mount.path} -cf ${local.path}/from-mount.tar tar`);
  await check(join(mount.path, 'tar'));
  const listing = await ok(`tar -tvf ${local.path}/from-mount.tar`);
  assert.match(listing, /^l.* tar\/rel -> d\/f$/m);
});

test('git commits a link as a link and checks it out as one, in the mount and out of it', T, async () => {
  const repo = join(mount.path, 'repo');
  const git = 'git -c user.name=t -c user.email=t@example.org -c init.defaultBranch=main';
  await ok(`mkdir ${repo} && cd ${repo} && ${git} init -q && echo hi > f && ln -s f link && ${git} add f link && ${git} commit -qm links`);
  const tree = await ok(`cd ${repo} && git ls-tree HEAD link`);
  assert.match(tree, /^120000 blob /, 'stored in git as a link (mode 120000)');
  await ok(`git clone -q ${repo} ${local.path}/clone && rm ${repo}/link && cd ${repo} && git checkout -q -- link`);
  assert.equal(await readlink(join(local.path, 'clone', 'link')), 'f');
  assert.equal(await readlink(join(repo, 'link')), 'f', 'checked out again as a link on the mount');
  assert.equal((await ok(`cd ${repo} && git status --porcelain`)).trim(), '');
});
