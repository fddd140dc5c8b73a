import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { routeOf, sendJson, startHostileServer, type HostileServer } from '../helpers/hostile-server.js';
import { waitForLog } from '../helpers/logs.js';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/**
 * The mount against a server that answers badly (a wrong server at the URL, a broken proxy, a
 * man in the middle on plain http): whatever comes back, a call fails with a clean errno within
 * a bound and the daemon logs it, nothing made up reaches the kernel or the caches, and once
 * the answers are right again the mount works as before.
 */
let server: TestServer;
let hostile: HostileServer;
let mount: TestMount;
const T = { timeout: 90_000 };
/** The mount's --timeout, seconds. */
const TIMEOUT_S = 3;
/** Longest a failing call may take: the timeout, a retry and the machine's load. */
const BOUND_MS = 20_000;
const big = randomBytes(4 * 1024 * 1024 + 1000);

before(async () => {
  server = await startServer({ args: ['--read-lease', '5000'] });
  const alice = join(server.storage, 'alice');
  await mkdir(join(alice, 'dir', 'sub'), { recursive: true });
  await writeFile(join(alice, 'dir', 'a.txt'), 'content of a\n');
  await writeFile(join(alice, 'dir', 'b.txt'), 'content of b\n');
  await mkdir(join(alice, 'walk', 'sub'), { recursive: true });
  for (const name of ['a.txt', 'b.txt']) await writeFile(join(alice, 'walk', name), `walk's ${name}\n`);
  await writeFile(join(alice, 'walk', 'sub', 'x.txt'), 'the real x\n');
  // Files each opened by one test only, one a folder (no folder read brings them): no head of
  // theirs is cached or leased before.
  for (let i = 0; i < 8; i++) {
    await mkdir(join(alice, `solo${i}`));
    await writeFile(join(alice, `solo${i}`, 'n.txt'), `solo ${i}\n`);
  }
  await writeFile(join(alice, 'big.bin'), big);
  hostile = await startHostileServer(server.url);
  mount = await startMount(hostile.url, 'alice', 'alice-pass', ['--timeout', String(TIMEOUT_S), '--attr-timeout', '0']);
});

after(async () => {
  await mount?.cleanup();
  await hostile?.close();
  await server?.cleanup();
});

/** Once the answers are right again, the mount works: the daemon is up and serves real content. */
afterEach(async () => {
  hostile.set(undefined);
  assert.equal(mount.process.exitCode, null, `the daemon exited: ${mount.stderr()}`);
  assert.equal(await readFile(join(mount.path, 'dir', 'a.txt'), 'utf8'), 'content of a\n');
  assert.match(await ok(`ls ${mount.path}/dir`), /a\.txt\nb\.txt\nsub\n/);
});

/** Runs a shell command on the mount, which must end within BOUND_MS. */
async function bounded(command: string): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const res = await sh(command, { timeoutMs: BOUND_MS + 10_000 });
  const ms = Date.now() - started;
  assert.ok(ms < BOUND_MS, `"${command}" took ${ms} ms`);
  return { ...res, ms };
}

/** Answers `route` (GET) with `answer` instead of the server's. */
function onGet(route: RegExp, answer: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): void {
  hostile.set(async (req, res) => {
    if (req.method !== 'GET' || !route.test(routeOf(req.url ?? ''))) return false;
    await answer(req, res);
    return true;
  });
}

const attr = { type: 'file', size: 3, mtime: 1e12, atime: 1e12, ctime: 1e12, mode: 0o644 };

test('a listing with names no filesystem can hold: those entries are left out, the rest is listed, and it is logged', T, async () => {
  const names = ['good', 'a/b', '..', '.', '', 'nul\u0000x', 'n'.repeat(256), 'good', 'also-good'];
  onGet(/^\/list\/dir$/, (_req, res) => sendJson(res, 200, { entries: names.map((name) => ({ name, ...attr })) }));
  const res = await bounded(`ls -a ${mount.path}/dir`);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(res.stdout.split('\n').filter(Boolean), ['.', '..', 'also-good', 'good']);
  assert.match(await waitForLog(mount.logFile, /names the mount cannot show/), /names the mount cannot show/);
});

test('a listing of the wrong shape, or not JSON, fails with EIO and is logged', T, async () => {
  for (const body of ['[]', '{"entries":{}}', '{"entries":[{"name":"x"}]}', '{"entries":[', 'null', '<html>hello</html>']) {
    onGet(/^\/list\/dir$/, (_req, res) => sendJson(res, 200, body));
    const res = await bounded(`ls ${mount.path}/dir`);
    if (body === '{"entries":[{"name":"x"}]}') {
      // The entry without attributes is left out; the listing itself is fine.
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, '');
      continue;
    }
    assert.notEqual(res.code, 0, `${body}: ${res.stdout}`);
    assert.match(res.stderr, /Input\/output error/, body);
  }
  assert.match(await waitForLog(mount.logFile, /"level":(40|50).*"code":"EIO"/), /"level":(40|50).*"code":"EIO"/);
});

test('attributes out of range (negative, NaN, huge sizes, modes, times that are no numbers, ids, link counts) are refused, not shown', T, async () => {
  const bad = [
    { size: -1 }, { size: 2 ** 64 }, { size: 'NaN' }, { mode: 1e20 }, { mode: -1 }, { mtime: 'yesterday' }, { atime: null },
    { nlink: -5 }, { type: 'dir', nlink: 2 ** 40 }, { uid: -3 }, { type: 'device' }, { id: 'a"b\r\nx-evil: 1' }, { rdev: -1 }, { blocks: -1 },
  ];
  onGet(/^\/list\/dir$/, (_req, res) => sendJson(res, 200, { entries: bad.map((b, i) => ({ name: `f${i}`, ...attr, ...b })).concat([{ name: 'fine', ...attr }]) }));
  const res = await bounded(`ls ${mount.path}/dir`);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, 'fine\n');
  // Whether the mount asks the file's attributes alone or lists its folder for them.
  onGet(/^\/(stat\/dir\/a\.txt|list\/dir)$/, (req, res) =>
    sendJson(res, 200, routeOf(req.url ?? '').startsWith('/stat') ? { ...attr, size: -1 } : { entries: [{ name: 'a.txt', ...attr, size: -1 }] }));
  const stat = await bounded(`stat -c %s ${mount.path}/dir/a.txt`);
  assert.notEqual(stat.code, 0, stat.stdout);
  assert.match(stat.stderr, /Input\/output error/);
});

test('space figures that are no figures (negative, fractional, not numbers) fail df with EIO instead of showing made-up sizes', T, async () => {
  for (const figures of [{ total: -4096, free: -1, used: 0, blockSize: 4096 }, { total: 1e6, free: 'lots', used: 0, blockSize: 4096 }, { total: 1.5, free: 0, used: 0, blockSize: -1 }]) {
    onGet(/^\/statfs$/, (_req, res) => sendJson(res, 200, figures));
    // df asks each time (the mount keeps figures for a second).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const res = await bounded(`stat -f -c '%b %f %a' ${mount.path}`);
    assert.notEqual(res.code, 0, `${JSON.stringify(figures)}: ${res.stdout}`);
    assert.match(res.stderr, /Input\/output error/);
  }
});

test('a ranged read answered with the whole file (200), the wrong range or too many bytes fails with EIO, never wrong bytes', T, async () => {
  const wrongAnswers: Array<(req: IncomingMessage, res: ServerResponse) => void> = [
    // A server that ignores Range.
    (_req, res) => {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
    },
    // A range starting elsewhere than asked.
    (req, res) => {
      const [start, end] = rangeOf(req);
      const from = start === 0 ? 0 : start - 4096;
      res.writeHead(206, { 'content-range': `bytes ${from}-${from + end - start}/${big.length}` });
      res.end(big.subarray(from, from + end - start + 1));
    },
    // The right range, with more bytes than asked.
    (req, res) => {
      const [start, end] = rangeOf(req);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${big.length}` });
      res.end(Buffer.concat([big.subarray(start, end + 1), Buffer.alloc(8192, 7)]));
    },
    // Fewer bytes than its Content-Length, then the connection closed.
    (req, res) => {
      const [start, end] = rangeOf(req);
      res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${big.length}`, 'content-length': String(end - start + 1) });
      res.write(big.subarray(start, start + (end - start + 1) / 2));
      setTimeout(() => res.destroy(), 50);
    },
  ];
  for (const [i, wrong] of wrongAnswers.entries()) {
    // The head (bytes=0-) is served right; only reads further in are answered wrong.
    onGet(/^\/files\/big\.bin$/, (req, res) => {
      if (rangeOf(req)[0] === 0) return passOn(req, res);
      wrong(req, res);
      return undefined;
    });
    const res = await bounded(`cat ${mount.path}/big.bin | cmp - ${join(server.storage, 'alice', 'big.bin')}`);
    assert.doesNotMatch(res.stdout + res.stderr, /differ/, `answer ${i}: wrong bytes reached the reader`);
    assert.match(res.stderr, i === 3 ? /cat: .*: \S+/ : /Input\/output error/, `answer ${i}: ${res.stderr}`);
  }
});

test('a body that never ends, or an answer that never starts, fails within the timeout', T, async () => {
  const timers = new Set<NodeJS.Timeout>();
  onGet(/^\/list\/dir$/, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"entries":[');
    // A byte every second: never a pause as long as the timeout.
    const timer = setInterval(() => res.write(' '), 1000);
    timers.add(timer);
    res.on('close', () => clearInterval(timer));
  });
  const drip = await bounded(`ls ${mount.path}/dir`);
  assert.notEqual(drip.code, 0);
  assert.match(drip.stderr, /timed out|Input\/output error/);
  onGet(/./, () => undefined);
  const stall = await bounded(`stat ${mount.path}/solo7/n.txt`);
  assert.notEqual(stall.code, 0, stall.stdout);
  assert.match(stall.stderr, /timed out/);
  for (const t of timers) clearInterval(t);
});

test('a 304 (Not Modified) to an open that holds no copy fails with EIO instead of showing a file of zeros', T, async () => {
  onGet(/^\/files\/solo0\/n\.txt$/, (_req, res) => {
    res.writeHead(304, { 'x-rdrive-size': '13', 'x-rdrive-mtime': '1000000000000', etag: '"d-x"' });
    res.end();
  });
  const res = await bounded(`cat ${mount.path}/solo0/n.txt`);
  assert.ok(hostile.hits.get('GET /files/solo0/n.txt'), 'the 304 was sent');
  assert.notEqual(res.code, 0, JSON.stringify(res.stdout));
  assert.match(res.stderr, /Input\/output error/);
});

test('a head answer with a size, mode or id that is none fails with EIO', T, async () => {
  const wrong = [['x-rdrive-size', '-1'], ['x-rdrive-size', 'NaN'], ['x-rdrive-size', '1e300'], ['x-rdrive-size', '9007199254740993'], ['x-rdrive-mode', '99999999'], ['x-rdrive-id', 'NOT-AN-ID']];
  for (const [i, [header, value]] of wrong.entries()) {
    const what = `${header}: ${value}`;
    onGet(new RegExp(`^/files/solo${i + 1}/n\\.txt$`), async (req, res) => {
      const up = await passOnHeaders(req);
      res.writeHead(up.status, { ...up.headers, [header!]: value });
      res.end(up.body);
    });
    const res = await bounded(`cat ${mount.path}/solo${i + 1}/n.txt`);
    assert.ok(hostile.hits.get(`GET /files/solo${i + 1}/n.txt`), `${what}: the head was asked`);
    assert.notEqual(res.code, 0, `${what}: ${JSON.stringify(res.stdout)}`);
    assert.match(res.stderr, /Input\/output error/, what);
  }
});

test('a folder read (GET /heads) naming files outside the folder or with contents of another size is not cached', T, async () => {
  onGet(/^\/heads\/walk$/, (_req, res) => {
    const evil = Buffer.from('EVIL');
    const entries = [
      { name: 'sub/x.txt', ...attr, size: 4, etag: '"e"', length: 4 },
      { name: '../big.bin', ...attr, size: 4, etag: '"e"', length: 4 },
      { name: 'b.txt', ...attr, size: 13, etag: '"e"', length: 4 },
    ];
    res.writeHead(200, { 'content-type': 'application/vnd.rdrive.heads' });
    res.end(Buffer.concat([Buffer.from(`${JSON.stringify({ leaseMs: 60_000, more: false, entries })}\n`), evil, evil, evil]));
  });
  // A walker: lists the folder, then opens its files one after another.
  const res = await bounded(`ls ${mount.path}/walk >/dev/null && cat ${mount.path}/walk/a.txt ${mount.path}/walk/b.txt`);
  assert.ok((hostile.hits.get('GET /heads/walk') ?? 0) > 0, 'the folder read was asked');
  assert.doesNotMatch(res.stdout, /EVIL/);
  hostile.set(undefined);
  assert.equal(await readFile(join(mount.path, 'walk', 'sub', 'x.txt'), 'utf8'), 'the real x\n');
  assert.equal(await readFile(join(mount.path, 'walk', 'b.txt'), 'utf8'), 'walk\'s b.txt\n');
  assert.deepEqual(await readFile(join(mount.path, 'big.bin')), big);
});

test('a redirect is an error, and the session token does not go to the other host', T, async () => {
  const elsewhere: string[] = [];
  const other = createServer((req, res) => {
    elsewhere.push(String(req.headers.authorization));
    sendJson(res, 200, { entries: [] });
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const where = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    onGet(/^\/(list|stat|files)\//, (req, res) => {
      res.writeHead(302, { location: `${where}${req.url ?? '/'}` });
      res.end();
    });
    for (const command of [`ls ${mount.path}/dir`, `cat ${mount.path}/dir/a.txt`]) {
      const res = await bounded(command);
      assert.notEqual(res.code, 0, command);
      assert.match(res.stderr, /Input\/output error/, command);
    }
    assert.deepEqual(elsewhere, []);
  } finally {
    await new Promise<void>((resolve) => other.close(() => resolve()));
  }
});

test('a server that answers every call 401 and every login OK: no storm of logins', T, async () => {
  const loginsBefore = hostile.seen.get('POST /session') ?? 0;
  hostile.set((req, res) => {
    if (req.method === 'POST' && routeOf(req.url ?? '') === '/session') return false;
    sendJson(res, 401, { code: 'UNAUTHORIZED', message: 'Session expired' });
    return true;
  });
  for (let i = 0; i < 10; i++) {
    const res = await bounded(`stat ${mount.path}/dir/a.txt`);
    assert.notEqual(res.code, 0);
  }
  const logins = (hostile.seen.get('POST /session') ?? 0) - loginsBefore;
  assert.ok(logins <= 2, `${logins} logins for 10 calls`);
});

test('limits with huge or odd Retry-After, and error codes not in the table, fail at once with an errno', T, async () => {
  const answers: Array<[number, unknown, Record<string, string>]> = [
    [429, { code: 'RATE_LIMITED', message: 'slow down' }, { 'retry-after': '1000000000' }],
    [503, { code: 'UNAVAILABLE', message: 'down' }, { 'retry-after': '99999999999999999999' }],
    [503, { code: 'TOO_MANY_CLIENTS', message: 'full' }, { 'retry-after': 'NaN' }],
    [400, { code: 'ENOTANERRNO', message: 'x'.repeat(100_000) }, {}],
    [500, ['not', 'an', 'object'], {}],
  ];
  for (const [status, body, headers] of answers) {
    onGet(/./, (_req, res) => sendJson(res, status, body, headers));
    const res = await bounded(`stat ${mount.path}/dir/a.txt`);
    assert.notEqual(res.code, 0, String(status));
    assert.match(res.stderr, /stat: cannot statx?/, String(status));
  }
});

test('a listing far too big (1 GB) fails with EIO without the daemon running out of memory', T, async () => {
  onGet(/^\/list\/dir$/, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"entries":[');
    const entry = Buffer.from(`${JSON.stringify({ name: 'f', ...attr })},`.repeat(1000));
    let sent = 0;
    const more = (): void => {
      while (sent < 1024 ** 3) {
        sent += entry.length;
        if (!res.write(entry)) {
          res.once('drain', more);
          return;
        }
      }
      res.end('{}]}');
    };
    res.on('close', () => {
      sent = Number.POSITIVE_INFINITY;
    });
    more();
  });
  const res = await bounded(`ls ${mount.path}/dir`);
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /Input\/output error/);
  assert.match(await waitForLog(mount.logFile, /larger than \d+ bytes/), /larger than \d+ bytes/);
});

/** [start, end] of the request's Range header (bytes=a-b). */
function rangeOf(req: IncomingMessage): [number, number] {
  const match = /bytes=(\d+)-(\d*)/.exec(String(req.headers.range ?? ''));
  if (match === null) return [0, big.length - 1];
  return [Number(match[1]), match[2] === '' ? big.length - 1 : Math.min(Number(match[2]), big.length - 1)];
}

/** The real server's answer to `req` (a GET), read whole. */
async function passOnHeaders(req: IncomingMessage): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const res = await fetch(`${server.url}${req.url ?? '/'}`, { headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host').map(([k, v]) => [k, String(v)])) });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') headers[k] = v;
  });
  return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function passOn(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const up = await passOnHeaders(req);
  res.writeHead(up.status, up.headers);
  res.end(up.body);
}
