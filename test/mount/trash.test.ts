import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * A desktop's trash on the mount, as file managers use it (pcmanfm, Nautilus and Thunar all go
 * through GIO): `gio trash` moves a file into `.Trash-<uid>` at the mount's root (the
 * FreeDesktop trash spec for a filesystem other than the home's), and gvfsd-trash lists and
 * restores it. Needs gio (libglib2.0-bin), gvfsd-trash (gvfs-daemons) and dbus-run-session
 * (dbus-daemon), which scripts/test.sh installs; skipped with a message without them.
 */
const missing = [
  ['gio', '/usr/bin/gio', 'libglib2.0-bin'],
  ['gvfsd-trash', '/usr/libexec/gvfsd-trash', 'gvfs-daemons'],
  ['dbus-run-session', '/usr/bin/dbus-run-session', 'dbus-daemon'],
].filter(([, path]) => !existsSync(path!));
const skip = missing.length === 0 ? false : `needs ${missing.map(([name, , pkg]) => `${name} (Debian package ${pkg})`).join(', ')}`;
const T = { timeout: 60_000, skip };

let server: TestServer;
let mount: TestMount;
let desktop: { path: string; remove: () => Promise<void> };

before(async () => {
  if (skip !== false) return;
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  desktop = await makeTempDir('rdrive-trash-');
  await mkdir(join(desktop.path, 'home'));
  await mkdir(join(desktop.path, 'run'), { mode: 0o700 });
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await desktop?.remove();
});

/** Commands in a desktop-like session of their own: a D-Bus bus (gvfsd starts on it) and a home. */
async function inSession(script: string): Promise<string> {
  const env = {
    HOME: join(desktop.path, 'home'), XDG_RUNTIME_DIR: join(desktop.path, 'run'), XDG_DATA_HOME: join(desktop.path, 'home', '.local', 'share'),
    // gvfsd's own FUSE view of GIO locations is not needed.
    GVFS_DISABLE_FUSE: '1',
    DBUS_SESSION_BUS_ADDRESS: '',
  };
  const res = await sh(`dbus-run-session -- bash -c ${JSON.stringify(script)}`, { env, timeoutMs: 40_000 });
  assert.equal(res.code, 0, `${script}\nexited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

test('gio trash moves a file to .Trash-<uid> at the mount root; gio lists and restores it', T, async () => {
  const uid = process.getuid!();
  const trash = join(mount.path, `.Trash-${uid}`);
  await mkdir(join(mount.path, 'docs'));
  const victim = join(mount.path, 'docs', 'report.txt');
  await writeFile(victim, 'quarterly figures\n');

  await inSession(`gio trash ${victim}`);
  assert.equal(existsSync(victim), false, 'the file left its folder');
  assert.equal(await readFile(join(trash, 'files', 'report.txt'), 'utf8'), 'quarterly figures\n');
  const info = await readFile(join(trash, 'info', 'report.txt.trashinfo'), 'utf8');
  assert.match(info, /^\[Trash Info\]\nPath=docs\/report\.txt\nDeletionDate=\d{4}-\d\d-\d\dT/);
  assert.equal((await stat(trash)).mode & 0o777, 0o700, 'the trash is private to its user');
  // The trash lives on the server, next to the user's files, not on this machine.
  assert.equal(await readFile(join(server.storage, 'alice', `.Trash-${uid}`, 'files', 'report.txt'), 'utf8'), 'quarterly figures\n');

  const listed = await inSession('gio trash --list');
  const line = listed.split('\n').find((l) => l.endsWith(`\t${victim}`));
  assert.ok(line !== undefined, `gio trash --list shows the file with its original place:\n${listed}`);
  await inSession(`gio trash --restore '${line.split('\t')[0]}'`);
  assert.equal(await readFile(victim, 'utf8'), 'quarterly figures\n');
  assert.deepEqual(await readdir(join(trash, 'files')), []);
  assert.deepEqual(await readdir(join(trash, 'info')), []);
});

test('gio trash --empty removes what is in the mount\'s trash, on the server too', T, async () => {
  const uid = process.getuid!();
  const doomed = join(mount.path, 'old.log');
  await writeFile(doomed, 'x'.repeat(10_000));
  await inSession(`gio trash ${doomed} && gio trash --empty`);
  assert.equal(existsSync(doomed), false);
  assert.deepEqual(await readdir(join(mount.path, `.Trash-${uid}`, 'files')), []);
  assert.deepEqual(await readdir(join(server.storage, 'alice', `.Trash-${uid}`, 'files')), []);
});
