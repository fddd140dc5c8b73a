import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { forceUnmount, isMounted, startMount, type TestMount } from '../helpers/mount-process.js';
import { reapChild, reapMount } from '../helpers/reaper.js';
import { REPO_ROOT, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * `npm start` (scripts/start.sh) as the README's quick start runs it, in a copy of the repo's
 * layout whose setup step does nothing (the real one may run npm ci and tsc): the server on the
 * port RDRIVE_PORT gives, the demo user mounted, Ctrl-C to the whole process group stops both;
 * and a second start never touches a mount it did not make.
 */

let tmp: { path: string; remove: () => Promise<void> };
let root: string;
const T = { timeout: 120_000 };

before(async () => {
  tmp = await makeTempDir('rdrive-quickstart-');
  root = join(tmp.path, 'repo');
  await mkdir(join(root, 'scripts'), { recursive: true });
  await copyFile(join(REPO_ROOT, 'scripts', 'start.sh'), join(root, 'scripts', 'start.sh'));
  await writeFile(join(root, 'scripts', 'setup.sh'), 'true\n');
  await symlink(join(REPO_ROOT, 'bin'), join(root, 'bin'));
  await copyFile(join(REPO_ROOT, 'id_passwd.txt'), join(root, 'id_passwd.txt'));
});

after(async () => {
  await tmp?.remove();
});

interface Run {
  code: number | null;
  output: () => string;
  exited: Promise<unknown>;
  pid: number;
}

/** bash scripts/start.sh in its own process group (as a terminal runs it), env on top of a clean one. */
function runStart(env: Record<string, string>): Run {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RDRIVE_')));
  const child = spawn('bash', [join(root, 'scripts', 'start.sh')], { cwd: root, env: { ...clean, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  reapChild(child);
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
  const run: Run = { code: null, output: () => text, exited: once(child, 'exit'), pid: child.pid ?? -1 };
  void run.exited.then(() => { run.code = child.exitCode; });
  return run;
}

test('npm start mounts on the port RDRIVE_PORT gives, and Ctrl-C unmounts and stops the server', T, async () => {
  const mnt = join(tmp.path, 'mnt');
  const forget = reapMount(mnt);
  const run = runStart({ RDRIVE_PORT: '0', RDRIVE_MOUNTPOINT: mnt });
  try {
    await waitFor(() => run.output(), (t) => /rdrive: mounted/.test(t) || run.code !== null, 60_000);
    const url = /listening on (http:\S+)/.exec(run.output())?.[1];
    assert.ok(url !== undefined && !url.endsWith(':8888'), run.output());
    assert.match(run.output(), new RegExp(`mounted ${url} at ${mnt}`));
    await writeFile(join(mnt, 'hello.txt'), 'hi\n');
    assert.equal(await readFile(join(root, 'server_storage', 'user1', 'hello.txt'), 'utf8'), 'hi\n');
    process.kill(-run.pid, 'SIGINT');
    await run.exited;
    assert.equal(await isMounted(mnt), false);
    await assert.rejects(fetch(`${url}/health`), 'the server stopped with the mount');
  } finally {
    if (run.code === null) process.kill(-run.pid, 'SIGKILL');
    await forceUnmount(mnt);
    forget();
  }
});

test('a second npm start at a folder already mounted refuses and leaves that mount alone', T, async () => {
  let server: TestServer | undefined;
  let other: TestMount | undefined;
  try {
    server = await startServer();
    other = await startMount(server.url, 'alice', 'alice-pass');
    const run = runStart({ RDRIVE_PORT: '0', RDRIVE_MOUNTPOINT: other.path });
    await run.exited;
    assert.notEqual(run.code, 0);
    assert.match(run.output(), /already mounted .*RDRIVE_MOUNTPOINT/);
    assert.equal(await isMounted(other.path), true, `the other mount was unmounted:\n${run.output()}`);
  } finally {
    await other?.cleanup();
    await server?.cleanup();
  }
});
