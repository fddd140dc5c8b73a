import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { request } from 'undici';
import { HAPROXY_CONFIG, haproxyEnv, startHaproxy, type TestHaproxy } from '../helpers/haproxy-process.js';
import { startServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

// The repo's HAProxy config (packaging/haproxy/rdrive.cfg) sends a request again, to another
// server, when that is safe: an idempotent request that got a 503 or no answer at all; never a
// mkdir or an exclusive create, which the first server may have carried out. Real haproxy from
// Debian and a real rdrive-server; the failing backend is a small HTTP server that answers
// health checks and fails everything else, counting what reaches it.

const T = { timeout: 60_000 };
const API = '/api/v1';

test('the HAProxy config is valid (haproxy -c)', T, async () => {
  const { stdout } = await promisify(execFile)('haproxy', ['-c', '-f', HAPROXY_CONFIG], { env: haproxyEnv(8888, ['127.0.0.1:8881', '127.0.0.1:8882', '127.0.0.1:8883']) });
  assert.match(stdout, /Configuration file is valid/);
});

test('HAProxy retries idempotent requests answered 503 or not answered, on another server; never a mkdir or exclusive create', T, async () => {
  const tmp = await makeTempDir('rdrive-lb-');
  const seen: string[] = [];
  const failing = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === `${API}/health`) {
      res.end('{"status":"ok"}');
      return;
    }
    const kind = `${req.method} ${req.url?.split('/')[3] ?? ''}${req.headers['if-none-match'] === undefined ? '' : ' exclusive'}`;
    seen.push(kind);
    req.resume();
    req.once('end', () => {
      // A server that died mid-request: no answer at all.
      if (req.method === 'GET' && req.url?.startsWith(`${API}/list/`) === true) {
        req.socket.destroy();
        return;
      }
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end('{"code":"UNAVAILABLE","message":"Shared state (Redis) is unreachable; retry in a moment"}');
    });
  });
  failing.listen(0, '127.0.0.1');
  await once(failing, 'listening');
  const server = await startServer();
  let lb: TestHaproxy | undefined;
  try {
    const real = `127.0.0.1:${server.port}`;
    lb = await startHaproxy([`127.0.0.1:${(failing.address() as AddressInfo).port}`, real, real], tmp.path);
    const login = await request(`${server.url}${API}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
    const { token } = (await login.body.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };
    const send = async (method: 'GET' | 'PUT' | 'POST', path: string, headers: Record<string, string> = {}, body?: string): Promise<number> => {
      const res = await request(`${lb!.url}${API}${path}`, { method, headers: { ...auth, ...headers }, ...(body === undefined ? {} : { body }) });
      await res.body.dump();
      return res.statusCode;
    };

    // Round robin over three: in six requests in a row, at least one is first sent to the failing server.
    const six = async (one: (i: number) => Promise<number>): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 6; i++) out.push(await one(i));
      return out;
    };
    const statuses = {
      stat: await six(() => send('GET', '/stat/')),
      list: await six(() => send('GET', '/list/')),
      put: await six((i) => send('PUT', `/files/put${i}`, { 'content-type': 'application/octet-stream' }, `content ${i}`)),
      mkdir: await six((i) => send('POST', `/dirs/d${i}`, { 'content-type': 'application/json' }, '{}')),
      create: await six((i) => send('PUT', `/files/new${i}`, { 'content-type': 'application/octet-stream', 'if-none-match': '*' }, `new ${i}`)),
    };
    const count = (kind: string): number => seen.filter((k) => k === kind).length;
    // Idempotent: the failing server saw some of them, the client never noticed.
    assert.deepEqual(statuses.stat, [200, 200, 200, 200, 200, 200]);
    assert.ok(count('GET stat') >= 1, `some stats met the 503 first: ${seen.join(', ')}`);
    assert.deepEqual(statuses.list, [200, 200, 200, 200, 200, 200]);
    assert.ok(count('GET list') >= 1, `some listings met a server that died mid-request: ${seen.join(', ')}`);
    assert.deepEqual(statuses.put, [200, 200, 200, 200, 200, 200]);
    assert.ok(count('PUT files') >= 1, `some whole-file PUTs met the 503 first: ${seen.join(', ')}`);
    // Not idempotent: each reached the failing server at most once and its 503 came back as is.
    assert.ok(count('POST dirs') >= 1, `some mkdirs landed on the failing server: ${seen.join(', ')}`);
    assert.equal(statuses.mkdir.filter((s) => s === 503).length, count('POST dirs'), 'a mkdir answered 503 is not sent again');
    assert.equal(statuses.mkdir.filter((s) => s === 201).length, 6 - count('POST dirs'));
    assert.ok(count('PUT files exclusive') >= 1, `some exclusive creates landed on the failing server: ${seen.join(', ')}`);
    assert.equal(statuses.create.filter((s) => s === 503).length, count('PUT files exclusive'), 'an exclusive create answered 503 is not sent again');
  } finally {
    await lb?.stop();
    await server.cleanup();
    failing.closeAllConnections();
    failing.close();
    await tmp.remove();
  }
});
