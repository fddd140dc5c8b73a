import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { ApiClient } from '../../mount/remote/api-client.js';
import { waitForLog } from '../helpers/logs.js';
import { rawRequest } from '../helpers/raw-http.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import type { TestServer } from '../helpers/server-process.js';

/** Issue 10 items 3, 4, 7 and 12: bad input is a clear 4xx, and an abandoned upload never lands. */

let server: TestServer;
let alice: ApiClient;

before(async () => {
  ({ server, clients: [alice] } = await startServerWithClients(['alice']));
  await alice.upload('a.txt', () => 'alpha');
  await alice.mkdir('dir');
});

after(() => stopServerAndClients(server, [alice]));

const T = { timeout: 30_000 };

function auth(): Record<string, string> {
  return { authorization: `Bearer ${alice.getToken()!}` };
}

const serverLog = (): Promise<string> => readFile(join(server.logs, 'server.log'), 'utf8');

test('malformed percent-encoding is 400 EINVAL with one short log line, no stack', T, async () => {
  for (const path of ['/api/v1/files/%zz', '/api/v1/files/%c0%ae', '/api/v1/files/%E0%A4%A', '/api/v1/list/%zz/', '/api/v1/stat/a%ff']) {
    const res = await rawRequest(server.url, 'GET', path, auth());
    assert.equal(res.status, 400, path);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'EINVAL', path);
  }
  const log = await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/stat\/a%ff"/);
  assert.doesNotMatch(log, /URIError|"stack"|internal error/);
  const lines = log.split('\n').filter((l) => l.includes('%zz'));
  assert.ok(lines.every((l) => l.length < 400), 'short lines');
});

test('one path rule: a JSON path the URL rules would refuse is refused too', T, async () => {
  for (const to of ['%2e%2e%2fbob%2fx', '%2e%2e', 'x%2fy', 'a/%2E%2E/b', '..', 'a/../b', 'a\\b']) {
    await rejectsWith(alice.rename('a.txt', to), 'EINVAL');
  }
  const names = (await alice.list('/')).entries.map((e) => e.name).sort();
  assert.deepEqual(names, ['a.txt', 'dir']);
  // A name with a percent sign that is not an encoded traversal stays fine, and reachable.
  await alice.rename('a.txt', '100%25 sure');
  assert.equal((await alice.read('100%25 sure', 0, 10)).toString(), 'alpha');
  await alice.rename('100%25 sure', 'a.txt');
});

test('a trailing slash names a directory: ENOTDIR on a file', T, async () => {
  for (const path of ['/api/v1/files/a.txt/', '/api/v1/stat/a.txt/', '/api/v1/preview/a.txt/', '/api/v1/list/a.txt/']) {
    const res = await rawRequest(server.url, 'GET', path, auth());
    assert.equal(res.status, 409, path);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'ENOTDIR', path);
  }
  const put = await request(`${server.url}/api/v1/files/a.txt/`, { method: 'PUT', headers: auth(), body: 'overwritten' });
  assert.equal(((await put.body.json()) as { code: string }).code, 'ENOTDIR');
  const del = await request(`${server.url}/api/v1/files/a.txt/`, { method: 'DELETE', headers: auth() });
  assert.equal(((await del.body.json()) as { code: string }).code, 'ENOTDIR');
  assert.equal((await alice.read('a.txt', 0, 100)).toString(), 'alpha');
  const dirStat = await rawRequest(server.url, 'GET', '/api/v1/stat/dir/', auth());
  assert.equal(dirStat.status, 200);
  assert.equal((await rawRequest(server.url, 'GET', '/api/v1/list/dir/', auth())).status, 200);
});

test('a rename with a trailing slash on either name moves a directory only, as rename(2)', T, async () => {
  const rename = async (from: string, to: string): Promise<{ status: number; code: string | undefined }> => {
    const res = await request(`${server.url}/api/v1/rename`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ from, to }) });
    return { status: res.statusCode, code: ((await res.body.json()) as { code?: string }).code };
  };
  assert.equal((await rename('a.txt', 'moved/')).code, 'ENOTDIR');
  assert.equal((await rename('a.txt/', 'moved')).code, 'ENOTDIR');
  assert.equal((await alice.read('a.txt', 0, 100)).toString(), 'alpha');
  await rejectsWith(alice.stat('moved'), 'ENOENT');
  const intoItself = await request(`${server.url}/api/v1/rename`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ from: 'dir', to: 'dir/sub/x' }) });
  assert.deepEqual(await intoItself.body.json(), { code: 'EINVAL', message: 'Cannot move dir into itself (dir/sub/x): pick a destination outside it' });
  assert.equal((await rename('dir/', 'dir2/')).status, 200);
  assert.equal((await alice.stat('dir2')).type, 'dir');
  await alice.rename('dir2', 'dir');
});

test('out-of-range times are refused and change nothing', T, async () => {
  const before = await alice.stat('a.txt');
  for (const mtime of [1e20, -2_147_483_648_001, -1e15, 1e16]) await rejectsWith(alice.setAttr('a.txt', { mtime }), 'EINVAL');
  await rejectsWith(alice.setAttr('a.txt', { atime: 1e20 }), 'EINVAL');
  const nan = await request(`${server.url}/api/v1/attrs/a.txt`, { method: 'PATCH', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"mtime":"NaN"}' });
  assert.equal(nan.statusCode, 400);
  await nan.body.dump();
  await rejectsWith(alice.upload('a.txt', () => 'changed', { mtime: 1e20 }), 'EINVAL');
  const header = await request(`${server.url}/api/v1/files/a.txt`, { method: 'PUT', headers: { ...auth(), 'x-rdrive-mtime': 'NaN' }, body: 'changed' });
  assert.equal(header.statusCode, 400);
  await header.body.dump();
  const after = await alice.stat('a.txt');
  assert.equal(after.mtime, before.mtime);
  assert.equal((await alice.read('a.txt', 0, 100)).toString(), 'alpha');
  // The far edges that are valid still work (y2038 and beyond).
  const far = await alice.setAttr('a.txt', { mtime: 4_294_967_296_000 });
  assert.equal(Math.round(far.mtime), 4_294_967_296_000);
});

test('setuid, setgid and sticky bits are kept and reported', T, async () => {
  assert.equal((await alice.setAttr('a.txt', { mode: 0o4755 })).mode, 0o4755);
  assert.equal((await alice.stat('a.txt')).mode, 0o4755);
  assert.equal((await alice.setAttr('a.txt', { mode: 0o2644 })).mode, 0o2644);
  assert.equal((await alice.setAttr('a.txt', { mode: 0o1621 })).mode, 0o1621);
  assert.equal((await alice.setAttr('a.txt', { mode: 0o644 })).mode, 0o644);
  assert.equal((await alice.mkdir('sticky', { mode: 0o1777 })).mode, 0o1777);
  assert.equal((await alice.upload('suid', () => 'x', { mode: 0o6750 })).mode, 0o6750);
  assert.equal((await alice.list('/')).entries.find((e) => e.name === 'suid')?.mode, 0o6750);
});

test('a too-large JSON body is 413, not 400', T, async () => {
  const big = JSON.stringify({ mtime: 1, pad: 'x'.repeat(10 * 1024 * 1024) });
  const res = await request(`${server.url}/api/v1/attrs/a.txt`, { method: 'PATCH', headers: { ...auth(), 'content-type': 'application/json' }, body: big });
  assert.equal(res.statusCode, 413);
  assert.equal(((await res.body.json()) as { code: string }).code, 'BODY_TOO_LARGE');
});

/** Sends a whole PUT on its own connection and returns the socket, without waiting for an answer. */
async function sendPut(path: string, body: string, headers: Record<string, string> = {}): Promise<import('node:net').Socket> {
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const head = [`PUT /api/v1/files/${path} HTTP/1.1`, `Host: ${hostname}:${port}`, `Authorization: Bearer ${alice.getToken()!}`,
    'Content-Type: application/octet-stream', `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  await new Promise<void>((resolve, reject) => socket.write(head + body, (err) => (err ? reject(err) : resolve())));
  return socket;
}

test('an upload whose client gave up while the server was stopped never lands; the retry does', { timeout: 60_000 }, async () => {
  await alice.upload('kept.txt', () => 'previous content');
  const body = 'n'.repeat(64 * 1024);
  server.process.kill('SIGSTOP');
  try {
    // The whole request sits in the kernel's buffers; the client then gives up (times out) and closes.
    const overwrite = await sendPut('kept.txt', body);
    const created = await sendPut('created.txt', body, { 'If-None-Match': '*' });
    overwrite.end();
    created.end();
    overwrite.destroy();
    created.destroy();
  } finally {
    server.process.kill('SIGCONT');
  }
  await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/files\/(kept|created)\.txt"/, 2, 15_000);
  assert.ok(await readFile(join(server.storage, 'alice', 'kept.txt'), 'utf8') === 'previous content', 'an overwrite keeps the previous content' + server.stderr());
  await assert.rejects(access(join(server.storage, 'alice', 'created.txt')), 'a new file stays absent');
  assert.equal((await alice.read('kept.txt', 0, 100)).toString(), 'previous content');
  // The client's retry is answered as if the first attempt never happened.
  assert.equal((await alice.upload('created.txt', () => body, { exclusive: true })).size, body.length);
  assert.equal((await alice.upload('kept.txt', () => body)).size, body.length);
  assert.ok(await readFile(join(server.storage, 'alice', 'kept.txt'), 'utf8') === body, 'the retried overwrite lands');
  assert.doesNotMatch(await serverLog(), /internal error/);
});

test('POST /sync/<path>: a file is synced, a missing one (or its folder) falls back to the commit, traversal and no session are refused', T, async () => {
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/a.txt', auth())).status, 204);
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/dir', auth())).status, 204);
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/not-there', auth())).status, 204);
  for (const path of ['/api/v1/sync/..%2f..%2fetc%2fpasswd', '/api/v1/sync/%2e%2e/bob/x', '/api/v1/sync/a%5cb', '/api/v1/sync/%zz']) {
    const res = await rawRequest(server.url, 'POST', path, auth());
    assert.equal(res.status, 400, path);
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'EINVAL', path);
  }
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/a.txt/x', auth())).status, 204, 'below a file: nothing to sync there, the commit covers the rest');
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/gone/deeper/x', auth())).status, 204, 'a folder gone too');
  assert.equal((await rawRequest(server.url, 'POST', '/api/v1/sync/a.txt')).status, 401);
});

async function sendJson(method: string, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string }> {
  const res = await request(`${server.url}/api/v1/${path}`, { method: method as 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.body.text();
  return { status: res.statusCode, code: (JSON.parse(text) as { code: string }).code };
}

test('crafted JSON bodies are a 400, never a 500 or an internal error in the log', T, async () => {
  const deep = `{"user":${'['.repeat(8000)}${']'.repeat(8000)},"password":"x"}`;
  for (const body of ['{"user":{"toString":1},"password":"x"}', deep, '{"user":["alice"],"password":"alice-pass"}']) {
    const res = await sendJson('POST', 'session', body);
    assert.equal(res.status, 400, body.slice(0, 40));
    assert.equal(res.code, 'EINVAL');
  }
  const encoded = await sendJson('POST', 'session', 'not brotli at all', { 'content-encoding': 'br' });
  assert.ok(encoded.status >= 400 && encoded.status < 500, `an encoding it cannot inflate: ${encoded.status}`);
  // JSON paths obey the URL's rule: a lone surrogate has no UTF-8 form (it was stored as U+FFFD).
  for (const to of ['\\ud800', 'x\\udfff']) {
    const res = await sendJson('POST', 'rename', `{"from":"a.txt","to":"${to}"}`, auth());
    assert.deepEqual(res, { status: 400, code: 'EINVAL' }, to);
  }
  // Modes outside st_mode's bits are refused, not wrapped (-1 became 07777, 1e20 became 0).
  for (const mode of ['-1', '1e20', '1.5', '70000']) {
    assert.equal((await sendJson('POST', 'dirs/m', `{"mode":${mode}}`, auth())).code, 'EINVAL', `mkdir mode ${mode}`);
    assert.equal((await sendJson('PATCH', 'attrs/a.txt', `{"mode":${mode}}`, auth())).code, 'EINVAL', `chmod ${mode}`);
    assert.equal((await sendJson('POST', 'nodes/n', `{"type":"fifo","mode":${mode}}`, auth())).code, 'EINVAL', `mknod mode ${mode}`);
  }
  assert.equal((await alice.stat('a.txt')).mode, 0o644);
  assert.deepEqual((await alice.list('/')).entries.map((e) => e.name).filter((n) => n === 'm' || n === 'n'), []);
  assert.doesNotMatch(await serverLog(), /"level":50/, 'no internal error logged');
});

test('a JSON body that is no object, a number that is not plain digits, a temp name under new parents: refused, nothing changed', T, async () => {
  for (const body of ['[]', '[{"mode":0}]', '5', '"x"', 'null']) {
    assert.deepEqual(await sendJson('PATCH', 'attrs/a.txt', body, auth()), { status: 400, code: 'EINVAL' }, `attrs ${body}`);
    assert.deepEqual(await sendJson('POST', 'dirs/j', body, auth()), { status: 400, code: 'EINVAL' }, `mkdir ${body}`);
  }
  for (const offset of ['1e3', '0x10', '', '%207', '-0', '1.0']) {
    const res = await request(`${server.url}/api/v1/files/a.txt?offset=${offset}`, { method: 'PATCH', headers: auth(), body: 'Z' });
    assert.equal(res.statusCode, 400, `offset=${offset}`);
    assert.equal(((await res.body.json()) as { code: string }).code, 'EINVAL');
  }
  assert.equal((await sendJson('POST', 'dirs/newparent/.rdrive-tmp-x', '{"parents":true}', auth())).code, 'ENOENT');
  const names = (await alice.list('/')).entries.map((e) => e.name);
  for (const name of ['j', 'newparent']) assert.ok(!names.includes(name), `${name} was made`);
  assert.equal((await alice.read('a.txt', 0, 100)).toString(), 'alpha');
});

test('a JSON body trickled byte by byte (a login, before any session) is cut', { timeout: 60_000 }, async () => {
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(`POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
  const drip = setInterval(() => socket.write(' '), 1000);
  const started = Date.now();
  try {
    await once(socket, 'close');
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
  assert.ok(Date.now() - started < 40_000, `cut after ${Date.now() - started} ms`);
});

test('HEAD /files answers the attributes without reading the file (a HEAD of a 4 GiB file of holes ends at once)', T, async () => {
  await alice.upload('holes', () => 'x');
  await alice.setAttr('holes', { size: 4 * 1024 ** 3 });
  // A HEAD then a stat on one connection: the stat is answered once the server is done with the
  // HEAD. Node drops a HEAD's body, but the server read the whole file into it, unpaced by any
  // client (a GET's reader sets its pace), for ~17 s here.
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  const started = Date.now();
  const head = (method: string, path: string): string => `${method} /api/v1/${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${auth().authorization}\r\n\r\n`;
  socket.write(head('HEAD', 'files/holes') + head('GET', 'stat/holes'));
  let text = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) {
    text += chunk as string;
    if (/"size":4294967296/.test(text)) break;
  }
  socket.destroy();
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*x-rdrive-size: 4294967296/i);
  assert.ok(Date.now() - started < 3_000, `both answered within ${Date.now() - started} ms`);
});

test('If-None-Match: * sent twice (or in a list) is still an exclusive create: the file already there is kept', T, async () => {
  await alice.upload('only-once.txt', () => 'first');
  for (const ifNoneMatch of ['*\r\nIf-None-Match: *', '"x", *']) {
    const socket = await sendPut('only-once.txt', 'second', { 'If-None-Match': ifNoneMatch, Connection: 'close' });
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    const answer = Buffer.concat(chunks).toString('utf8');
    assert.match(answer, /^HTTP\/1\.1 4\d\d/, answer.slice(0, 200));
    assert.match(answer, /EEXIST/);
    assert.equal(await readFile(join(server.storage, 'alice', 'only-once.txt'), 'utf8'), 'first');
  }
});

test('X-Rdrive-Mtime takes a plain number of milliseconds only, as JSON bodies do', T, async () => {
  await alice.upload('stamp.txt', () => 'kept');
  const before = await alice.stat('stamp.txt');
  // (Spaces around a header's value are not part of it in HTTP: ' 5' is 5.)
  for (const value of ['1e3', '0x10', '+5', '5.', '']) {
    const res = await request(`${server.url}/api/v1/files/stamp.txt`, { method: 'PUT', headers: { ...auth(), 'x-rdrive-mtime': value }, body: 'changed' });
    assert.equal(res.statusCode, 400, `X-Rdrive-Mtime: '${value}'`);
    await res.body.dump();
  }
  assert.equal((await alice.read('stamp.txt', 0, 100)).toString(), 'kept');
  assert.equal((await alice.stat('stamp.txt')).mtime, before.mtime);
  // What clients send: whole milliseconds, before 1970 too, or with a fraction.
  for (const value of ['1000', '-86400000', '1700000000000.5']) {
    const res = await request(`${server.url}/api/v1/files/stamp.txt`, { method: 'PUT', headers: { ...auth(), 'x-rdrive-mtime': value }, body: 'new' });
    assert.equal(res.statusCode, 200, `X-Rdrive-Mtime: '${value}'`);
    await res.body.dump();
    assert.equal(Math.round((await alice.stat('stamp.txt')).mtime), Math.round(Number(value)));
  }
});
