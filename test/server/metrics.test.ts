import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { routeLabel } from '../../server/http/metrics.js';
import { waitForLog } from '../helpers/logs.js';
import { SERVER_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

const T = { timeout: 60_000 };
let server: TestServer;
let metricsUrl: string;
const API = '/api/v1';

before(async () => {
  server = await startServer({ args: ['--metrics-port', '0', '--max-clients', '1'] });
  const log = await waitForLog(join(server.logs, 'server.log'), /"msg":"metrics listening"/, 1, 10_000);
  const url = /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(log);
  assert.ok(url !== null, `no metrics url in the log: ${log.slice(-500)}`);
  metricsUrl = url[1]!;
});

after(async () => {
  await server?.cleanup();
});

/** Parses the Prometheus text format: `name{label="v",...} value` lines; comments skipped. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    assert.ok(match !== null, `not a sample line: ${line}`);
    samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return samples;
}

async function scrape(): Promise<{ text: string; samples: Map<string, number> }> {
  const res = await fetch(metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, samples: parseExposition(text) };
}

const value = (samples: Map<string, number>, key: string): number => samples.get(key) ?? 0;

async function login(password: string): Promise<Response> {
  return fetch(`${server.url}${API}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password }) });
}

test('route labels are names from a fixed list, never a file path', () => {
  assert.equal(routeLabel('/files/holiday/secret-plan.txt'), 'files');
  assert.equal(routeLabel('/list'), 'list');
  assert.equal(routeLabel('/evil-name.txt'), 'other');
});

test('scraped counters move with traffic; no file name or token appears', T, async () => {
  const before = (await scrape()).samples;
  assert.equal(value(before, 'rdrive_sessions_max'), 1);

  assert.equal((await login('wrong-password')).status, 401);
  const ok = await login('alice-pass');
  assert.equal(ok.status, 201);
  const { token } = (await ok.json()) as { token: string };
  assert.equal((await login('alice-pass')).status, 503, 'a second session exceeds --max-clients 1');
  const auth = { authorization: `Bearer ${token}` };
  const body = 'x'.repeat(10_000);
  const put = await fetch(`${server.url}${API}/files/secret-plan.txt`, { method: 'PUT', headers: auth, body });
  assert.equal(put.ok, true);
  const got = await fetch(`${server.url}${API}/files/secret-plan.txt`, { headers: auth });
  assert.equal((await got.text()).length, 10_000);

  const { text, samples } = await scrape();
  assert.equal(value(samples, 'rdrive_logins_failed_total') - value(before, 'rdrive_logins_failed_total'), 1);
  assert.equal(value(samples, 'rdrive_rejections_total{status="503"}') - value(before, 'rdrive_rejections_total{status="503"}'), 1);
  assert.equal(value(samples, 'rdrive_sessions_active'), 1);
  assert.equal(value(samples, `rdrive_http_requests_total{method="PUT",route="files",status="${put.status}"}`), 1);
  assert.equal(value(samples, 'rdrive_http_requests_total{method="GET",route="files",status="200"}'), 1);
  assert.equal(value(samples, 'rdrive_http_requests_total{method="POST",route="session",status="201"}'), 1);
  assert.ok(value(samples, 'rdrive_http_received_bytes_total') - value(before, 'rdrive_http_received_bytes_total') >= 10_000, 'upload counted in');
  assert.ok(value(samples, 'rdrive_http_sent_bytes_total') - value(before, 'rdrive_http_sent_bytes_total') >= 10_000, 'download counted out');
  assert.ok(value(samples, 'rdrive_http_request_duration_seconds_count{method="PUT",route="files"}') >= 1);
  assert.ok(value(samples, 'rdrive_http_request_duration_seconds_bucket{le="+Inf",method="PUT",route="files"}') >= 1);
  assert.ok(value(samples, 'rdrive_storage_used_bytes{user="alice"}') >= 10_000, 'storage used per user');
  assert.equal(samples.get('rdrive_http_requests_in_flight'), 0, 'in flight: none while scraping (the scrape has its own listener)');
  assert.ok(!text.includes('secret-plan') && !text.includes(token), 'no file name or token');
});

test('off by default; loopback only; other paths 404', T, async () => {
  assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:/);
  assert.equal((await fetch(metricsUrl.replace('/metrics', '/other'))).status, 404);
  const plain = await startServer();
  try {
    const log = await waitForLog(join(plain.logs, 'server.log'), /server listening/, 1, 10_000);
    assert.doesNotMatch(log, /metrics listening/);
  } finally {
    await plain.cleanup();
  }
});

test('a --metrics-port in use: the server says so, naming that option, and exits', T, async () => {
  const busy = createServer();
  await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
  const tmp = await makeTempDir('rdrive-metrics-');
  try {
    const port = (busy.address() as AddressInfo).port;
    const args = ['--port', '0', '--metrics-port', String(port), '--storage', join(tmp.path, 'st'), '--users', join(tmp.path, 'u.txt'), '--logs', join(tmp.path, 'logs')];
    const res = await new Promise<{ code: number | string | undefined; stderr: string }>((done) => {
      execFile(process.execPath, [SERVER_BIN, ...args], { timeout: 15_000 }, (err, _stdout, stderr) => done({ code: err?.code ?? 0, stderr }));
    });
    assert.equal(res.code, 1, 'exits by itself (a timeout would kill it with no code)');
    assert.equal(res.stderr, `rdrive-server: --metrics-port ${port}: 127.0.0.1:${port} is in use; pick another --metrics-port or stop the other program\n`);
  } finally {
    busy.close();
    await tmp.remove();
  }
});
