import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { SERVER_BIN, writeUsersFile } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

const run = promisify(execFile);
let tmp: { path: string; remove: () => Promise<void> };

before(async () => {
  tmp = await makeTempDir('rdrive-check-');
  await mkdir(join(tmp.path, 'storage'));
  await mkdir(join(tmp.path, 'logs'));
  await writeUsersFile(join(tmp.path, 'users.txt'), { alice: 'alice-pass' });
});
after(async () => tmp.remove());

async function check(args: string[]): Promise<{ code: number; stdout: string }> {
  const base = ['--storage', join(tmp.path, 'storage'), '--logs', join(tmp.path, 'logs'), '--users', join(tmp.path, 'users.txt'), '--host', '127.0.0.1', '--port', '0'];
  try {
    const { stdout } = await run(process.execPath, [SERVER_BIN, ...base, ...args, '--check'], { timeout: 30_000 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

test('--check passes a good configuration without starting', { timeout: 60_000 }, async () => {
  const res = await check([]);
  assert.equal(res.code, 0, res.stdout);
  assert.match(res.stdout, /^ok {3}users file .*: 1 user\(s\)$/m);
  assert.match(res.stdout, /^ok {3}storage .*: writable$/m);
  assert.doesNotMatch(res.stdout, /FAIL/);
});

test('--check names each problem and exits 78', { timeout: 60_000 }, async () => {
  await writeFile(join(tmp.path, 'bad-users.txt'), 'this line is not a user\n');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    const res = await check(['--users', join(tmp.path, 'bad-users.txt'), '--storage', join(tmp.path, 'bad-users.txt', 'storage'), '--logs', join(tmp.path, 'new', 'logs'), '--port', String(port), '--tls-cert', join(tmp.path, 'nope.pem'), '--tls-key', join(tmp.path, 'nope.key')]);
    assert.equal(res.code, 78, res.stdout);
    assert.match(res.stdout, /^FAIL users file .*bad-users\.txt/m);
    assert.match(res.stdout, /^FAIL storage .*bad-users\.txt\/storage: does not exist, and a start cannot create it: .*bad-users\.txt is not a directory/m);
    // A folder a start would create (mkdir -p) is no problem.
    assert.match(res.stdout, /^ok +logs .*new\/logs: does not exist yet; a start creates it/m);
    await assert.rejects(stat(join(tmp.path, 'new')), '--check creates nothing');
    // Each FAIL says what to do, not only Node's error ("ENOENT: no such file ..., open '...'").
    assert.match(res.stdout, /^FAIL TLS .*: cannot read the certificate .*nope\.pem \(ENOENT\): check the path and its permissions$/m);
    assert.match(res.stdout, new RegExp(`^FAIL port 127\\.0\\.0\\.1:${port}: cannot listen \\(EADDRINUSE\\); another process uses it: stop it or pick another --port$`, 'm'));
  } finally {
    busy.close();
  }
});

test('--check fails a users file that anyone may write (anyone could add a user)', { timeout: 60_000 }, async () => {
  const open = join(tmp.path, 'open-users.txt');
  await writeUsersFile(open, { alice: 'alice-pass' });
  await chmod(open, 0o666);
  const res = await check(['--users', open]);
  assert.equal(res.code, 78, res.stdout);
  assert.match(res.stdout, new RegExp(`^FAIL users file ${open}: writable by any user \\(mode 0666\\), so anyone could add a user; chmod 600 ${open}$`, 'm'));
});

test('a --trust-proxy entry that is no address or subnet is a usage error naming it, at --check and at start', { timeout: 60_000 }, async () => {
  const base = ['--storage', join(tmp.path, 'storage'), '--logs', join(tmp.path, 'logs'), '--users', join(tmp.path, 'users.txt'), '--port', '0', '--trust-proxy', 'lookback'];
  for (const args of [[...base, '--check'], base]) {
    const res = await run(process.execPath, [SERVER_BIN, ...args], { timeout: 30_000 }).then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
    assert.equal(res.code, 2, res.stderr);
    assert.equal(res.stderr, 'rdrive-server: --trust-proxy must be addresses or subnets, comma-separated (e.g. loopback or 10.0.0.0/8): invalid IP address: lookback\n');
  }
});
