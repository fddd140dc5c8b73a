import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { RdriveError } from '../../common/errors.js';
import { SERVER_BIN, startServer } from '../helpers/server-process.js';
import { waitForLog } from '../helpers/logs.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 60_000 };

before(async () => {
  tmp = await makeTempDir('rdrive-users-');
});

after(async () => {
  await tmp?.remove();
});

async function server(args: string[], input?: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [SERVER_BIN, ...args], { timeout: 30_000, env: { ...process.env, RDRIVE_PASSWORD: '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

test('user add/passwd/list/del manage hashed lines, password from stdin', T, async () => {
  const file = join(tmp.path, 'users.txt');
  assert.equal((await server(['user', 'add', 'carol', '--users', file], 'first-pass\n')).code, 0);
  const line = (await readFile(file, 'utf8')).trim();
  assert.match(line, /^carol:scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.doesNotMatch(line, /first-pass/);
  const short = await server(['user', 'add', 'erin', '--users', file], 'x\n');
  assert.equal(short.code, 2);
  assert.match(short.stderr, /Password too short/);
  const dup = await server(['user', 'add', 'carol', '--users', file], 'another-pass\n');
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /exists/);
  assert.equal((await server(['user', 'passwd', 'carol', '--users', file], 'second-pass\n')).code, 0);
  assert.notEqual((await readFile(file, 'utf8')).trim(), line);
  assert.match((await server(['user', 'list', '--users', file])).stdout, /^carol$/m);
  const bad = await server(['user', 'add', '../evil', '--users', file], 'pass\n');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /User names are/);
  assert.equal((await server(['user', 'del', 'carol', '--users', file])).code, 0);
  assert.equal((await readFile(file, 'utf8')).trim(), '');
  const folder = await server(['user', 'list', '--users', tmp.path]);
  assert.equal(folder.code, 1);
  assert.equal(folder.stderr, `rdrive-server: Cannot read users file ${tmp.path} (EISDIR): check the path and its permissions\n`);
  const nowhere = join(tmp.path, 'no-such-folder', 'users.txt');
  const unwritable = await server(['user', 'add', 'carol', '--users', nowhere], 'first-pass\n');
  assert.equal(unwritable.code, 1);
  assert.equal(unwritable.stderr, `rdrive-server: Cannot write users file ${nowhere} (ENOENT): check that its folder exists and is writable; nothing changed\n`);
});

test('user add/list use RDRIVE_USERS, the file the server reads, when --users is not given', T, async () => {
  const file = join(tmp.path, 'users-from-env.txt');
  assert.equal((await server(['user', 'add', 'dave', '--help'], '', { RDRIVE_USERS: file })).stdout.includes('RDRIVE_USERS'), true);
  const added = await server(['user', 'add', 'dave'], 'dave-pass\n', { RDRIVE_USERS: file });
  assert.equal(added.code, 0, added.stderr);
  assert.match(await readFile(file, 'utf8'), /^dave:scrypt\$/m);
  assert.match((await server(['user', 'list'], '', { RDRIVE_USERS: file })).stdout, /^dave$/m);
});

test('--users given before "user" is the file the user commands change, not ./id_passwd.txt', T, async () => {
  const file = join(tmp.path, 'users-before.txt');
  const cwd = join(tmp.path, 'cwd-before');
  await mkdir(cwd);
  const added = await new Promise<{ code: number; stdout: string }>((resolve) => {
    const child = execFile(process.execPath, [SERVER_BIN, '--users', file, 'user', 'add', 'frank'], { cwd, env: { ...process.env, RDRIVE_PASSWORD: 'frank-pass' } }, (err, stdout) => {
      resolve({ code: err === null ? 0 : 1, stdout });
    });
    child.stdin?.end();
  });
  assert.equal(added.code, 0);
  assert.match(await readFile(file, 'utf8'), /^frank:scrypt\$/m);
  assert.deepEqual(await readdir(cwd), [], 'no id_passwd.txt written where the command ran');
  assert.match((await server(['--users', file, 'user', 'list'])).stdout, /^frank$/m);
});

test('a legacy plaintext line still logs in, with a warning at start; RDRIVE_* options apply', T, async () => {
  const srv = await startServer({ env: { RDRIVE_MAX_CLIENTS: '1' } });
  try {
    await writeFile(srv.usersFile, 'dave:plain-secret\n');
    await srv.restart();
    const client = new ApiClient({ server: srv.url, maxRetryAfterSeconds: 0 });
    await client.login('dave', 'plain-secret');
    const second = new ApiClient({ server: srv.url, maxRetryAfterSeconds: 0 });
    await assert.rejects(second.login('dave', 'plain-secret'), (err: unknown) => err instanceof RdriveError && err.code === 'TOO_MANY_CLIENTS');
    await client.close();
    await second.close();
    const log = await waitForLog(join(srv.logs, 'server.log'), /plaintext passwords in the users file/);
    assert.match(log, /plaintext passwords in the users file/);
    assert.doesNotMatch(log, /plain-secret/);
  } finally {
    await srv.cleanup();
  }
});

test('a users file that anyone may write is a warning in the log at start', T, async () => {
  const srv = await startServer();
  try {
    await chmod(srv.usersFile, 0o666);
    await srv.restart();
    const log = await waitForLog(join(srv.logs, 'server.log'), /writable by any user/);
    assert.match(log, /"level":40.*users file .* is writable by any user \(mode 0666\), so anyone could add a user; chmod 600 /);
  } finally {
    await srv.cleanup();
  }
});

test('a running server takes users added, changed and removed by the CLI at the next login', T, async () => {
  const srv = await startServer();
  const client = new ApiClient({ server: srv.url, maxRetryAfterSeconds: 0 });
  const wrong = (err: unknown): boolean => err instanceof RdriveError && err.code === 'UNAUTHORIZED';
  const fresh = async (user: string, password: string): Promise<void> => {
    const other = new ApiClient({ server: srv.url });
    try {
      await other.login(user, password);
    } finally {
      await other.close();
    }
  };
  try {
    await assert.rejects(client.login('erin', 'erin-pass-1'), wrong);
    assert.equal((await server(['user', 'add', 'erin', '--users', srv.usersFile], 'erin-pass-1\n')).code, 0);
    await client.login('erin', 'erin-pass-1');
    assert.equal((await server(['user', 'passwd', 'erin', '--users', srv.usersFile], 'erin-pass-2\n')).code, 0);
    await assert.rejects(fresh('erin', 'erin-pass-1'), wrong);
    await fresh('erin', 'erin-pass-2');
    assert.equal((await server(['user', 'del', 'erin', '--users', srv.usersFile])).code, 0);
    await assert.rejects(fresh('erin', 'erin-pass-2'), wrong);
  } finally {
    await client.close();
    await srv.cleanup();
  }
});

test('a storage folder that cannot be created, or a host that is not ours, is a clear error, not a hang', T, async () => {
  const procStorage = await server(['--port', '0', '--storage', '/proc/rdrive-storage', '--users', join(tmp.path, 'u.txt'), '--logs', join(tmp.path, 'logs')]);
  assert.equal(procStorage.code, 1);
  assert.match(procStorage.stderr, /Cannot create the folder \/proc\/rdrive-storage/);
  const badHost = await server(['--host', '192.0.2.1', '--port', '0', '--storage', join(tmp.path, 'st'), '--users', join(tmp.path, 'u.txt'), '--logs', join(tmp.path, 'logs')]);
  assert.equal(badHost.code, 1);
  assert.match(badHost.stderr, /not an address of this machine/);
  const unknownHost = await server(['--host', 'no-such-host.invalid', '--port', '0', '--storage', join(tmp.path, 'st'), '--users', join(tmp.path, 'u.txt'), '--logs', join(tmp.path, 'logs')]);
  assert.equal(unknownHost.code, 1);
  assert.equal(unknownHost.stderr, 'rdrive-server: --host no-such-host.invalid is not a name this machine can resolve: give an IP address (127.0.0.1, 0.0.0.0 or one of its own) or a known host name\n');
});

test('a --redis that cannot be reached is named at start, not "Input/output error"', T, async () => {
  const res = await server(['--port', '0', '--redis', 'redis://127.0.0.1:1/0', '--storage', join(tmp.path, 'st'), '--users', join(tmp.path, 'u.txt'), '--logs', join(tmp.path, 'logs')]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^rdrive-server: Cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0 \(.+\): start it or fix --redis\n$/);
});

test('a log file that cannot be opened is one line naming it, not a stack trace', T, async () => {
  const logs = join(tmp.path, 'logs-blocked');
  // A folder where the log file goes: open() fails (EISDIR) as it would for a folder the server's user may not write (EACCES).
  await mkdir(join(logs, 'server.1.log'), { recursive: true });
  const res = await server(['--port', '0', '--storage', join(tmp.path, 'st'), '--users', join(tmp.path, 'u.txt'), '--logs', logs]);
  assert.equal(res.code, 1);
  assert.equal(res.stderr, `rdrive-server: Cannot write the log file ${join(logs, 'server.1.log')} (EISDIR): pick another place or fix its permissions\n`);
});

test('a storage folder the server\'s user does not own or may not write is named at start', T, async () => {
  // As a service user would meet it: a folder root made, the server run as another account.
  const shared = await mkdtemp(join(tmpdir(), 'rdrive-storage-owner-'));
  try {
    await chmod(shared, 0o755);
    await writeFile(join(shared, 'u.txt'), 'alice:alice-pass\n', { mode: 0o644 });
    const logs = join(shared, 'logs');
    await mkdir(logs);
    await chown(logs, 65534, 65534);
    const start = (storage: string): Promise<{ code: number; stderr: string }> => new Promise((done) => {
      execFile('runuser', ['-u', 'nobody', '--', process.execPath, SERVER_BIN, '--port', '0', '--users', join(shared, 'u.txt'), '--logs', logs, '--storage', storage],
        { timeout: 30_000 }, (err, _stdout, stderr) => done({ code: err === null ? 0 : Number(err.code), stderr }));
    });
    const open = join(shared, 'open');
    await mkdir(open, { mode: 0o755 });
    const notOwned = await start(open);
    assert.equal(notOwned.code, 1, notOwned.stderr);
    assert.equal(notOwned.stderr, `rdrive-server: Cannot make the storage folder ${open} private (chmod 0700: EPERM): give it to the user the server runs as (chown), or pick another --storage\n`);
    const closed = join(shared, 'closed');
    await mkdir(closed, { mode: 0o700 });
    const notWritable = await start(closed);
    assert.equal(notWritable.code, 1, notWritable.stderr);
    assert.equal(notWritable.stderr, `rdrive-server: The storage folder ${closed} is not writable by uid 65534: give it to the user the server runs as (chown), or pick another --storage\n`);
  } finally {
    await rm(shared, { recursive: true, force: true });
  }
});

test('a server started without a users file says nobody can log in, and how to add someone', T, async () => {
  const missing = join(tmp.path, 'no-such-users.txt');
  const child = execFile(process.execPath, [SERVER_BIN, '--port', '0', '--storage', join(tmp.path, 'st2'), '--users', missing, '--logs', join(tmp.path, 'logs2')]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitFor(() => stderr, (text) => text.includes('nobody can log in'), 10_000);
    assert.match(stderr, new RegExp(`no users file at ${missing}; nobody can log in until you add a user \\("rdrive-server user add NAME --users`));
  } finally {
    child.kill('SIGTERM');
  }
});

test('a port in use is a clear error', T, async () => {
  const srv = await startServer();
  try {
    const res = await run(process.execPath, [SERVER_BIN, '--port', String(srv.port), '--users', srv.usersFile, '--storage', srv.storage, '--logs', srv.logs]).catch((err: { code: number; stderr: string }) => err);
    assert.equal((res as { code: number }).code, 1);
    assert.match((res as { stderr: string }).stderr, /Address already in use/);
  } finally {
    await srv.cleanup();
  }
});
