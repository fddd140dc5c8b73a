import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { forceUnmount, isMounted, ok, processAlive, sh, startMount } from '../helpers/mount-process.js';
import { waitForLog } from '../helpers/logs.js';
import { CLIENT_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);
let server: TestServer;
const T = { timeout: 60_000 };

before(async () => {
  server = await startServer({ args: ['--idle-timeout', '1'] });
});

after(async () => {
  await server?.cleanup();
});

/** Runs the rdrive CLI; never throws, so a test can assert on a failure. */
async function rdrive(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLIENT_BIN, ...args], { timeout: 40_000, env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

test('unmount finds and stops a --daemon mount made with --pid-file, and waits for it', T, async () => {
  const tmp = await makeTempDir('rdrive-unmount-');
  const mnt = join(tmp.path, 'mnt');
  const pidFile = join(tmp.path, 'custom.pid');
  await mkdir(mnt);
  let pid = 0;
  try {
    const mounted = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--pid-file', pidFile, '--log-file', join(tmp.path, 'client.log')]);
    assert.equal(mounted.code, 0, mounted.stderr);
    pid = Number(await readFile(pidFile, 'utf8'));
    assert.ok(processAlive(pid));
    const res = await rdrive(['unmount', mnt]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await isMounted(mnt), false);
    assert.equal(processAlive(pid), false, 'the daemon is gone when unmount returns, not orphaned');
  } finally {
    if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await forceUnmount(mnt);
    await tmp.remove();
  }
});

test('a foreground mount says on its terminal that it stopped: after Ctrl-C, and when unmounted from outside', T, async () => {
  const a = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const exited = once(a.process, 'exit');
    a.process.kill('SIGINT');
    assert.equal((await exited)[0], 0);
    assert.equal(a.stdout(), `rdrive: mounted ${server.url} at ${a.path}\nrdrive: unmounted ${a.path}\n`);
  } finally {
    await a.cleanup();
  }
  const b = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const exited = once(b.process, 'exit');
    await ok(`fusermount -u ${b.path}`);
    assert.equal((await exited)[0], 0);
    assert.equal(b.stdout(), `rdrive: mounted ${server.url} at ${b.path}\nrdrive: ${b.path} was unmounted from outside (fusermount -u, umount); stopped\n`);
  } finally {
    await b.cleanup();
  }
});

test('a daemon whose mount was replaced never unmounts the new one; it notices and exits', T, async () => {
  const first = await startMount(server.url, 'alice', 'alice-pass');
  let second: Awaited<ReturnType<typeof startMount>> | undefined;
  try {
    await ok(`fusermount -u ${first.path}`);
    const exited = await waitFor(() => first.process.exitCode ?? first.process.signalCode, (v) => v !== null, 10_000);
    assert.equal(exited, 0, 'the daemon of a mount removed from outside exits by itself');
    assert.match(await waitForLog(first.logFile, /removed from outside/), /removed from outside/);
  } finally {
    await first.cleanup();
  }
  // The same path again, then the old daemon's stop (SIGTERM) must leave the new mount alone.
  const a = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await ok(`fusermount -u ${a.path}`);
    const b = spawn(process.execPath, [CLIENT_BIN, 'mount', server.url, a.path, '--user', 'alice', '--log-file', `${a.logFile}.b`], {
      stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass' },
    });
    second = { ...a, process: b, cleanup: async () => { b.kill('SIGTERM'); if (b.exitCode === null) await once(b, 'exit'); } } as typeof a;
    await once(b.stdout!, 'data');
    if (a.process.exitCode === null) a.process.kill('SIGTERM');
    await waitFor(() => a.process.exitCode ?? a.process.signalCode, (v) => v !== null, 10_000);
    assert.equal(await isMounted(a.path), true, 'the new mount is still there');
    await ok(`echo still > ${a.path}/still.txt`);
  } finally {
    await second?.cleanup();
    await a.cleanup();
  }
});

test('unmount of a busy mount is refused with the processes named; --force detaches it', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass');
  const holder = spawn('sleep', ['60'], { cwd: m.path, stdio: 'ignore' });
  try {
    const refused = await rdrive(['unmount', m.path]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /busy/);
    assert.match(refused.stderr, new RegExp(`${holder.pid} \\(sleep: working directory\\)`));
    assert.match(refused.stderr, /--force/);
    assert.equal(await isMounted(m.path), true, 'a refused unmount changes nothing');
    assert.equal(m.process.exitCode, null);
    const forced = await rdrive(['unmount', '--force', m.path]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await isMounted(m.path), false);
    await waitFor(() => m.process.exitCode, (v) => v !== null, 10_000);
    assert.equal(m.process.exitCode, 0);
  } finally {
    holder.kill('SIGKILL');
    await m.cleanup();
  }
});

test('unmount after the session expired does not log in again just to log out', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await ok(`ls ${m.path}`);
    const relogins = async (): Promise<number> => (await readFile(m.logFile, 'utf8')).split('logging in again').length - 1;
    // The server forgets an idle session after 1 s: let it.
    await sleep(2_500);
    // Counted from here, not before the sleep: on a slow machine the session may already have
    // lapsed once during the ls, and the daemon's log line for that lands asynchronously.
    const before = await relogins();
    const res = await rdrive(['unmount', m.path]);
    assert.equal(res.code, 0, res.stderr);
    await waitForLog(m.logFile, /"msg":"unmounted"/);
    assert.equal(await relogins(), before, 'no login between the idle period and the end of the unmount');
  } finally {
    await m.cleanup();
  }
});

test('unmount of something that is not mounted fails and says so', T, async () => {
  const tmp = await makeTempDir('rdrive-unmount-');
  try {
    const res = await rdrive(['unmount', tmp.path]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /is not mounted/);
    assert.equal((await sh(`ls ${tmp.path}`)).code, 0);
  } finally {
    await tmp.remove();
  }
});

test('with the server gone, a mount that had files deleted while open still stops within seconds', T, async () => {
  const own = await startServer();
  const m = await startMount(own.url, 'alice', 'alice-pass');
  try {
    // Each leaves a journal line: a hidden file to remove at unmount, were the server there.
    await ok(`cd ${m.path} && for i in 1 2 3 4 5; do python3 -c "import os; open('f$i','w').write('x'); fd=os.open('f$i',os.O_RDONLY); os.unlink('f$i'); os.close(fd)"; done`);
    await own.stop();
    const started = Date.now();
    m.process.kill('SIGTERM');
    const exited = await waitFor(() => m.process.exitCode ?? m.process.signalCode, (v) => v !== null, 20_000);
    const took = Date.now() - started;
    assert.notEqual(exited, null, 'the daemon stopped');
    // One reconnect window (5 s), not one per journal line plus one for the logout (30 s before).
    assert.ok(took < 12_000, `the daemon took ${took} ms to stop`);
    assert.equal(await isMounted(m.path), false);
  } finally {
    await m.cleanup();
    await own.cleanup();
  }
});

test('files deleted while open and closed since cost no request at unmount', T, async () => {
  // debug: the 404 answers a pointless DELETE would get are logged too.
  const own = await startServer({ args: ['--log-level', 'debug'] });
  const m = await startMount(own.url, 'alice', 'alice-pass');
  try {
    await ok(`cd ${m.path} && for i in 1 2 3 4 5; do python3 -c "import os; open('g$i','w').write('x'); fd=os.open('g$i',os.O_RDONLY); os.unlink('g$i'); os.close(fd)"; done`);
    await m.unmount();
    const log = await waitForLog(join(own.logs, 'server.log'), /"method":"DELETE","route":"\/api\/v1\/session"/);
    const hiddenDeletes = log.split('\n').filter((l) => l.includes('"method":"DELETE"') && l.includes('.fuse_hidden')).length;
    // libfuse removes each at its last close; the journal's sweep at unmount has nothing left to do.
    assert.equal(hiddenDeletes, 5);
  } finally {
    await m.cleanup();
    await own.cleanup();
  }
});

test('unmount of a stopped daemon (Ctrl-Z, kill -STOP) continues it and unmounts at once', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass');
  const pid = m.process.pid!;
  try {
    await ok(`echo kept > ${m.path}/kept.txt`);
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    const res = await rdrive(['unmount', m.path]);
    assert.equal(res.code, 0, `unmount of a stopped daemon: ${res.stderr}`);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms (it waited 120 s for a daemon that could not run)`);
    assert.equal(await isMounted(m.path), false);
    const exited = await waitFor(() => m.process.exitCode, (v) => v !== null, 10_000);
    assert.equal(exited, 0, 'the daemon shut down in order');
  } finally {
    if (processAlive(pid)) process.kill(pid, 'SIGCONT');
    await m.cleanup();
  }
});

test('--force frees the mount point in seconds while the daemon still waits for the server; its upload lands after', T, async () => {
  const own = await startServer();
  const m = await startMount(own.url, 'alice', 'alice-pass', ['--timeout', '50']);
  // Holds a written file open, so the daemon has an upload to make at unmount.
  const holder = spawn('python3', ['-c', `import time; f=open('${m.path}/late.txt','w'); f.write('written before the stall'); f.flush(); time.sleep(60)`], { stdio: 'ignore' });
  try {
    await waitFor(() => sh(`cat ${m.path}/late.txt`).then((r) => r.stdout), (s) => s === 'written before the stall', 10_000);
    own.process.kill('SIGSTOP');
    const started = Date.now();
    const forced = await rdrive(['unmount', '--force', m.path]);
    const took = Date.now() - started;
    own.process.kill('SIGCONT');
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(took < 25_000, `--force took ${took} ms`);
    assert.match(forced.stderr, new RegExp(`daemon \\(pid ${m.process.pid}\\) did not exit .* left running`));
    assert.equal(await isMounted(m.path), false, 'the mount point is free');
    const exited = await waitFor(() => m.process.exitCode, (v) => v !== null, 30_000);
    assert.equal(exited, 0, 'the daemon finished its work and exited by itself');
    assert.equal(await readFile(join(own.storage, 'alice', 'late.txt'), 'utf8'), 'written before the stall');
  } finally {
    if (own.process.exitCode === null) own.process.kill('SIGCONT');
    holder.kill('SIGKILL');
    await m.cleanup();
    await own.cleanup();
  }
});

test('changes that cannot be uploaded at unmount are reported, not dropped in silence: by rdrive unmount --force, and by a foreground mount', T, async () => {
  const full = await startServer({ args: ['--quota', '1000'] });
  // Writes past the quota into a file it keeps open: the upload can only happen at unmount.
  const hold = (path: string): ChildProcess => spawn('python3', ['-c', `import os, time; fd = os.open('${path}/small.txt', os.O_RDWR); os.write(fd, b'x' * 3000); print('written', flush=True); time.sleep(60)`], { stdio: ['ignore', 'pipe', 'ignore'] });
  let holder: ChildProcess | undefined;
  try {
    await mkdir(join(full.storage, 'alice'), { recursive: true });
    await writeFile(join(full.storage, 'alice', 'small.txt'), 'old');
    const m = await startMount(full.url, 'alice', 'alice-pass');
    holder = hold(m.path);
    await once(holder.stdout!, 'data');
    const forced = await rdrive(['unmount', '--force', m.path]);
    assert.equal(forced.code, 9, forced.stderr);
    assert.equal(forced.stdout, `rdrive: unmounted ${m.path}\n`);
    assert.equal(forced.stderr, 'rdrive: the last changes to 1 file could not be uploaded when the mount stopped and are lost: /small.txt (Quota exceeded: no space left for this user). Its log has the details; write them again once the cause is fixed\n');
    assert.equal(await isMounted(m.path), false);
    holder.kill('SIGKILL');
    await m.cleanup();
    // The same mount in the foreground, stopped with Ctrl-C: said on its terminal, and its exit code.
    const fg = await startMount(full.url, 'alice', 'alice-pass');
    try {
      holder = hold(fg.path);
      await once(holder.stdout!, 'data');
      const exited = once(fg.process, 'exit');
      fg.process.kill('SIGINT');
      const [code] = await exited;
      assert.equal(code, 9);
      assert.match(fg.stderr(), /the last changes to 1 file could not be uploaded when the mount stopped and are lost: \/small\.txt \(Quota exceeded/);
      assert.equal(await isMounted(fg.path), false);
    } finally {
      await fg.cleanup();
    }
    assert.equal(await readFile(join(full.storage, 'alice', 'small.txt'), 'utf8'), 'old');
  } finally {
    holder?.kill('SIGKILL');
    await full.cleanup();
  }
});
