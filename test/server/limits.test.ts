import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { TEMP_PREFIX } from '../../server/storage/confine.js';
import { loggedRequests, waitForLog } from '../helpers/logs.js';
import { startServer, strayTempFiles } from '../helpers/server-process.js';
import { waitFor, waitUntilIdle } from '../helpers/wait.js';

const T = { timeout: 60_000 };

async function login(url: string, user: string, password: string): Promise<{ status: number; retryAfter: string | undefined; code: string | undefined }> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) });
  const body = (await res.body.json()) as { code?: string };
  const retry = res.headers['retry-after'];
  return { status: res.statusCode, retryAfter: typeof retry === 'string' ? retry : undefined, code: body.code };
}

test('max clients: a login over the limit is 503 with Retry-After; an expired slot is reclaimed', T, async () => {
  const server = await startServer({ args: ['--max-clients', '2', '--idle-timeout', '1'] });
  try {
    assert.equal((await login(server.url, 'alice', 'alice-pass')).status, 201);
    assert.equal((await login(server.url, 'bob', 'bob-pass')).status, 201);
    const third = await login(server.url, 'alice', 'alice-pass');
    assert.equal(third.status, 503);
    assert.equal(third.code, 'TOO_MANY_CLIENTS');
    assert.ok(Number(third.retryAfter) >= 1);
    // A refused login takes no slot, so asking again until one frees is a fair wait.
    const later = await waitFor(() => login(server.url, 'alice', 'alice-pass'), (r) => r.status === 201, 10_000, 250);
    assert.equal(later.status, 201, 'idle sessions expired and freed their slots');
  } finally {
    await server.cleanup();
  }
});

test('idle sessions expire; a client with credentials logs in again by itself', T, async () => {
  const server = await startServer({ args: ['--idle-timeout', '0.5'] });
  const client = new ApiClient({ server: server.url });
  try {
    const { token } = await client.login('alice', 'alice-pass');
    await client.upload('f.txt', () => 'x');
    await waitUntilIdle(Date.now(), 500);
    const stale = await request(`${server.url}/api/v1/stat/f.txt`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(stale.statusCode, 401);
    await stale.body.dump();
    assert.equal((await client.stat('f.txt')).size, 1);
    assert.notEqual(client.getToken(), token, 'a new session was opened');
    const tokenOnly = new ApiClient({ server: server.url });
    tokenOnly.useToken('alice', token);
    await assert.rejects(tokenOnly.stat('f.txt'), (err: unknown) => err instanceof RdriveError && err.code === 'UNAUTHORIZED');
    await tokenOnly.close();
  } finally {
    await client.close();
    await server.cleanup();
  }
});

test('failed logins are throttled per address and per user name', T, async () => {
  const server = await startServer({ args: ['--login-attempts', '3'] });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await login(server.url, 'alice', 'wrong')).status, 401);
    const blocked = await login(server.url, 'alice', 'alice-pass');
    assert.equal(blocked.status, 429, 'even the right password waits once the limit is hit');
    assert.equal(blocked.code, 'RATE_LIMITED');
    assert.ok(Number(blocked.retryAfter) > 0);
  } finally {
    await server.cleanup();
  }
});

test('requests per user are rate limited; the log never holds the password', T, async () => {
  const server = await startServer({ args: ['--requests-per-minute', '5'] });
  const client = new ApiClient({ server: server.url, maxRetryAfterSeconds: 0 });
  try {
    await client.login('alice', 'alice-pass');
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => client.stat('/')));
    const limited = results.filter((r) => r.status === 'rejected' && r.reason instanceof RdriveError && r.reason.code === 'RATE_LIMITED');
    assert.ok(limited.length >= 3, `expected some 429s, got ${limited.length}`);
    // The server logs to its file, not stderr: read the file once it holds the login.
    const log = await waitForLog(join(server.logs, 'server.log'), /"msg":"login"/);
    assert.match(log, /"user":"alice"/);
    assert.doesNotMatch(log + server.stderr(), /alice-pass/);
  } finally {
    await client.close();
    await server.cleanup();
  }
});

/** A PUT whose body is held back until `release()`: it stays in flight on the server. */
function heldUpload(url: string, token: string, name: string): { release: () => void; done: Promise<number> } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const body = Readable.from((async function* () {
    yield Buffer.from('first half ');
    await gate;
    yield Buffer.from('second half');
  })());
  const done = request(`${url}/api/v1/files/${name}`, { method: 'PUT', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } })
    .then(async (res) => { await res.body.dump(); return res.statusCode; });
  return { release, done };
}

test('--max-in-flight bounds one user\'s requests in flight; others and later requests pass', T, async () => {
  const server = await startServer({ args: ['--max-in-flight', '2'] });
  const alice = new ApiClient({ server: server.url, maxRetryAfterSeconds: 0 });
  const bob = new ApiClient({ server: server.url, maxRetryAfterSeconds: 0 });
  const held: Array<ReturnType<typeof heldUpload>> = [];
  try {
    const { token } = await alice.login('alice', 'alice-pass');
    await bob.login('bob', 'bob-pass');
    held.push(heldUpload(server.url, token, 'one.txt'), heldUpload(server.url, token, 'two.txt'));
    // Both uploads are in flight once their temp files exist on the server. A probe sent before
    // that would itself take a slot and get the second upload refused.
    const temps = await waitFor(
      async () => (await readdir(join(server.storage, 'alice'))).filter((n) => n.startsWith(TEMP_PREFIX)),
      (names) => names.length === 2,
      10_000,
      20,
    );
    assert.equal(temps.length, 2, `both held uploads reached the server: ${temps.join(', ')}`);
    const refused = await alice.stat('/').then(() => undefined, (err: unknown) => err);
    assert.ok(refused instanceof RdriveError && refused.code === 'RATE_LIMITED', `a third request is refused: ${String(refused)}`);
    assert.match(refused.message, /in flight/);
    assert.equal((await bob.stat('/')).type, 'dir', 'another user is not limited by alice\'s requests');
    for (const h of held) h.release();
    assert.deepEqual(await Promise.all(held.map((h) => h.done)), [200, 200]);
    assert.equal((await alice.stat('/')).type, 'dir', 'the slots are free again');
  } finally {
    for (const h of held) h.release();
    await alice.close();
    await bob.close();
    await server.cleanup();
  }
});

test('quota: a write beyond it fails with ENOSPC and leaves the old content; statfs reports it', T, async () => {
  const server = await startServer({ args: ['--quota', '100000'] });
  const client = new ApiClient({ server: server.url });
  try {
    await client.login('alice', 'alice-pass');
    await client.upload('a.bin', () => Buffer.alloc(60_000, 1));
    await assert.rejects(client.upload('b.bin', () => Buffer.alloc(50_000, 2)), (err: unknown) => err instanceof RdriveError && err.code === 'ENOSPC');
    await assert.rejects(client.stat('b.bin'), (err: unknown) => err instanceof RdriveError && err.code === 'ENOENT');
    await assert.rejects(client.upload('a.bin', () => Buffer.alloc(120_000, 3)), (err: unknown) => err instanceof RdriveError && err.code === 'ENOSPC');
    assert.deepEqual(await client.read('a.bin', 0, 10), Buffer.alloc(10, 1));
    await client.upload('a.bin', () => Buffer.alloc(90_000, 4));
    const fs = await client.statfs();
    assert.equal(fs.total, 100_000);
    assert.equal(fs.used, 90_000);
    assert.equal(fs.free, 10_000);
    assert.equal((await client.list('/')).entries.length, 1, 'no temp file is visible');
  } finally {
    await client.close();
    await server.cleanup();
  }
});

test('max file size gives EFBIG', T, async () => {
  const server = await startServer({ args: ['--max-file-size', '1000'] });
  const client = new ApiClient({ server: server.url });
  try {
    await client.login('alice', 'alice-pass');
    await assert.rejects(client.upload('big', () => Buffer.alloc(2000)), (err: unknown) => err instanceof RdriveError && err.code === 'EFBIG');
    // A big streamed body refused after its first MiB: the client gets the answer, not a reset,
    // every time, and the connection pool stays usable.
    for (let i = 0; i < 5; i++) {
      const body = (): Readable => Readable.from((function* () {
        for (let k = 0; k < 64; k++) yield Buffer.alloc(256 * 1024, k);
      })());
      await assert.rejects(client.upload('big', body), (err: unknown) => err instanceof RdriveError && err.code === 'EFBIG');
    }
    await client.upload('small', () => Buffer.alloc(1000));
    assert.deepEqual((await client.list('/')).entries.map((e) => e.name), ['small']);
  } finally {
    await client.close();
    await server.cleanup();
  }
});

test('bad options are refused at start with a clear message', T, async () => {
  await assert.rejects(startServer({ args: ['--max-clients', 'lots'] }), /--max-clients must be a whole number/);
});

/** A raw connection that sends `head` and `body`, then neither sends nor reads more. */
function stalledClient(url: string, head: string, body: Buffer = Buffer.alloc(0)): { socket: Socket; closed: Promise<void> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname, () => { socket.write(head); socket.write(body); });
  socket.on('error', () => undefined);
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

test('--stall-timeout cuts a client that stops sending a body or reading an answer; its temp file and quota reservation go', T, async () => {
  const size = 12 * 1024 * 1024;
  const server = await startServer({ args: ['--stall-timeout', '1', '--quota', String(size + size / 2)] });
  const client = new ApiClient({ server: server.url });
  const held: Socket[] = [];
  try {
    const { token } = await client.login('alice', 'alice-pass');
    const auth = `Authorization: Bearer ${token}\r\n`;
    const upload = stalledClient(server.url, `PUT /api/v1/files/big.bin HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: ${size}\r\n\r\n`, Buffer.alloc(100_000, 1));
    held.push(upload.socket);
    await upload.closed;
    assert.deepEqual(await strayTempFiles(server.storage), [], 'the stalled upload\'s temp file is gone');
    // Its reservation went with it: a whole upload of the same size fits the quota again.
    await client.upload('big.bin', () => Buffer.alloc(size, 2));
    // A download nobody reads: the kernel's buffers fill, then the server's queue waits.
    const download = stalledClient(server.url, `GET /api/v1/files/big.bin HTTP/1.1\r\nHost: x\r\n${auth}\r\n`);
    download.socket.pause();
    held.push(download.socket);
    const log = await waitForLog(join(server.logs, 'server.log'), /client stalled; connection cut/, 2, 20_000);
    const cuts = log.split('\n').filter((l) => l.includes('client stalled')).map((l) => (JSON.parse(l) as { waitingFor: string }).waitingFor);
    assert.deepEqual(cuts, ['client-send', 'client-read']);
    assert.doesNotMatch(log, /"level":50/, 'a client gone mid-answer is no server error');
    const puts = await loggedRequests(server.logs, 'PUT', 'files/big.bin');
    assert.deepEqual(puts.map((r) => [r.status, r.aborted]), [[undefined, true], [200, false]], 'the cut upload is logged as aborted, with no status');
    assert.deepEqual(await client.read('big.bin', size - 4, 4), Buffer.alloc(4, 2), 'the server goes on serving');
  } finally {
    for (const s of held) s.destroy();
    await client.close();
    await server.cleanup();
  }
});
