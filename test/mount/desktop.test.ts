import assert from 'node:assert/strict';
import { existsSync, watch } from 'node:fs';
import { mkdir, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What desktop programs do to a folder, on the mount: GLib's atomic save (what GTK editors
 * use), GIO copies and moves (file managers), inotify (their live views), O_TMPFILE (a
 * temporary file without a name). The gio tests are skipped with a message when gio is missing
 * (scripts/test.sh installs it). LibreOffice (conversions, UNO open/edit/save) was checked by
 * hand: too big an install for every CI run.
 */
const needs = (path: string, pkg: string) => (existsSync(path) ? false : `needs ${path} (Debian package ${pkg})`);
const GIO = { timeout: 60_000, skip: needs('/usr/bin/gio', 'libglib2.0-bin') };
// gio's own FUSE view of GIO locations is not wanted: plain local paths only.
const env = { GVFS_DISABLE_FUSE: '1' };

let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-desktop-');
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

test('gio save --backup over a file another program reads: the etag it prints is the saved file\'s', GIO, async () => {
  const file = join(mount.path, 'notes.txt');
  await writeFile(file, 'first\n');
  const reader = await open(file, 'r');
  try {
    const printed = await ok(`printf 'second\\n' | gio save --backup --print-etag '${file}'`, { env });
    // An editor keeps this etag and compares it at its next save to see whether someone else
    // changed the file meanwhile: after the upload it must still describe the file.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const info = await ok(`gio info -a etag::value '${file}'`, { env });
    assert.equal(printed.replace('Etag: ', '').trim(), /etag::value: (\S+)/.exec(info)?.[1]);
    assert.equal(await readFile(file, 'utf8'), 'second\n');
    assert.equal(await readFile(`${file}~`, 'utf8'), 'first\n');
    assert.equal((await reader.read(Buffer.alloc(64), 0, 64, 0)).bytesRead, 'first\n'.length, 'the reader keeps the old file');
  } finally {
    await reader.close();
  }
  assert.deepEqual((await readdir(mount.path)).filter((n) => n.startsWith('notes')).sort(), ['notes.txt', 'notes.txt~']);
});

test('gio copy --preserve and gio move, in and out of the mount, keep content, mode and mtime', GIO, async () => {
  const src = join(local.path, 'photo.bin');
  await ok(`head -c 3000000 /dev/urandom > '${src}' && chmod 640 '${src}' && touch -d '2021-03-04 05:06:07.891' '${src}'`);
  const onMount = join(mount.path, 'photo.bin');
  await ok(`gio copy --preserve '${src}' '${onMount}'`, { env });
  const [a, b] = [await stat(src), await stat(onMount)];
  assert.equal(b.size, a.size);
  assert.equal(b.mode & 0o777, 0o640);
  assert.equal(b.mtimeMs, a.mtimeMs, 'millisecond mtime kept');
  await ok(`gio mkdir -p '${join(mount.path, 'album', '2021')}' && gio move '${onMount}' '${join(mount.path, 'album', '2021')}/'`, { env });
  const back = join(local.path, 'back.bin');
  await ok(`gio move '${join(mount.path, 'album', '2021', 'photo.bin')}' '${back}' && cmp '${src}' '${back}'`, { env });
  assert.deepEqual(await readdir(join(mount.path, 'album', '2021')), []);
});

test('inotify on a mount folder sees what programs on this mount do in it', async () => {
  const dir = join(mount.path, 'watched');
  await mkdir(dir);
  const seen: string[] = [];
  const watcher = watch(dir, (event, name) => seen.push(`${event} ${name}`));
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await ok(`echo a > new.txt && mv new.txt moved.txt && mkdir sub && rm moved.txt`, { cwd: dir });
    const expected = ['rename new.txt', 'change new.txt', 'rename moved.txt', 'rename sub'];
    await waitFor(() => seen, (s) => expected.every((e) => s.includes(e)) && s.filter((e) => e === 'rename moved.txt').length === 2);
  } finally {
    watcher.close();
  }
});

test('O_TMPFILE answers EOPNOTSUPP, the error programs fall back from to a named temporary file', async () => {
  const O_TMPFILE = 0o20200000; // __O_TMPFILE | O_DIRECTORY on x86-64 and arm64
  // Node names errno 95 ENOTSUP; on Linux it is EOPNOTSUPP too.
  await assert.rejects(open(mount.path, O_TMPFILE | 0o1, 0o600), { code: 'ENOTSUP' });
  const res = await sh(`python3 -c "import tempfile; f = tempfile.TemporaryFile(dir='${mount.path}'); f.write(b'x' * 100000); f.seek(0); assert len(f.read()) == 100000"`);
  assert.equal(res.code, 0, res.stderr);
});
