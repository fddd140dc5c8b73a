import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { SERVER_BIN, startServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const T = { timeout: 60_000 };
const API = '/api/v1';

const numbered = (names: string[]): number[] => names.flatMap((n) => {
  const m = /^server\.(\d+)\.log$/.exec(n);
  return m === null ? [] : [Number(m[1])];
});

test('the server rotates its log at --log-max-size and keeps --log-keep old files', T, async () => {
  const server = await startServer({ args: ['--log-max-size', '1K', '--log-keep', '2'] });
  try {
    const login = await fetch(`${server.url}${API}/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }),
    });
    const { token } = (await login.json()) as { token: string };
    // Each request is one ~300 B info line. The logger writes lines in batches, and a batch
    // rotates once however far past the limit it goes: on a loaded machine 60 lines made only 4
    // files. So requests go on until the 6th file is started (a bound: 2,000 requests).
    const started = async (): Promise<number> => Math.max(0, ...numbered(await readdir(server.logs)));
    for (let i = 0; i < 2_000 && (i % 20 !== 0 || (await started()) < 6); i++) {
      const res = await fetch(`${server.url}${API}/statfs`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
    }
    // The server logs asynchronously, so rotations may still be under way when the loop ends:
    // a snapshot counts once the link, and the listing around it, agree (no rotation in between).
    const snapshot = async (): Promise<{ names: string[]; link: string }> => {
      const before = await readdir(server.logs);
      const link = await readlink(join(server.logs, 'server.log')).catch(() => '');
      const after = await readdir(server.logs);
      return { names: before.join(' ') === after.join(' ') ? after : [], link };
    };
    const settled = (s: { names: string[]; link: string }): boolean => {
      const numbers = numbered(s.names);
      return numbers.length > 0 && Math.max(...numbers) >= 6 && numbers.length <= 3 && s.link === `server.${Math.max(...numbers)}.log`;
    };
    const { names, link } = await waitFor(snapshot, settled, 10_000);
    assert.ok(numbered(names).length <= 3, `the current file and at most 2 rotated ones: ${names.join(' ')}`);
    assert.ok(Math.max(0, ...numbered(names)) >= 6, `request lines through a 1 KiB limit rotate many times: ${names.join(' ')}`);
    // server.log names the current (highest) file, so its documented path follows the rotations;
    // the current file may have just been started and still be empty, the kept ones are not.
    const numbers = numbered(names);
    assert.equal(link, `server.${Math.max(...numbers)}.log`);
    const kept = await Promise.all(numbers.map((n) => readFile(join(server.logs, `server.${n}.log`), 'utf8').catch(() => '')));
    assert.match(kept.join(''), /"route":"\/api\/v1\/statfs"/);
    // Logs name users, paths and addresses: every file, the rotated ones too, is the owner's only.
    // (A rotation may still prune an old file meanwhile, as the reads above allow.)
    const modes = await Promise.all(numbers.map((n) => stat(join(server.logs, `server.${n}.log`)).then((st) => st.mode & 0o777, () => undefined)));
    assert.ok(modes.filter((m) => m !== undefined).length >= 2, `rotated files: ${names.join(' ')}`);
    for (const mode of modes) if (mode !== undefined) assert.equal(mode, 0o600);
  } finally {
    await server.cleanup();
  }
});

test('a flood of requests that never lets the logger catch up still rotates: no file grows past about twice --log-max-size', T, async () => {
  const server = await startServer({ args: ['--log-max-size', '64K', '--log-keep', '2', '--log-level', 'debug'] });
  const agent = new Agent({ connections: 8 });
  try {
    const login = await fetch(`${server.url}${API}/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }),
    });
    const { token } = (await login.json()) as { token: string };
    // Stats of ~4 KB paths that do not exist: each is one debug line (404) holding its path.
    const path = `${API}/stat/${Array.from({ length: 16 }, () => 'A'.repeat(250)).join('/')}`;
    let biggest = 0;
    const sizes = async (): Promise<number[]> => Promise.all((await readdir(server.logs)).filter((n) => numbered([n]).length > 0)
      .map((n) => stat(join(server.logs, n)).then((s) => s.size, () => 0)));
    let next = 0;
    const flood = Promise.all(Array.from({ length: 8 }, async () => {
      while (next++ < 12_000) {
        const res = await request(`${server.url}${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
        await res.body.dump();
        assert.equal(res.statusCode, 404);
      }
    }));
    let flooding = true;
    void flood.finally(() => { flooding = false; });
    while (flooding) {
      biggest = Math.max(biggest, ...(await sizes()));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await flood;
    biggest = Math.max(biggest, ...(await sizes()));
    // 48 MB of lines went out; one write may carry several lines past the mark.
    const bound = 2 * 64 * 1024 + 256 * 1024;
    assert.ok(biggest <= bound, `the biggest log file reached ${biggest} bytes`);
    const files = await waitFor(async () => numbered(await readdir(server.logs)), (n) => n.length <= 3, 5_000);
    assert.ok(files.length <= 3, `the current file and at most 2 rotated ones: ${files.join(' ')}`);
    // Every line whole, in whichever file it went to.
    const text = (await Promise.all(files.map((n) => readFile(join(server.logs, `server.${n}.log`), 'utf8').catch(() => '')))).join('');
    for (const line of text.split('\n').filter((l) => l !== '')) assert.doesNotThrow(() => JSON.parse(line), line.slice(0, 200));
  } finally {
    await agent.close();
    await server.cleanup();
  }
});

test('a bad rotation option is refused before the server starts, saying what is accepted', T, async () => {
  const res = await promisify(execFile)(process.execPath, [SERVER_BIN, '--port', '0', '--log-max-size', 'lots'])
    .then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /--log-max-size must be a size such as 10M, 512K, 1G/);
});

test('a log disk that fills up costs log lines, never service: the server answers on and logs again once there is room', T, async () => {
  const run = promisify(execFile);
  const disk = await makeTempDir('rdrive-log-disk-');
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk.path]);
  const logs = join(disk.path, 'logs');
  // Injected from outside the product (as in crash.test.ts): SIGUSR2 makes the server throw where nothing catches it.
  const hook = join(disk.path, 'crash-hook.mjs');
  await writeFile(hook, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected server crash'); }));\n");
  const server = await startServer({ args: ['--logs', logs], nodeArgs: ['--import', hook] }).catch(async (err: unknown) => {
    await run('umount', ['-l', disk.path]);
    throw err;
  });
  try {
    const login = await fetch(`${server.url}${API}/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }),
    });
    const { token } = (await login.json()) as { token: string };
    const statfs = async (): Promise<number> => (await fetch(`${server.url}${API}/statfs`, {
      headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000),
    })).status;
    // Whatever room is left goes to a filler; the log's last page takes a few lines more, then
    // every write of it fails (ENOSPC).
    const filler = join(disk.path, 'filler');
    await writeFile(filler, Buffer.alloc(64 * 1024)).catch(() => undefined);
    for (let i = 0; i < 100; i++) assert.equal(await statfs(), 200, `request ${i} with the log disk full`);
    assert.equal(server.process.exitCode, null, 'the server is still running');
    assert.match(server.stderr(), /cannot write the log .*server\.1\.log \(ENOSPC/);
    // Room again: the lines held meanwhile, and new ones, reach the log.
    await rm(filler);
    const text = async (): Promise<string> => readFile(join(logs, 'server.log'), 'utf8').catch(() => '');
    const before = (await text()).length;
    const after = await waitFor(async () => {
      assert.equal(await statfs(), 200);
      return (await text()).length;
    }, (length) => length > before + 5_000, 10_000);
    assert.ok(after > before + 5_000, `the log grows again: ${before} → ${after} bytes`);
    // Full again, a crash still ends the process (exit 70) instead of retrying its fatal line forever.
    await writeFile(filler, Buffer.alloc(64 * 1024)).catch(() => undefined);
    for (let i = 0; i < 20; i++) assert.equal(await statfs(), 200);
    const exited = once(server.process, 'exit');
    server.process.kill('SIGUSR2');
    const [code] = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit 5 s after the crash')), 5_000).unref())]);
    assert.equal(code, 70);
  } finally {
    await server.cleanup();
    await run('umount', ['-l', disk.path]).catch(() => undefined);
    await disk.remove();
  }
});

test('what someone not logged in sent is logged cut short: a 24 KB path, a 10 KB name tried', T, async () => {
  const server = await startServer();
  try {
    const longPath = `${API}/list/${`${'%41'.repeat(85)}/`.repeat(94)}`;
    assert.equal((await fetch(`${server.url}${longPath}`)).status, 401);
    const login = await fetch(`${server.url}${API}/session`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'B'.repeat(10_000), password: 'wrong' }),
    });
    assert.equal(login.status, 401);
    const log = await waitFor(() => readFile(join(server.logs, 'server.log'), 'utf8'), (text) => text.includes('login failed'), 10_000);
    const lines = log.split('\n').filter((l) => l.includes('"status":401'));
    assert.equal(lines.length, 2, log.slice(-2_000));
    for (const line of lines) assert.ok(line.length < 1_000, `a ${line.length}-byte line: ${line.slice(0, 300)}`);
    assert.match(lines.join('\n'), /"route":"\/api\/v1\/list\/(%41){50,}…\(\d+ chars\)"/);
    assert.match(lines.join('\n'), /"user":"B{256}…\(10000 chars\)"/);
  } finally {
    await server.cleanup();
  }
});
