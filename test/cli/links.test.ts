import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ok } from '../helpers/mount-process.js';
import { CLIENT_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

/** Symbolic links through the CLI: kept as links both ways, never followed, never fatal. */
const run = promisify(execFile);
let server: TestServer;
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  tmp = await makeTempDir('rdrive-cli-links-');
});

after(async () => {
  await server?.cleanup();
  await tmp?.remove();
});

interface Result { code: number; stdout: string; stderr: string }

async function rdrive(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLIENT_BIN, ...args], {
      timeout: 60_000,
      env: { ...process.env, RDRIVE_SERVER: server.url, RDRIVE_USER: 'alice', RDRIVE_PASSWORD: 'alice-pass', RDRIVE_SESSION_FILE: join(tmp.path, 'no-session.json') },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function okCli(args: string[]): Promise<string> {
  const res = await rdrive(args);
  assert.equal(res.code, 0, `rdrive ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

test('put -r keeps links (also dangling ones) as links, ls -l shows name -> target, get -r brings them back', T, async () => {
  const src = join(tmp.path, 'tree');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'sub', 'real.txt'), 'real\n');
  await symlink('sub/real.txt', join(src, 'rel'));
  await symlink('/etc/hostname', join(src, 'abs'));
  await symlink('nowhere/at/all', join(src, 'dangling'));
  await writeFile(join(src, 'zlast.txt'), 'after the links\n');

  const put = await rdrive(['put', '-r', src, '/up']);
  assert.equal(put.code, 0, put.stderr);
  assert.match(put.stderr, /uploaded 5 files/);

  const listing = await okCli(['ls', '-l', '/up']);
  assert.match(listing, /^lrwxrwxrwx +12 .* rel -> sub\/real\.txt$/m);
  assert.match(listing, /^lrwxrwxrwx +13 .* abs -> \/etc\/hostname$/m);
  assert.match(listing, /^lrwxrwxrwx +14 .* dangling -> nowhere\/at\/all$/m);
  assert.match(listing, /^-rw-r--r-- +16 .* zlast\.txt$/m, 'the file after the links was uploaded too');
  const st = JSON.parse(await okCli(['stat', '/up/rel', '--json'])) as { type: string; target: string };
  assert.deepEqual([st.type, st.target], ['symlink', 'sub/real.txt']);

  const back = join(tmp.path, 'back');
  await okCli(['get', '-r', '/up', back]);
  assert.equal((await lstat(join(back, 'rel'))).isSymbolicLink(), true);
  assert.equal(await readlink(join(back, 'rel')), 'sub/real.txt');
  assert.equal(await readlink(join(back, 'abs')), '/etc/hostname');
  assert.equal(await readlink(join(back, 'dangling')), 'nowhere/at/all');
  assert.equal(await readFile(join(back, 'rel'), 'utf8'), 'real\n', 'the local kernel resolves the relative link');
  await ok(`diff -r --no-dereference ${src} ${back}`);
});

test('put of a link replaces a remote file of that name; rm removes the link only', T, async () => {
  await writeFile(join(tmp.path, 'target.txt'), 'target\n');
  await okCli(['put', join(tmp.path, 'target.txt'), '/target.txt']);
  await okCli(['put', join(tmp.path, 'target.txt'), '/name']);
  await symlink('target.txt', join(tmp.path, 'alink'));
  await okCli(['put', join(tmp.path, 'alink'), '/name']);
  assert.match(await okCli(['ls', '-l', '/']), /name -> target\.txt$/m);
  await okCli(['rm', '/name']);
  assert.doesNotMatch(await okCli(['ls', '/']), /^name$/m);
  assert.match(await okCli(['ls', '/']), /^target\.txt$/m, 'removing the link left its target alone');
});

test('put -r skips a FIFO by name, uploads the rest and exits non-zero with a summary', T, async () => {
  const src = join(tmp.path, 'special');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'a\n');
  await ok(`mkfifo ${join(src, 'pipe')}`);
  await writeFile(join(src, 'z.txt'), 'z\n');
  const res = await rdrive(['put', '-r', src, '/special']);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /skipped .*special\/pipe: rdrive put does not copy FIFOs, sockets or devices/);
  assert.match(res.stderr, /1 entry not uploaded/);
  assert.deepEqual((await okCli(['ls', '/special'])).split('\n').filter(Boolean), ['a.txt', 'z.txt']);
});

test('put -r skips a name that is not UTF-8 (say, Latin-1), names it escaped and uploads the rest', T, async () => {
  const src = join(tmp.path, 'latin');
  await mkdir(src);
  await writeFile(join(src, 'a.txt'), 'a\n');
  await writeFile(Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9])]), 'latin-1\n');
  const res = await rdrive(['put', '-r', src, '/latin']);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /^rdrive: skipped .*latin\/caf\\xe9: its name is not valid UTF-8, which the server refuses: rename it \(e\.g\. convmv -f latin1 -t utf8\)$/m);
  assert.match(res.stderr, /1 entry not uploaded/);
  assert.deepEqual((await okCli(['ls', '/latin'])).split('\n').filter(Boolean), ['a.txt']);
});
