import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { ok, sh, startMount } from '../helpers/mount-process.js';
import { waitForLog } from '../helpers/logs.js';
import { startServer, writeUsersFile, type TestServer } from '../helpers/server-process.js';
import { waitFor, waitUntilIdle } from '../helpers/wait.js';

let server: TestServer;
const T = { timeout: 90_000 };

before(async () => {
  // Debug: the GET/304 and 404 lines the cache tests count are routine answers, logged at debug.
  server = await startServer({ args: ['--idle-timeout', '2', '--log-level', 'debug'] });
});

after(async () => {
  await server?.cleanup();
});

test('two mounts of the same user see each other\'s closed files; another user sees nothing', T, async () => {
  const a = await startMount(server.url, 'alice', 'alice-pass', ['--attr-timeout', '0']);
  const b = await startMount(server.url, 'alice', 'alice-pass', ['--attr-timeout', '0']);
  const c = await startMount(server.url, 'bob', 'bob-pass');
  try {
    await ok(`echo from-a > ${a.path}/shared.txt`);
    assert.equal(await readFile(join(b.path, 'shared.txt'), 'utf8'), 'from-a\n');
    await ok(`echo from-b > ${b.path}/shared.txt`);
    assert.equal(await readFile(join(a.path, 'shared.txt'), 'utf8'), 'from-b\n', 'close-to-open: a fresh open sees the new bytes');
    assert.equal((await sh(`ls ${c.path}`)).stdout, '');
    assert.match((await sh(`cat ${c.path}/shared.txt`)).stderr, /No such file/);
    await ok(`echo bobs > ${c.path}/mine.txt`);
    assert.match((await sh(`ls ${a.path}`)).stdout, /^shared.txt\n$/);
  } finally {
    await Promise.all([a.cleanup(), b.cleanup(), c.cleanup()]);
  }
});

test('an unchanged file is read again from the page cache; a changed one of the same size is not', T, async () => {
  const a = await startMount(server.url, 'alice', 'alice-pass');
  const b = await startMount(server.url, 'alice', 'alice-pass');
  const serverLog = join(server.logs, 'server.log');
  const getLine = /"method":"GET","route":"\/api\/v1\/files\/cached\.bin"/g;
  let barriers = 0;
  /**
   * GET lines for the file, counted once a later request is logged: a stat of a fresh name made
   * after the reads finished, so every GET of those reads is in the log by then.
   */
  const gets = async (): Promise<number> => {
    const marker = `barrier-${++barriers}`;
    await sh(`stat ${b.path}/${marker}`);
    const log = await waitForLog(serverLog, new RegExp(`"route":"/api/v1/stat/${marker}"`));
    return log.match(getLine)?.length ?? 0;
  };
  try {
    const first = randomBytes(4 * 1024 * 1024);
    await writeFile(join(a.path, 'cached.bin'), first);
    assert.deepEqual(await readFile(join(b.path, 'cached.bin')), first);
    const afterFirst = await gets();
    assert.ok(afterFirst >= 2, `a cold 4 MiB read takes several requests (${afterFirst})`);
    assert.deepEqual(await readFile(join(b.path, 'cached.bin')), first);
    // At most the open()'s check (none while b still holds the read lease from its first read).
    const again = await gets() - afterFirst;
    assert.ok(again <= 1, `only the open()'s check may go to the server, not the content (${again} requests)`);
    const second = randomBytes(first.length);
    const firstWritten = Date.now();
    await waitFor(() => Date.now(), (now) => now > firstWritten + 1, 1_000, 2);
    await writeFile(join(a.path, 'cached.bin'), second);
    assert.deepEqual(await readFile(join(b.path, 'cached.bin')), second, 'same size, new mtime: the cache is dropped');
  } finally {
    await Promise.all([a.cleanup(), b.cleanup()]);
  }
});

test('server stopped: calls fail fast with an error; restarted: the mount works again', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--attr-timeout', '0']);
  try {
    await ok(`echo before > ${m.path}/r.txt`);
    await server.stop();
    const ls = await sh(`ls ${m.path}/ && cat ${m.path}/r.txt`, { timeoutMs: 30_000 });
    assert.notEqual(ls.code, 0);
    assert.match(ls.stderr, /Input\/output error|timed out|Transport/i);
    const write = await sh(`echo during > ${m.path}/w.txt`, { timeoutMs: 30_000 });
    assert.notEqual(write.code, 0, 'a write that cannot reach the server fails at close');
    await server.restart();
    await ok(`echo after > ${m.path}/r2.txt`);
    assert.equal(await readFile(join(m.path, 'r.txt'), 'utf8'), 'before\n');
    assert.equal(await readFile(join(server.storage, 'alice', 'r2.txt'), 'utf8'), 'after\n');
  } finally {
    await m.cleanup();
  }
});

test('an idle session expires and the daemon logs in again by itself', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--attr-timeout', '0']);
  try {
    await ok(`echo one > ${m.path}/idle.txt`);
    await waitUntilIdle(Date.now(), 2_000);
    await ok(`echo two >> ${m.path}/idle.txt`);
    assert.equal(await readFile(join(m.path, 'idle.txt'), 'utf8'), 'one\ntwo\n');
    const RELOGIN = /session expired; logging in again/;
    const relogins = (text: string): number => text.split('session expired; logging in again').length - 1;
    const log = await waitForLog(m.logFile, RELOGIN);
    assert.match(log, RELOGIN);
    assert.doesNotMatch(log, /alice-pass/);
    // A file held open across the expiry: the next big range (fetched by the range worker)
    // meets the 401 and the daemon logs in again for it too.
    // Far bigger than read-ahead's 8 MiB windows, so the rest cannot all be prefetched before
    // the expiry (with 12 MiB it sometimes was, and no request met the 401).
    const data = randomBytes(48 * 1024 * 1024);
    await writeFile(join(server.storage, 'alice', 'held.bin'), data);
    // Counted from here: a slow machine may also let the session lapse between the steps above.
    const before = relogins(await readFile(m.logFile, 'utf8'));
    // The reader reads 3 MiB, tells us, and reads the rest once the session has expired.
    const go = join(server.dir, 'held-go');
    const script = `import os, sys, time\nf = open(sys.argv[1], 'rb')\na = f.read(3 * 1024 * 1024)\nopen(sys.argv[2] + '.read', 'w').close()\nwhile not os.path.exists(sys.argv[2]): time.sleep(0.05)\nsys.stdout.buffer.write(a + f.read())`;
    const heldRun = sh(`python3 -c "${script.replace(/"/g, '\\"')}" ${m.path}/held.bin ${go} | cmp - ${join(server.storage, 'alice', 'held.bin')}`);
    await waitFor(() => access(`${go}.read`).then(() => true, () => false), (seen) => seen, 30_000);
    await waitUntilIdle(Date.now(), 2_000);
    await writeFile(go, '');
    const held = await heldRun;
    assert.equal(held.code, 0, held.stderr);
    const after = relogins(await waitForLog(m.logFile, RELOGIN, before + 1));
    assert.ok(after > before, `the held file's expiry was met by a new login (${before} before, ${after} after)`);
  } finally {
    await m.cleanup();
  }
});

test('data written to a file still open at SIGTERM is uploaded before the unmount', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass');
  // A process holds the file open across the unmount: its close never comes, so only the
  // unmount-time upload can bring the bytes to the server.
  // (Python, not a shell redirect: a shell dup()s the descriptor and closes the copy, a flush.)
  const script = "import os, sys, time\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\nos.write(fd, b'last words')\nprint('ready', flush=True)\ntime.sleep(60)";
  const holder = spawn('python3', ['-c', script, join(m.path, 'held-open.txt')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [ready] = await Promise.race([once(createInterface({ input: holder.stdout! }), 'line'), once(holder, 'exit')]);
    assert.equal(ready, 'ready', 'the holder wrote the file and keeps it open');
    const stored = join(server.storage, 'alice', 'held-open.txt');
    assert.notEqual(await readFile(stored, 'utf8').catch(() => ''), 'last words', 'nothing was uploaded while the file is open');
    await m.unmount();
    assert.equal(await readFile(stored, 'utf8'), 'last words');
  } finally {
    holder.kill('SIGKILL');
    await m.cleanup();
  }
});

test('a password changed while mounted: the old one is tried once, calls fail with EACCES, the owner can mount again', T, async () => {
  const own = await startServer({ args: ['--idle-timeout', '1'] });
  const m = await startMount(own.url, 'alice', 'alice-pass');
  let again: Awaited<ReturnType<typeof startMount>> | undefined;
  try {
    await writeUsersFile(own.usersFile, { alice: 'new-pass' });
    // The session idles out; then a file manager keeps refreshing the folder.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    for (let i = 0; i < 12; i++) {
      const res = await sh(`ls ${m.path}`);
      assert.notEqual(res.code, 0, 'the old password no longer lists anything');
    }
    assert.match((await sh(`ls ${m.path}`)).stderr, /Permission denied/);
    const failed = (await readFile(join(own.logs, 'server.log'), 'utf8')).split('"login failed"').length - 1;
    // Trying the refused password at every call locked the user out (10 failures per 15 min).
    assert.ok(failed <= 2, `${failed} failed logins from the mount`);
    again = await startMount(own.url, 'alice', 'new-pass');
    await ok(`ls ${again.path}`);
  } finally {
    await again?.cleanup();
    await m.cleanup();
    await own.cleanup();
  }
});

test('a user removed, or given a new password, while their mount is busy: its calls fail with EACCES within seconds', T, async () => {
  // The default idle timeout (100 s): the sessions must end because of the change, not by idling out.
  const own = await startServer();
  const alice = await startMount(own.url, 'alice', 'alice-pass');
  const bob = await startMount(own.url, 'bob', 'bob-pass');
  let again: Awaited<ReturnType<typeof startMount>> | undefined;
  try {
    await ok(`echo hi > ${alice.path}/a.txt && ls ${bob.path}`);
    await writeUsersFile(own.usersFile, { bob: 'new-bob-pass' });
    // Each mount stays busy (a call every 200 ms), so its session never idles.
    for (const m of [alice, bob]) {
      const res = await waitFor(() => sh(`ls ${m.path}`), (r) => r.code !== 0, 10_000, 200);
      assert.match(res.stderr, /Permission denied/, `${m.path}: ${res.code} ${res.stderr}`);
    }
    assert.notEqual((await sh(`cat ${alice.path}/a.txt`)).code, 0, 'a removed user reads nothing');
    again = await startMount(own.url, 'bob', 'new-bob-pass');
    await ok(`ls ${again.path}`);
  } finally {
    await again?.cleanup();
    await bob.cleanup();
    await alice.cleanup();
    await own.cleanup();
  }
});
