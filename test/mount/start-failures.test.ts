import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { forceUnmount, isMounted, ok, processAlive } from '../helpers/mount-process.js';
import { reapChild, reapMount } from '../helpers/reaper.js';
import { CLIENT_BIN, REPO_ROOT, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A start that fails or is stopped midway (a signal, a step after fuse.mount that fails) leaves
 * no mount, no process and no cache folder behind, says why with its exit code, and the next
 * "rdrive mount" at that folder works. The failures are injected from outside the product with
 * `node --import HOOK` (as the crash test in cli.test.ts does).
 */

let server: TestServer;
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  tmp = await makeTempDir('rdrive-startfail-');
});

after(async () => {
  await server?.cleanup();
  await tmp?.remove();
});

interface Run {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `rdrive ARGS` as its own process (node options first, e.g. a hook), calls `during` once
 * it runs, and returns how it ended. Killed after 30 s: a start that hangs fails the test.
 */
async function rdrive(args: string[], options: { node?: string[]; env?: NodeJS.ProcessEnv; during?: (pid: number) => Promise<void> } = {}): Promise<Run> {
  const proc = spawn(process.execPath, [...(options.node ?? []), CLIENT_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass', ...options.env },
  });
  reapChild(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = once(proc, 'close');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  try {
    await options.during?.(proc.pid!);
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    return { pid: proc.pid!, code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

async function freshDir(name: string): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function hook(name: string, source: string): Promise<string> {
  const file = join(tmp.path, `${name}.mjs`);
  await writeFile(file, source);
  return file;
}

async function cacheDirsOf(pid: number): Promise<string[]> {
  return (await readdir(tmpdir())).filter((name) => name.startsWith(`rdrive-cache-${pid}-`));
}

/** Nothing left: no mount, no process, no cache folder; and a plain mount there works again. */
async function assertNothingLeft(mnt: string, pid: number): Promise<void> {
  assert.equal(await isMounted(mnt), false, `${mnt} was left mounted`);
  assert.equal(processAlive(pid), false, `process ${pid} was left running`);
  assert.deepEqual(await cacheDirsOf(pid), []);
  const again = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 'again.log')]);
  try {
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stderr, '', 'no stale mount to clear');
    await ok(`echo again > ${mnt}/again.txt && cat ${mnt}/again.txt`);
    const un = await rdrive(['unmount', mnt]);
    assert.equal(un.code, 0, un.stderr);
  } finally {
    await forceUnmount(mnt);
  }
}

/** A hook that requires the product's own fuse-native (one module instance, the CommonJS cache). */
const FUSE_HOOK_HEAD = `import { createRequire } from 'node:module';
const Fuse = createRequire(${JSON.stringify(join(REPO_ROOT, 'package.json'))})('fuse-native');
const mount = Fuse.prototype.mount;
`;

test('a mount that does not show in /proc/self/mountinfo after fuse.mount: unmounted again, the process exits 1 saying so', T, async () => {
  const mnt = await freshDir('no-mountinfo');
  const forget = reapMount(mnt);
  // The daemon reads an empty mount table: fuse.mount succeeds, finding the mount fails.
  const hidden = await hook('no-mountinfo', `import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const real = fsp.readFile;
fsp.readFile = (p, ...rest) => (p === '/proc/self/mountinfo' ? Promise.resolve('') : real(p, ...rest));
syncBuiltinESMExports();
`);
  try {
    const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'nm.log')], { node: ['--import', hidden] });
    assert.equal(res.code, 1, `exit ${res.code} ${res.signal}: ${res.stderr}`);
    assert.equal(res.stderr, `rdrive: Mounting ${mnt} failed: the mount does not show in /proc/self/mountinfo (it was removed again, or this system lists mounts differently); nothing was left mounted\n`);
    await assertNothingLeft(mnt, res.pid);
  } finally {
    await forceUnmount(mnt);
    forget();
  }
});

test('a --pid-file that cannot be written: the mount made is undone, foreground and --daemon, exit 1 naming the file', T, async () => {
  const mnt = await freshDir('bad-pid');
  const forget = reapMount(mnt);
  try {
    let last = 0;
    for (const daemon of [[], ['--daemon']]) {
      const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--pid-file', '/dev/null/x.pid', '--log-file', join(tmp.path, 'pid.log'), ...daemon]);
      assert.equal(res.code, 1, `exit ${res.code} ${res.signal}: ${res.stderr}`);
      assert.match(res.stderr, /^rdrive: Cannot write the pid file \/dev\/null\/x\.pid \(\w+\): give --pid-file a file in a folder you may write; nothing was left mounted\n$/);
      assert.equal(await isMounted(mnt), false);
      last = res.pid;
    }
    await assertNothingLeft(mnt, last);
  } finally {
    await forceUnmount(mnt);
    forget();
  }
});

test('a cache folder that cannot be made (TMPDIR missing): the session is closed, the process exits 1 naming the folder', T, async () => {
  const mnt = await freshDir('no-tmp');
  const missing = join(tmp.path, 'no-such-tmp');
  const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'tmp.log')], { env: { TMPDIR: missing } });
  assert.equal(res.code, 1, `exit ${res.code} ${res.signal}: ${res.stderr}`);
  assert.equal(res.stderr, `rdrive: Cannot create the mount's cache folder in ${missing} (ENOENT): the mount keeps unsent changes there; free space there or set TMPDIR to a writable folder\n`);
  await assertNothingLeft(mnt, res.pid);
});

// One handler serves every signal: each stage once, and each signal once.
for (const [stage, signal] of [['during', 'SIGTERM'], ['after', 'SIGINT'], ['after', 'SIGHUP']] as const) {
  test(`${signal} ${stage} fuse.mount: the start is undone, exit ${128 + { SIGTERM: 15, SIGINT: 2, SIGHUP: 1 }[signal]}`, T, async () => {
    const mnt = await freshDir(`sig-${stage}-${signal}`);
    const forget = reapMount(mnt);
    // The daemon sends itself the signal as fuse.mount starts, or as soon as it succeeded.
    const sender = await hook(`sig-${stage}-${signal}`, `${FUSE_HOOK_HEAD}
Fuse.prototype.mount = function (cb) {
  ${stage === 'during' ? `process.kill(process.pid, '${signal}');` : ''}
  return mount.call(this, (err) => { ${stage === 'after' ? `if (!err) process.kill(process.pid, '${signal}');` : ''} cb(err); });
};
`);
    try {
      const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'sig.log')], { node: ['--import', sender] });
      assert.equal(res.code, 128 + { SIGTERM: 15, SIGINT: 2, SIGHUP: 1 }[signal], `exit ${res.code} ${res.signal}: ${res.stderr}`);
      assert.equal(res.stdout, '', 'never said "mounted"');
      assert.equal(res.stderr, `rdrive: stopped by ${signal} before the mount was ready; nothing was left mounted\n`);
      await assertNothingLeft(mnt, res.pid);
    } finally {
      await forceUnmount(mnt);
      forget();
    }
  });
}

test('SIGTERM while the login waits for a silent server: exits 143 at once, nothing mounted', T, async () => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const mnt = await freshDir('sig-login');
  try {
    const started = Date.now();
    const connected = once(silent, 'connection');
    const res = await rdrive(['mount', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, mnt, '--user', 'alice', '--timeout', '25', '--log-file', join(tmp.path, 'login.log')], {
      during: async (pid) => {
        // Connected, its login sent and waiting for an answer.
        await connected;
        await new Promise((r) => setTimeout(r, 300));
        process.kill(pid, 'SIGTERM');
      },
    });
    assert.equal(res.code, 143, `exit ${res.code} ${res.signal}: ${res.stderr}`);
    assert.equal(res.stderr, 'rdrive: stopped by SIGTERM before the mount was ready; nothing was left mounted\n');
    assert.ok(Date.now() - started < 10_000, 'did not wait for the login to time out');
    await assertNothingLeft(mnt, res.pid);
  } finally {
    silent.close();
  }
});

test('Ctrl-C on "rdrive mount --daemon" while the daemon starts: the daemon is stopped too, nothing left mounted, exit 130', T, async () => {
  const mnt = await freshDir('daemon-sigint');
  const forget = reapMount(mnt);
  const mark = join(tmp.path, 'daemon-sigint.pid');
  // In the daemon only (the parent never mounts): say its pid, then take 3 s to mount.
  const slow = await hook('slow-mount', `${FUSE_HOOK_HEAD}import { writeFileSync } from 'node:fs';
Fuse.prototype.mount = function (cb) {
  writeFileSync(${JSON.stringify(mark)}, String(process.pid));
  setTimeout(() => mount.call(this, cb), 3000);
};
`);
  let daemon = 0;
  try {
    const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 'dsig.log')], {
      env: { NODE_OPTIONS: `--import ${slow}` },
      during: async (pid) => {
        daemon = Number(await waitFor(async () => readFile(mark, 'utf8').catch(() => ''), (t) => t !== '', 20_000));
        process.kill(pid, 'SIGINT');
      },
    });
    assert.equal(res.code, 130, `exit ${res.code} ${res.signal}: ${res.stderr}`);
    assert.equal(res.stderr, 'rdrive: stopped by SIGINT before the mount was ready; nothing was left mounted\n');
    assert.ok(daemon > 0);
    assert.equal(processAlive(daemon), false, 'the daemon was stopped with its parent');
    await assertNothingLeft(mnt, daemon);
  } finally {
    if (daemon > 0 && processAlive(daemon)) process.kill(daemon, 'SIGKILL');
    await forceUnmount(mnt);
    forget();
  }
});

test('two "rdrive mount" of one folder at once: the later one to mount is refused with exit 8, the first mount untouched', T, async () => {
  const mnt = await freshDir('twice');
  const forget = reapMount(mnt);
  const mark = join(tmp.path, 'twice.pid');
  const go = join(tmp.path, 'twice.go');
  // The first passes its checks, then waits until the second has mounted.
  const slow = await hook('wait-then-mount', `${FUSE_HOOK_HEAD}import { existsSync, writeFileSync } from 'node:fs';
Fuse.prototype.mount = function (cb) {
  writeFileSync(${JSON.stringify(mark)}, String(process.pid));
  const wait = setInterval(() => {
    if (!existsSync(${JSON.stringify(go)})) return;
    clearInterval(wait);
    mount.call(this, cb);
  }, 50);
};
`);
  try {
    let second: Run | undefined;
    const first = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'twice.log')], {
      node: ['--import', slow],
      during: async () => {
        await waitFor(() => readFile(mark, 'utf8').catch(() => ''), (t) => t !== '', 20_000);
        second = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--log-file', join(tmp.path, 'twice.log')]);
        await writeFile(go, '');
      },
    });
    assert.equal(second?.code, 0, second?.stderr);
    assert.equal(first.code, 8, `exit ${first.code} ${first.signal}: ${first.stderr}`);
    assert.equal(first.stderr, `rdrive: ${mnt} is already a mountpoint (something was mounted there while this mount started): unmount it first ("rdrive unmount ${mnt}")\n`);
    assert.equal(processAlive(first.pid), false);
    await ok(`echo still > ${mnt}/still.txt && cat ${mnt}/still.txt`);
    const un = await rdrive(['unmount', mnt]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(await isMounted(mnt), false);
  } finally {
    await forceUnmount(mnt);
    forget();
  }
});

test('SIGTERM while a step after fuse.mount hangs (the pid file\'s folder): the mount is undone at once, exit 143', T, async () => {
  const mnt = await freshDir('hung-step');
  const forget = reapMount(mnt);
  const registry = join(tmp.path, 'hung-runtime');
  // Its registry folder (pid file, record) never gets made: the mkdir never answers.
  const hang = await hook('hang-mkdir', `import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const real = fsp.mkdir;
fsp.mkdir = (p, ...rest) => (String(p).startsWith(${JSON.stringify(registry)}) ? new Promise(() => {}) : real(p, ...rest));
syncBuiltinESMExports();
`);
  try {
    const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'hung.log')], {
      node: ['--import', hang],
      env: { XDG_RUNTIME_DIR: registry },
      during: async (pid) => {
        assert.equal(await waitFor(() => isMounted(mnt), (m) => m, 20_000), true);
        process.kill(pid, 'SIGTERM');
      },
    });
    assert.equal(res.code, 143, `exit ${res.code} ${res.signal}: ${res.stderr}`);
    assert.equal(res.stderr, 'rdrive: stopped by SIGTERM before the mount was ready; nothing was left mounted\n');
    await assertNothingLeft(mnt, res.pid);
  } finally {
    await forceUnmount(mnt);
    forget();
  }
});

test('"rdrive mount" on a folder whose rdrive daemon is stopped (Ctrl-Z): refused at once, exit 8, instead of hanging on its stat', T, async () => {
  const mnt = await freshDir('stopped-daemon');
  const forget = reapMount(mnt);
  const pidFile = join(tmp.path, 'stopped-daemon.pid');
  let daemon = 0;
  try {
    const first = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--daemon', '--pid-file', pidFile, '--log-file', join(tmp.path, 'stopped.log')]);
    assert.equal(first.code, 0, first.stderr);
    daemon = Number((await readFile(pidFile, 'utf8')).trim());
    process.kill(daemon, 'SIGSTOP');
    const again = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'stopped.log')]);
    process.kill(daemon, 'SIGCONT');
    assert.equal(again.code, 8, `exit ${again.code} ${again.signal}: ${again.stderr}`);
    assert.equal(again.stderr, `rdrive: ${mnt} is already a mountpoint: unmount it first ("rdrive unmount ${mnt}")\n`);
    const un = await rdrive(['unmount', mnt]);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(await isMounted(mnt), false);
  } finally {
    if (daemon > 0 && processAlive(daemon)) {
      process.kill(daemon, 'SIGCONT');
      process.kill(daemon, 'SIGKILL');
    }
    await forceUnmount(mnt);
    forget();
  }
});

// The first right in fuse.mount's callback (the mount not yet found in the table), the second
// while the next step (the pid file) waits. Either would leave a dead mount ("Transport
// endpoint is not connected") when the crash guard came only with the ready mount.
for (const [kind, fault] of [
  ['an uncaught exception', 'throw new Error(\'injected fault\');'],
  ['an unhandled rejection', 'setTimeout(() => Promise.reject(new Error(\'injected fault\')), 300);'],
] as const) {
  test(`${kind} after fuse.mount, before the mount is ready: the mount is undone, exit 70 saying so`, T, async () => {
    const name = kind.replaceAll(' ', '-');
    const mnt = await freshDir(`crash-${name}`);
    const forget = reapMount(mnt);
    const registry = join(tmp.path, `crash-runtime-${name}`);
    // Its registry folder (pid file, record) never gets made, so the start never gets ready.
    const crasher = await hook(`crash-${name}`, `${FUSE_HOOK_HEAD}import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
const mkdir = fsp.mkdir;
fsp.mkdir = (p, ...rest) => (String(p).startsWith(${JSON.stringify(registry)}) ? new Promise(() => {}) : mkdir(p, ...rest));
syncBuiltinESMExports();
Fuse.prototype.mount = function (cb) {
  return mount.call(this, (err) => {
    cb(err);
    if (!err) { ${fault} }
  });
};
`);
    try {
      const res = await rdrive(['mount', server.url, mnt, '--user', 'alice', '--log-file', join(tmp.path, 'crash.log')], {
        node: ['--import', crasher],
        env: { XDG_RUNTIME_DIR: registry },
      });
      assert.equal(await isMounted(mnt), false, `${mnt} was left mounted (exit ${res.code} ${res.signal}: ${res.stderr})`);
      assert.equal(res.code, 70, `exit ${res.code} ${res.signal}: ${res.stderr}`);
      assert.equal(res.stdout, '', 'never said "mounted"');
      assert.equal(res.stderr, 'rdrive: the mount daemon crashed before the mount was ready (injected fault); nothing was left mounted. Details in the log.\n');
      await assertNothingLeft(mnt, res.pid);
    } finally {
      await forceUnmount(mnt);
      forget();
    }
  });
}
