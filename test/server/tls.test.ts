import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { ok, startMount } from '../helpers/mount-process.js';
import { CLIENT_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

// HTTPS end to end: a self-signed certificate for 127.0.0.1, trusted by the client with --ca.
const run = promisify(execFile);
let tmp: { path: string; remove: () => Promise<void> };
let server: TestServer;
let cert: string;
let key: string;
const T = { timeout: 60_000 };

before(async () => {
  tmp = await makeTempDir('rdrive-tls-');
  cert = join(tmp.path, 'cert.pem');
  key = join(tmp.path, 'key.pem');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rdrive-test',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
});

after(async () => {
  await server?.cleanup();
  await tmp?.remove();
});

async function rdrive(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLIENT_BIN, ...args], {
      timeout: 30_000,
      env: { ...process.env, RDRIVE_USER: 'alice', RDRIVE_PASSWORD: 'alice-pass', RDRIVE_SESSION_FILE: join(tmp.path, 'session.json'), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
}

test('the server speaks https and says so on its first line', T, async () => {
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const client = new ApiClient({ server: server.url, ca: await readFile(cert, 'utf8') });
  try {
    await client.login('alice', 'alice-pass');
    await client.upload('secret.txt', () => 'over tls\n');
    assert.equal((await client.read('secret.txt', 0, 100)).toString(), 'over tls\n');
  } finally {
    await client.close();
  }
});

test('an untrusted certificate is refused with a hint; --ca or RDRIVE_CA trusts it', T, async () => {
  const untrusted = new ApiClient({ server: server.url });
  await assert.rejects(untrusted.login('alice', 'alice-pass'), (err: unknown) => err instanceof RdriveError && err.code === 'TLS_UNTRUSTED');
  await untrusted.close();
  const refused = await rdrive(['ls', '--server', server.url]);
  assert.equal(refused.code, 6);
  assert.match(refused.stderr, /TLS certificate is not trusted: pass --ca FILE/);
  assert.equal((await rdrive(['put', cert, 'copy.pem', '--server', server.url, '--ca', cert, '--quiet'])).code, 0);
  const listed = await rdrive(['ls', '--server', server.url], { RDRIVE_CA: cert });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /copy\.pem/);
  const badCa = await rdrive(['ls', '--server', server.url, '--ca', join(tmp.path, 'nope.pem')]);
  assert.equal(badCa.code, 2);
  assert.match(badCa.stderr, /Cannot read the CA file/);
});

test('a mount over https works with --ca', T, async () => {
  const mount = await startMount(server.url, 'alice', 'alice-pass', ['--ca', cert]);
  try {
    await ok(`echo mounted over tls > ${mount.path}/m.txt`);
    assert.equal(await readFile(join(server.storage, 'alice', 'm.txt'), 'utf8'), 'mounted over tls\n');
    assert.match(await ok(`cat ${mount.path}/secret.txt`), /over tls/);
    // Big sequential reads go through the mount's range worker: it must trust --ca too.
    const big = randomBytes(6 * 1024 * 1024);
    await writeFile(join(server.storage, 'alice', 'big.bin'), big);
    await ok(`cmp ${mount.path}/big.bin ${join(server.storage, 'alice', 'big.bin')}`);
  } finally {
    await mount.cleanup();
  }
});

test('https needs both files, readable and matching, or the server refuses to start', T, async () => {
  await assert.rejects(startServer({ args: ['--tls-cert', cert] }), /HTTPS needs both --tls-cert FILE and --tls-key FILE/);
  await assert.rejects(startServer({ args: ['--tls-cert', cert, '--tls-key', join(tmp.path, 'missing.pem')] }), /Cannot read the TLS key/);
  const otherKey = join(tmp.path, 'other-key.pem');
  await run('openssl', ['genrsa', '-out', otherKey, '2048']);
  await assert.rejects(startServer({ args: ['--tls-cert', cert, '--tls-key', otherKey] }), /do not work together/);
});

test('the wrong scheme is named: https:// to a plain http server, http:// to an https one', T, async () => {
  const plain = createHttpServer((_req, res) => res.end('{}'));
  await new Promise<void>((done) => plain.listen(0, '127.0.0.1', done));
  try {
    const port = (plain.address() as AddressInfo).port;
    const toPlain = await rdrive(['ls', '--server', `https://127.0.0.1:${port}`]);
    assert.equal(toPlain.code, 6);
    assert.equal(toPlain.stderr, `rdrive: The server at https://127.0.0.1:${port} answers in plain http, not https: use http://127.0.0.1:${port} (or serve https: rdrive-server --tls-cert/--tls-key)\n`);
  } finally {
    plain.close();
  }
  const plainUrl = server.url.replace(/^https:/, 'http:');
  const toTls = await rdrive(['ls', '--server', plainUrl]);
  assert.equal(toTls.code, 6);
  assert.equal(toTls.stderr, `rdrive: The server at ${plainUrl} closed the connection without answering: if it serves https, use ${server.url}\n`);
});

test('plain http to another host warns that the password crosses the network in clear', T, async () => {
  // A .invalid name never resolves: the warning comes before any connection is tried.
  const res = await rdrive(['ls', '--server', 'http://rdrive.invalid:8888']);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /plain http, so your password and files cross the network unencrypted/);
  const local = await rdrive(['ls', '--server', 'http://127.0.0.1:1']);
  assert.doesNotMatch(local.stderr, /unencrypted/);
});
