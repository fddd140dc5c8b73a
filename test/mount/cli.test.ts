import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { forceUnmount, isMounted, ok, processAlive, sh, startMount } from '../helpers/mount-process.js';
import { CLIENT_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let server: TestServer;
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 60_000 };

before(async () => {
  server = await startServer();
  tmp = await makeTempDir('rdrive-mountcli-');
});

after(async () => {
  await server?.cleanup();
  await tmp?.remove();
});

/** The daemon's private folder for unsent content (see mount/daemon/cache-dir.ts). */
async function cacheDirsOf(pid: number): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith(`rdrive-cache-${pid}-`));
}

async function rdrive(args: string[], password = 'alice-pass'): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLIENT_BIN, ...args], { timeout: 30_000, env: { ...process.env, RDRIVE_PASSWORD: password } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function freshDir(name: string): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

test('wrong password: exit 5, clear message, nothing mounted', T, async () => {
  const mnt = await freshDir('m1');
  const res = await rdrive(['mount', server.url, mnt, '--user', 'alice'], 'wrong');
  assert.equal(res.code, 5);
  assert.match(res.stderr, /wrong user name or password/);
  assert.equal(await isMounted(mnt), false);
});

test('server unreachable: exit 6 and a hint', T, async () => {
  const mnt = await freshDir('m2');
  const res = await rdrive(['mount', 'http://127.0.0.1:1', mnt, '--user', 'alice']);
  assert.equal(res.code, 6);
  // The mount takes its URL as an argument: no "--server / RDRIVE_SERVER" it has no use for.
  assert.equal(res.stderr, 'rdrive: Cannot reach the server at http://127.0.0.1:1: is it running? Check the URL and "rdrive-server"\n');
  assert.equal(await isMounted(mnt), false);
});

test('a host name that does not resolve: exit 6, "cannot find the host", not "is it running?"', T, async () => {
  const mnt = await freshDir('m2-dns');
  // .invalid never resolves (RFC 2606); https, so no plain-http warning comes first.
  const res = await rdrive(['mount', 'https://nosuchhost.invalid:1', mnt, '--user', 'alice']);
  assert.equal(res.code, 6);
  assert.match(res.stderr, /^rdrive: Cannot find the host nosuchhost\.invalid of https:\/\/nosuchhost\.invalid:1 \((ENOTFOUND|EAI_AGAIN)\): check the URL\n$/);
  assert.equal(await isMounted(mnt), false);
});

test('a server that accepts connections but never answers: a message that says so, not "is it running?"', T, async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const mnt = await freshDir('m-silent');
    const res = await rdrive(['mount', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, mnt, '--user', 'alice', '--timeout', '2']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /did not answer in time/);
    assert.equal(await isMounted(mnt), false);
  } finally {
    silent.close();
  }
});

test('a URL without http://, a bad --log-level or --attr-timeout: a usage error naming it, foreground and --daemon alike', T, async () => {
  const mnt = await freshDir('m-usage');
  for (const daemon of [[], ['--daemon']]) {
    const noScheme = await rdrive(['mount', server.url.replace(/^http:\/\//, ''), mnt, '--user', 'alice', ...daemon]);
    assert.equal(noScheme.code, 2, noScheme.stderr);
    assert.match(noScheme.stderr, /^rdrive: Invalid server URL "127\.0\.0\.1:\d+": expected e\.g\. http:\/\/127\.0\.0\.1:8888\n$/);
    const level = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-level', 'loud', ...daemon]);
    assert.equal(level.code, 2, level.stderr);
    assert.equal(level.stderr, 'rdrive: --log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n');
    const attr = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--attr-timeout', 'abc', ...daemon]);
    assert.equal(attr.code, 2, attr.stderr);
    assert.equal(attr.stderr, 'rdrive: --attr-timeout must be a number of seconds ≥ 0\n');
  }
  assert.equal(await isMounted(mnt), false);
});

test('mountpoint missing, not empty, or already mounted: refused before mounting', T, async () => {
  const missing = await rdrive(['mount', server.url, join(tmp.path, 'nope'), '--user', 'alice']);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /does not exist/);
  const full = await freshDir('full');
  await writeFile(join(full, 'x'), 'x');
  const notEmpty = await rdrive(['mount', server.url, full, '--user', 'alice']);
  assert.equal(notEmpty.code, 8);
  assert.match(notEmpty.stderr, /not empty/);
  const m = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const again = await rdrive(['mount', server.url, m.path, '--user', 'alice']);
    assert.equal(again.code, 8);
    assert.match(again.stderr, /already a mountpoint/);
  } finally {
    await m.cleanup();
  }
  const noUser = await rdrive(['mount', server.url, await freshDir('m3')]);
  assert.equal(noUser.code, 2);
  assert.match(noUser.stderr, /No user/);
});

test('a user other than root on a mountpoint they may not write or reach, or with --allow-other that fuse.conf forbids: refused with a reason, exit 4', T, async () => {
  // fusermount refuses such a mount; the daemon only saw "fuse failed".
  const shared = await mkdtemp(join(tmpdir(), 'rdrive-shared-'));
  try {
    await chmod(shared, 0o755);
    const rootOwned = join(shared, 'root-owned');
    const hidden = join(shared, 'private', 'mnt');
    await mkdir(rootOwned, { mode: 0o755 });
    await mkdir(hidden, { recursive: true });
    await chmod(join(shared, 'private'), 0o700);
    const home = join(shared, 'home');
    await mkdir(home);
    await chown(home, 65534, 65534);
    const asNobody = async (mnt: string, ...more: string[]): Promise<{ code: number; stderr: string }> => new Promise((done) => {
      execFile('runuser', ['-u', 'nobody', '--', 'env', `HOME=${home}`, process.execPath, CLIENT_BIN, 'mount', server.url, mnt, '--user', 'alice', ...more],
        { timeout: 30_000, env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass' } },
        (err, _stdout, stderr) => done({ code: err === null ? 0 : Number(err.code), stderr }));
    });
    const notWritable = await asNobody(rootOwned);
    assert.equal(notWritable.code, 4, notWritable.stderr);
    assert.equal(notWritable.stderr, `rdrive: You may not mount on ${rootOwned}: FUSE lets a user other than root mount only on a folder they can write to; use one of your own, e.g. ~/rdrive\n`);
    const unreachable = await asNobody(hidden);
    assert.equal(unreachable.code, 4, unreachable.stderr);
    assert.equal(unreachable.stderr, `rdrive: Mountpoint ${hidden} cannot be reached: permission denied on a folder on its path\n`);
    assert.equal(await isMounted(rootOwned), false);
    if (!/^\s*user_allow_other\s*$/m.test(await readFile('/etc/fuse.conf', 'utf8').catch(() => ''))) {
      const own = join(shared, 'own');
      await mkdir(own);
      await chown(own, 65534, 65534);
      const allowOther = await asNobody(own, '--allow-other');
      assert.equal(allowOther.code, 4, allowOther.stderr);
      assert.equal(allowOther.stderr, 'rdrive: --allow-other needs the line "user_allow_other" in /etc/fuse.conf for a user other than root: ask an administrator to add it, or mount without --allow-other\n');
      assert.equal(await isMounted(own), false);
    }
  } finally {
    await rm(shared, { recursive: true, force: true });
  }
});

test('--daemon returns once mounted; rdrive unmount stops it', T, async () => {
  const mnt = await freshDir('daemon');
  try {
    const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 'd.log')]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await isMounted(mnt), true, 'usable as soon as the command returned');
    await ok(`echo daemon > ${mnt}/d.txt && cat ${mnt}/d.txt`);
    const un = await rdrive(['unmount', mnt]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(await isMounted(mnt), false);
    const twice = await rdrive(['unmount', mnt]);
    assert.notEqual(twice.code, 0);
    assert.match(twice.stderr, /not mounted/);
  } finally {
    await forceUnmount(mnt);
  }
});

test('a mountpoint given through a symbolic link mounts at the folder it names; unmount takes the link too', T, async () => {
  const real = await freshDir('via-link-target');
  const link = join(tmp.path, 'via-link');
  await symlink(real, link);
  try {
    const res = await rdrive(['mount', server.url, link, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 'link.log')]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`at ${real} \\(daemon pid`));
    assert.equal(await isMounted(real), true);
    const un = await rdrive(['unmount', link]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(await isMounted(real), false);
  } finally {
    await forceUnmount(real);
  }
});

test('a daemon killed with SIGKILL leaves a stale mount that the next mount clears', T, async () => {
  const mnt = await freshDir('stale');
  const pidFile = join(tmp.path, 'stale.pid');
  try {
    const first = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--pid-file', pidFile, '--log-file', join(tmp.path, 's.log')]);
    assert.equal(first.code, 0, first.stderr);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.equal((await cacheDirsOf(pid)).length, 1);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => processAlive(pid), (running) => !running);
    assert.match((await sh(`ls ${mnt}`)).stderr, /Transport endpoint is not connected/);
    const again = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 's.log')]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /cleared a stale rdrive mount/);
    assert.deepEqual(await cacheDirsOf(pid), [], 'the killed daemon\'s cache folder is swept by the next mount');
    await ok(`echo back > ${mnt}/back.txt && cat ${mnt}/back.txt`);
    assert.equal((await rdrive(['unmount', mnt])).code, 0);
    assert.equal(await isMounted(mnt), false);
  } finally {
    await forceUnmount(mnt);
  }
});

test('a daemon that crashes unmounts itself instead of leaving a dead mount', T, async () => {
  const mnt = await freshDir('crash');
  const hook = join(tmp.path, 'crash-hook.mjs');
  const logFile = join(tmp.path, 'crash.log');
  // Injected from outside the product: SIGUSR2 makes the daemon throw where nothing catches it.
  await writeFile(hook, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected crash for a test'); }));\n");
  const daemon = spawn(process.execPath, ['--import', hook, CLIENT_BIN, 'mount', server.url, mnt, '--user', 'alice', '--log-file', logFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass' },
  });
  let stderr = '';
  daemon.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  try {
    await once(createInterface({ input: daemon.stdout }), 'line');
    assert.equal(await isMounted(mnt), true);
    assert.equal((await cacheDirsOf(daemon.pid!)).length, 1);
    const exited = once(daemon, 'exit');
    daemon.kill('SIGUSR2');
    const [code] = await exited;
    assert.equal(code, 70);
    assert.deepEqual(await cacheDirsOf(daemon.pid!), []);
    assert.match(stderr, /mount daemon crashed \(injected crash for a test\).*was unmounted/);
    assert.equal(await isMounted(mnt), false);
    assert.match(await readFile(logFile, 'utf8'), /"level":60.*injected crash for a test/);
  } finally {
    daemon.kill('SIGKILL');
    await forceUnmount(mnt);
  }
});

test('a --daemon mount whose log disk fills up goes on working, and says nothing on the stderr its parent closed', T, async () => {
  const mnt = await freshDir('log-full');
  const disk = await freshDir('log-disk');
  const pidFile = join(tmp.path, 'log-full.pid');
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
  let pid = 0;
  try {
    const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--pid-file', pidFile, '--log-file', join(disk, 'client.log'), '--log-level', 'debug']);
    assert.equal(res.code, 0, res.stderr);
    pid = Number((await readFile(pidFile, 'utf8')).trim());
    // The log's last page takes a few debug lines more, then each write of it fails (ENOSPC).
    await writeFile(join(disk, 'filler'), Buffer.alloc(64 * 1024)).catch(() => undefined);
    // Bounded: a daemon stuck retrying its log must not hang this test's shell (nor the machine's other mounts for long).
    await ok(`mkdir ${mnt}/full && for i in $(seq 1 100); do timeout 10 sh -c "echo $i > ${mnt}/full/f$i" || exit 1; done`, { timeoutMs: 30_000 });
    assert.equal(processAlive(pid), true, 'the daemon is still running');
    assert.equal((await ok(`ls ${mnt}/full | wc -l`)).trim(), '100');
    assert.equal((await rdrive(['unmount', mnt])).code, 0);
  } finally {
    if (pid !== 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await forceUnmount(mnt);
    await run('umount', ['-l', disk]).catch(() => undefined);
  }
});

test('--daemon exits with the code of the mount itself: a full server is 7, as in the foreground', T, async () => {
  const full = await startServer({ args: ['--max-clients', '1'] });
  const holder = new ApiClient({ server: full.url, maxRetryAfterSeconds: 0 });
  try {
    await holder.login('alice', 'alice-pass');
    const mnt = await freshDir('daemon-full');
    for (const daemon of [[], ['--daemon']]) {
      const res = await rdrive(['mount', full.url, mnt, '--user', 'bob', ...daemon], 'bob-pass');
      assert.equal(res.code, 7, res.stderr);
      assert.match(res.stderr, /^rdrive: Server full/);
    }
    assert.equal(await isMounted(mnt), false);
  } finally {
    await holder.close();
    await full.cleanup();
  }
});

test('--daemon with a wrong password fails without leaving anything mounted', T, async () => {
  const mnt = await freshDir('daemon-bad');
  const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon'], 'wrong');
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /wrong user name or password/);
  assert.equal(await isMounted(mnt), false);
});
