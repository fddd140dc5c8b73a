import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HELPER_PATH } from '../../cli/mount-helper.js';
import { forceUnmount, isMounted, ok, sh } from '../helpers/mount-process.js';
import { REPO_ROOT, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The Linux way of mounting, for real: a global npm install (into a temp prefix), `rdrive
 * install-helper`, then mount(8) itself — `mount -t fuse.rdrive` with an empty environment and
 * `mount --fstab FILE MOUNTPOINT` with the documented fstab options. Needs root (mount(8) and
 * /sbin); skipped otherwise.
 */
const isRoot = process.getuid?.() === 0;
let server: TestServer;
let tmp: { path: string; remove: () => Promise<void> };
let previousHelper: string | undefined;
let rdrive: string;
const mounts: string[] = [];

before(async () => {
  if (!isRoot) return;
  server = await startServer();
  tmp = await makeTempDir('rdrive-fstab-');
  previousHelper = await readFile(HELPER_PATH, 'utf8').catch(() => undefined);
  await ok(`npm install -g --prefix ${join(tmp.path, 'prefix')} --no-audit --no-fund --offline ${REPO_ROOT}`, { timeoutMs: 120_000 });
  rdrive = join(tmp.path, 'prefix', 'bin', 'rdrive');
}, { timeout: 150_000 });

after(async () => {
  if (!isRoot) return;
  for (const m of mounts) {
    await sh(`${rdrive} unmount ${m}`);
    await forceUnmount(m);
  }
  if (previousHelper === undefined) await sh(`${rdrive} install-helper --remove`);
  else await writeFile(HELPER_PATH, previousHelper, { mode: 0o755 });
  await sh(`npm uninstall -g --prefix ${join(tmp.path, 'prefix')} rdrive`);
  await tmp.remove();
  await server.cleanup();
}, { timeout: 60_000 });

async function mountLine(mnt: string): Promise<string | undefined> {
  return (await readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mnt);
}

test('install-helper installs /sbin/mount.fuse.rdrive and says so; a second run changes nothing', { skip: !isRoot, timeout: 60_000 }, async () => {
  const first = await ok(`${rdrive} install-helper`);
  assert.match(first, /(installed|replaced|already runs) \/sbin\/mount\.fuse\.rdrive/);
  const script = await readFile(HELPER_PATH, 'utf8');
  assert.match(script, new RegExp(`'${process.execPath}' '${REPO_ROOT}/bin/rdrive.js'`));
  assert.match(await ok(`${rdrive} install-helper`), /nothing changed/);
});

test('mount -t fuse.rdrive with -o options, from an empty environment, and a refused world-readable password file', { skip: !isRoot, timeout: 90_000 }, async () => {
  await ok(`${rdrive} install-helper`);
  const pw = join(tmp.path, 'alice.pw');
  await writeFile(pw, 'alice-pass\n');
  await chmod(pw, 0o644);
  const mnt = join(tmp.path, 'mnt-t');
  await ok(`mkdir -p ${mnt}`);
  const url = `http://127.0.0.1:${server.port}`;
  const opts = `rw,username=alice,password_file=${pw},attr_timeout=2,log_file=${join(tmp.path, 'client.log')}`;

  const refused = await sh(`env -i /usr/bin/mount -t fuse.rdrive ${url} ${mnt} -o ${opts}`);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /readable by others \(mode 644\): run "chmod 600/);
  assert.equal(await isMounted(mnt), false);

  await chmod(pw, 0o600);
  mounts.push(mnt);
  // mount returns only once the mount is usable (the helper daemonizes like sshfs).
  await ok(`env -i /usr/bin/mount -t fuse.rdrive ${url} ${mnt} -o ${opts}`);
  assert.equal(await isMounted(mnt), true);
  assert.match((await mountLine(mnt))!, new RegExp(`^alice@127\\.0\\.0\\.1:${server.port} ${mnt} fuse\\.rdrive `));
  await writeFile(join(mnt, 'hello.txt'), 'hi from mount(8)\n');
  assert.equal(await readFile(join(server.storage, 'alice', 'hello.txt'), 'utf8').catch(() => ''), 'hi from mount(8)\n');
  assert.match(await ok(`df -P ${mnt}`), new RegExp(`alice@127\\.0\\.0\\.1:${server.port} `));
  // The inode figures are the user's entry limit (--max-entries, 1,000,000 by default): what
  // is kept (at least hello.txt) and what is left of it.
  const [total, used, free] = (await ok(`df -i -P ${mnt}`)).trim().split('\n')[1]!.split(/\s+/).slice(1, 4).map(Number);
  assert.equal(total, 1_000_000);
  assert.ok(used! >= 1, `entries used: ${used}`);
  assert.equal(free, total! - used!);

  await ok(`${rdrive} unmount ${mnt}`);
  assert.equal(await isMounted(mnt), false);
});

test('mount --fstab with the documented noauto,_netdev,x-systemd.automount line', { skip: !isRoot, timeout: 90_000 }, async () => {
  await ok(`${rdrive} install-helper`);
  const pw = join(tmp.path, 'alice2.pw');
  await writeFile(pw, 'alice-pass\n', { mode: 0o600 });
  const mnt = join(tmp.path, 'mnt-fstab');
  await ok(`mkdir -p ${mnt}`);
  const fstab = join(tmp.path, 'fstab');
  await writeFile(fstab, [
    '# <source> <mountpoint> <type> <options> <dump> <pass>',
    `http://alice@127.0.0.1:${server.port} ${mnt} fuse.rdrive noauto,_netdev,nofail,x-systemd.automount,x-systemd.idle-timeout=60,ro,password_file=${pw},log_file=${join(tmp.path, 'client2.log')} 0 0`,
    '',
  ].join('\n'));
  mounts.push(mnt);
  await ok(`mount --fstab ${fstab} ${mnt}`);
  assert.equal(await isMounted(mnt), true);
  const line = (await mountLine(mnt))!;
  assert.match(line, new RegExp(`^alice@127\\.0\\.0\\.1:${server.port} ${mnt} fuse\\.rdrive ro,`));
  await waitFor(() => sh(`ls ${mnt}`), (r) => r.code === 0, 10_000);
  const write = await sh(`touch ${join(mnt, 'nope')}`);
  assert.match(write.stderr, /Read-only file system/);
  await ok(`${rdrive} unmount ${mnt}`);
  assert.equal(await isMounted(mnt), false);
});
