import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { EXTENTS_CONTENT_TYPE, encodeExtentHeader, etagOf } from '../../common/api.js';
import type { ApiClient } from '../../mount/remote/api-client.js';
import { waitForLog } from '../helpers/logs.js';
import { rawRequest } from '../helpers/raw-http.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import type { TestServer } from '../helpers/server-process.js';

let server: TestServer;
let alice: ApiClient;
let bob: ApiClient;

before(async () => {
  ({ server, clients: [alice, bob] } = await startServerWithClients(['alice', 'bob']));
});

after(() => stopServerAndClients(server, [alice, bob]));

const T = { timeout: 30_000 };

test('health needs no auth; wrong password is 401; calls without a token are 401', T, async () => {
  const health = await request(`${server.url}/api/v1/health`);
  assert.equal(health.statusCode, 200);
  assert.equal(((await health.body.json()) as { status: string }).status, 'ok');
  const bad = await request(`${server.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'nope' }) });
  assert.equal(bad.statusCode, 401);
  assert.equal(((await bad.body.json()) as { code: string }).code, 'UNAUTHORIZED');
  const anon = await request(`${server.url}/api/v1/list/`);
  assert.equal(anon.statusCode, 401);
  await anon.body.dump();
});

test('write, read, range, preview, stat, list', T, async () => {
  const content = Buffer.from('0123456789'.repeat(200));
  const attr = await alice.upload('a b.txt', () => content);
  assert.equal(attr.size, 2000);
  assert.equal(attr.type, 'file');
  assert.deepEqual(await alice.read('a b.txt', 0, 2000), content);
  assert.equal((await alice.read('a b.txt', 1995, 100)).toString(), '56789');
  assert.equal((await alice.read('a b.txt', 5000, 10)).length, 0, 'past EOF reads nothing');
  const preview = await alice.preview('a b.txt');
  assert.equal(preview.length, 1024);
  assert.deepEqual(preview, content.subarray(0, 1024));
  const ranged = await request(`${server.url}/api/v1/files/a%20b.txt`, { headers: { authorization: `Bearer ${alice.getToken()!}`, range: 'bytes=10-19' } });
  assert.equal(ranged.statusCode, 206);
  assert.equal(ranged.headers['content-range'], 'bytes 10-19/2000');
  assert.equal(await ranged.body.text(), '0123456789');
  const listing = await alice.list('/');
  const entry = listing.entries.find((e) => e.name === 'a b.txt');
  assert.equal(entry?.size, 2000);
  assert.equal(entry?.mode, 0o644);
  assert.equal((await alice.stat('/')).type, 'dir');
});

test('mode and mtime on upload; setAttr truncates, chmods, sets times', T, async () => {
  const attr = await alice.upload('m.txt', () => 'hello world', { mode: 0o600, mtime: 1_600_000_000_000 });
  assert.equal(attr.mode, 0o600);
  assert.equal(Math.round(attr.mtime), 1_600_000_000_000);
  const t = await alice.setAttr('m.txt', { size: 5, mode: 0o640, mtime: 1_500_000_000_500 });
  assert.equal(t.size, 5);
  assert.equal(t.mode, 0o640);
  assert.equal(Math.round(t.mtime), 1_500_000_000_500);
  assert.equal((await alice.read('m.txt', 0, 100)).toString(), 'hello');
  const grown = await alice.setAttr('m.txt', { size: 8 });
  assert.equal(grown.size, 8);
  assert.deepEqual(await alice.read('m.txt', 0, 100), Buffer.from('hello\0\0\0'));
});

test('exclusive create gives EEXIST; a directory cannot be overwritten', T, async () => {
  await alice.upload('x.txt', () => 'one', { exclusive: true });
  await rejectsWith(alice.upload('x.txt', () => 'two', { exclusive: true }), 'EEXIST');
  assert.equal((await alice.read('x.txt', 0, 10)).toString(), 'one');
  await alice.mkdir('adir');
  await rejectsWith(alice.upload('adir', () => 'x'), 'EISDIR');
  await rejectsWith(alice.upload('missing/x.txt', () => 'x'), 'ENOENT');
  await rejectsWith(alice.upload('x.txt/y', () => 'x'), 'ENOTDIR');
});

test('PATCH applies extents atomically and truncates to ?size', T, async () => {
  await alice.upload('p.bin', () => Buffer.alloc(100, 0x61));
  const body = Buffer.concat([encodeExtentHeader(10, 3), Buffer.from('XYZ'), encodeExtentHeader(120, 2), Buffer.from('QQ')]);
  const attr = await alice.patch('p.bin', () => body, { size: 130 });
  assert.equal(attr.size, 130);
  const data = await alice.read('p.bin', 0, 200);
  assert.equal(data.subarray(8, 14).toString(), 'aaXYZa');
  assert.deepEqual(data.subarray(100, 120), Buffer.alloc(20));
  assert.equal(data.subarray(120, 122).toString(), 'QQ');
  const res = await request(`${server.url}/api/v1/files/p.bin?offset=0`, { method: 'PATCH', headers: { authorization: `Bearer ${alice.getToken()!}`, 'content-type': 'application/octet-stream' }, body: 'bb' });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal((await alice.read('p.bin', 0, 3)).toString(), 'bba');
  const bad = await request(`${server.url}/api/v1/files/p.bin`, { method: 'PATCH', headers: { authorization: `Bearer ${alice.getToken()!}`, 'content-type': EXTENTS_CONTENT_TYPE }, body: Buffer.from([1, 2, 3]) });
  assert.equal(bad.statusCode, 400);
  await bad.body.dump();
  assert.equal((await alice.stat('p.bin')).size, 130, 'a malformed patch changes nothing');
  await rejectsWith(alice.patch('nothere.bin', () => body), 'ENOENT');
});

test('PUT of extents with ?size stores a sparse file atomically; an extent past the size or no size is refused', T, async () => {
  const size = 64 * 1024 * 1024;
  const body = Buffer.concat([encodeExtentHeader(5, 3), Buffer.from('abc'), encodeExtentHeader(size - 2, 2), Buffer.from('yz')]);
  const attr = await alice.upload('sparse.bin', () => body, { sparseSize: size });
  assert.equal(attr.size, size);
  assert.equal((await alice.read('sparse.bin', 0, 10)).toString('latin1'), '\0\0\0\0\0abc\0\0');
  assert.equal((await alice.read('sparse.bin', size - 4, 4)).toString('latin1'), '\0\0yz');
  assert.ok((await stat(join(server.storage, 'alice', 'sparse.bin'))).blocks * 512 < 1024 * 1024, 'the holes take no space');
  const put = (query: string, data: Buffer): Promise<number> => request(`${server.url}/api/v1/files/sparse.bin${query}`, { method: 'PUT', headers: { authorization: `Bearer ${alice.getToken()!}`, 'content-type': EXTENTS_CONTENT_TYPE }, body: data })
    .then(async (res) => { await res.body.dump(); return res.statusCode; });
  assert.equal(await put('?size=4', body), 400, 'an extent past the size');
  assert.equal(await put('', body), 400, 'no size');
  assert.equal((await alice.stat('sparse.bin')).size, size, 'a refused upload changes nothing');
  await alice.unlink('sparse.bin');
});

test('two patches based on one version, sent at once: one lands, the other is CHANGED, never both answered 200', T, async () => {
  const size = 32 * 1024 * 1024;
  await alice.upload('shared.bin', () => Buffer.alloc(size, 0x2e), { length: size });
  for (let round = 0; round < 3; round++) {
    const version = await alice.stat('shared.bin');
    const patchAt = (offset: number, byte: number): Promise<string> => alice.patch('shared.bin', () => Buffer.concat([encodeExtentHeader(offset, 4), Buffer.alloc(4, byte)]), { sync: true, version: etagOf(version) })
      .then(() => 'ok', (err: { code?: string }) => String(err.code));
    const [a, b] = await Promise.all([patchAt(0, 0x41), patchAt(size - 4, 0x42)]);
    assert.deepEqual([a, b].sort(), ['CHANGED', 'ok'], `round ${round}: ${a}, ${b}`);
    const head = (await alice.read('shared.bin', 0, 4)).toString();
    const tail = (await alice.read('shared.bin', size - 4, 4)).toString();
    assert.equal(a === 'ok' ? head : tail, a === 'ok' ? 'AAAA' : 'BBBB', 'the one answered 200 is in the file');
    await alice.upload('shared.bin', () => Buffer.alloc(size, 0x2e), { length: size });
  }
});

test('patches of a file being chmodded all land (a chmod is no new content), and the last chmod stays', T, async () => {
  const size = 32 * 1024 * 1024;
  await alice.upload('moded.bin', () => Buffer.alloc(size, 0x2e), { length: size });
  let version = etagOf(await alice.stat('moded.bin'));
  const modes = [0o600, 0o640];
  let chmods = 0;
  let stop = false;
  // Another program's chmod -R, meanwhile: many land while each patch copies the file.
  const chmodding = (async () => {
    while (!stop) await alice.setAttr('moded.bin', { mode: modes[chmods++ % 2]! });
  })();
  try {
    for (let i = 0; i < 4; i++) {
      const attr = await alice.patch('moded.bin', () => Buffer.concat([encodeExtentHeader(i * 4, 4), Buffer.from('PPPP')]), { version });
      version = etagOf(attr);
    }
  } finally {
    stop = true;
    await chmodding;
  }
  assert.equal((await alice.read('moded.bin', 0, 17)).toString(), `${'PPPP'.repeat(4)}.`, 'every patch landed');
  assert.equal((await alice.stat('moded.bin')).mode, modes[(chmods - 1) % 2], 'the last chmod stays');
  await alice.unlink('moded.bin');
});

test('mkdir, rmdir, unlink, rename with replace and no-replace', T, async () => {
  await alice.mkdir('d1');
  await rejectsWith(alice.mkdir('d1'), 'EEXIST');
  await alice.mkdir('d2/e/f', { parents: true });
  await alice.mkdir('d2/e/f', { parents: true });
  await rejectsWith(alice.mkdir('nope/x'), 'ENOENT');
  await alice.upload('d1/f.txt', () => 'f');
  await rejectsWith(alice.rmdir('d1'), 'ENOTEMPTY');
  await rejectsWith(alice.unlink('d1'), 'EISDIR');
  await rejectsWith(alice.rmdir('d1/f.txt'), 'ENOTDIR');
  const put = await alice.upload('d1/g.txt', () => 'g');
  assert.deepEqual(put, await alice.stat('d1/g.txt'), 'an upload answers with the attributes a stat gives after it');
  const moved = await alice.rename('d1/f.txt', 'd1/g.txt');
  assert.deepEqual(moved, await alice.stat('d1/g.txt'), 'a rename answers with the moved entry as it now is (ctime included)');
  const { attr: opened } = await alice.readFirst('d1/g.txt', 10);
  assert.deepEqual({ ...opened, atime: 0 }, { ...moved, atime: 0 }, 'a read carries the same attributes');
  assert.equal((await alice.read('d1/g.txt', 0, 10)).toString(), 'f');
  await rejectsWith(alice.stat('d1/f.txt'), 'ENOENT');
  await alice.upload('d1/h.txt', () => 'h');
  await rejectsWith(alice.rename('d1/h.txt', 'd1/g.txt', { noReplace: true }), 'EEXIST');
  await alice.rename('d1', 'd3');
  assert.deepEqual((await alice.list('d3')).entries.map((e) => e.name).sort(), ['g.txt', 'h.txt']);
  await alice.unlink('d3/g.txt');
  await rejectsWith(alice.unlink('d3/g.txt'), 'ENOENT');
  await alice.rmdir('d3', { recursive: true });
  await rejectsWith(alice.stat('d3'), 'ENOENT');
  await alice.rmdir('d2/e/f');
  await rejectsWith(alice.rmdir('/'), 'EACCES');
});

test('two users are isolated', T, async () => {
  await alice.upload('secret.txt', () => 'alice only');
  await rejectsWith(bob.stat('secret.txt'), 'ENOENT');
  await rejectsWith(bob.read('secret.txt', 0, 10), 'ENOENT');
  assert.equal((await bob.list('/')).entries.some((e) => e.name === 'secret.txt'), false);
  await bob.upload('secret.txt', () => 'bob');
  assert.equal((await alice.read('secret.txt', 0, 100)).toString(), 'alice only');
});

test('traversal through raw requests is refused and leaks no server path', T, async () => {
  const auth = { authorization: `Bearer ${alice.getToken()!}` };
  for (const path of ['/api/v1/files/../../../etc/passwd', '/api/v1/files/%2e%2e/%2e%2e/etc/passwd', '/api/v1/files/%252e%252e/x',
    '/api/v1/list/..', '/api/v1/files/..%2f..%2fetc%2fpasswd', '/api/v1/files/a%5c..%5c..%5cb', '/api/v1/files/x%00y', '/api/v1/files//etc/passwd']) {
    const res = await rawRequest(server.url, 'GET', path, auth);
    assert.ok(res.status === 400 || res.status === 404, `${path} → ${res.status}`);
    assert.doesNotMatch(res.body, /root:|\/tmp\/|rdrive-server-/, path);
  }
  const bobView = await rawRequest(server.url, 'GET', '/api/v1/files/../bob/secret.txt', auth);
  assert.equal(bobView.status, 400);
  const long = await rawRequest(server.url, 'GET', `/api/v1/files/${'a'.repeat(300)}`, auth);
  assert.equal(JSON.parse(long.body).code, 'ENAMETOOLONG');
});

test('symlinks planted in storage that lead outside are refused with ELOOP, never followed', T, async () => {
  const root = join(server.storage, 'alice');
  await mkdir(join(server.dir, 'outside'), { recursive: true });
  await writeFile(join(server.dir, 'outside', 'loot.txt'), 'outside secret');
  await symlink(join(server.dir, 'outside'), join(root, 'escape'));
  await symlink(join(server.dir, 'outside', 'loot.txt'), join(root, 'loot-link'));
  await symlink(join(server.dir, 'outside', 'new.txt'), join(root, 'dangling'));
  await rejectsWith(alice.read('escape/loot.txt', 0, 100), 'ELOOP');
  await rejectsWith(alice.read('loot-link', 0, 100), 'ELOOP');
  await rejectsWith(alice.list('escape'), 'ELOOP');
  await rejectsWith(alice.upload('escape/new.txt', () => 'x'), 'ELOOP');
  await rejectsWith(alice.setAttr('dangling', { size: 0 }), 'ELOOP');
  assert.equal((await alice.list('/')).entries.some((e) => e.name === 'escape' || e.name === 'loot-link'), false);
  assert.deepEqual((await readdir(join(server.dir, 'outside'))).sort(), ['loot.txt']);
  assert.equal(await readFile(join(server.dir, 'outside', 'loot.txt'), 'utf8'), 'outside secret');
});

test('statfs reports space; logs hold requests but never passwords or tokens', T, async () => {
  const fs = await alice.statfs();
  assert.ok(fs.total > 0 && fs.free > 0 && fs.free <= fs.total);
  const log = await waitForLog(join(server.logs, 'server.log'), /"route":"\/api\/v1\/statfs"/);
  assert.match(log, /"route":"\/api\/v1\/list\/"/);
  assert.match(log, /"msg":"login"/);
  assert.doesNotMatch(log, /alice-pass|bob-pass/);
  const lines = log.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  // The one wrong password of the first test is one line, at warn, naming the user.
  const sessionLines = lines.filter((l) => l.route === '/api/v1/session' && l.status === 401);
  assert.deepEqual(sessionLines.map((l) => [l.msg, l.level, l.user]), [['login failed', 40, 'alice']]);
  // Request lines carry the error code and the bytes each way; routine 404s stay out of info.
  const eexist = lines.find((l) => l.msg === 'request' && l.code === 'EEXIST');
  assert.ok(eexist !== undefined && Number(eexist.bytesIn) > 0 && Number(eexist.bytesOut) > 0, JSON.stringify(eexist));
  assert.equal(lines.some((l) => l.status === 404), false, '404 lines are debug');
  assert.equal(log.includes(alice.getToken()!), false);
});

test('unknown routes are clear errors', T, async () => {
  const res = await request(`${server.url}/api/v1/nope`, { headers: { authorization: `Bearer ${alice.getToken()!}` } });
  assert.equal(res.statusCode, 501);
  assert.equal(((await res.body.json()) as { code: string }).code, 'ENOSYS');
});

test('a large file removed, replaced by a small upload or renamed over: gone, nothing left beside', T, async () => {
  // Over 1 MiB: these take the server's off-event-loop paths (freeing a big file takes time).
  const big = (): Buffer => Buffer.alloc(3 * 1024 * 1024, 0x42);
  const stored = (name: string): string => join(server.storage, 'alice', name);

  await alice.upload('big-removed.bin', big, { length: 3 * 1024 * 1024 });
  await alice.unlink('big-removed.bin');
  await rejectsWith(alice.stat('big-removed.bin'), 'ENOENT');

  await alice.upload('big-replaced.bin', big, { length: 3 * 1024 * 1024 });
  const small = await alice.upload('big-replaced.bin', () => Buffer.from('now small'), { length: 9 });
  assert.equal(small.size, 9);
  assert.equal(await readFile(stored('big-replaced.bin'), 'utf8'), 'now small');

  await alice.upload('big-target.bin', big, { length: 3 * 1024 * 1024 });
  await alice.upload('mover.txt', () => Buffer.from('moved in'), { length: 8 });
  const moved = await alice.rename('mover.txt', 'big-target.bin');
  assert.equal(moved.size, 8);
  assert.equal(await readFile(stored('big-target.bin'), 'utf8'), 'moved in');
  await rejectsWith(alice.stat('mover.txt'), 'ENOENT');
  const left = (await readdir(join(server.storage, 'alice'))).filter((n) => n.includes('big-') || n.includes('mover'));
  assert.deepEqual(left.sort(), ['big-replaced.bin', 'big-target.bin'], 'no temp file, no old copy');
});

test('every change of a folder\'s entries answers with that folder\'s times as stored after it; a failed one says they are unknown', T, async () => {
  const seen: Array<[string, { mtime: number; ctime: number } | undefined]> = [];
  alice.onFolderTimes = (dir, times) => seen.push([dir, times]);
  const stored = async (dir: string): Promise<{ mtime: number; ctime: number }> => {
    const st = await stat(join(server.storage, 'alice', dir));
    return { mtime: st.mtimeMs, ctime: st.ctimeMs };
  };
  const expectTimes = async (what: string, dirs: Array<[string, string]>): Promise<void> => {
    const want = await Promise.all(dirs.map(async ([mount, disk]) => [mount, await stored(disk)]));
    assert.deepEqual(seen.splice(0), want, what);
  };
  try {
    await alice.mkdir('ft');
    await expectTimes('mkdir', [['/', '']]);
    await alice.mkdir('ft/sub');
    await expectTimes('mkdir in a folder', [['/ft', 'ft']]);
    await alice.upload('ft/f', () => 'one');
    await expectTimes('upload', [['/ft', 'ft']]);
    await alice.patch('ft/f', () => Buffer.concat([encodeExtentHeader(0, 1), Buffer.from('O')]));
    await expectTimes('patch', [['/ft', 'ft']]);
    await alice.symlink('ft/l', 'f');
    await expectTimes('symlink', [['/ft', 'ft']]);
    await alice.mknod('ft/p', { type: 'fifo', mode: 0o644 });
    await expectTimes('mknod', [['/ft', 'ft']]);
    // A stored node's record is rewritten and renamed over it: the folder changes.
    await alice.setAttr('ft/p', { mode: 0o600 });
    await expectTimes('chmod of a node', [['/ft', 'ft']]);
    await alice.rename('ft/f', 'ft/sub/g');
    await expectTimes('rename across folders', [['/ft/sub', 'ft/sub'], ['/ft', 'ft']]);
    await alice.rename('ft/sub/g', 'ft/sub/h');
    await expectTimes('rename within a folder', [['/ft/sub', 'ft/sub'], ['/ft/sub', 'ft/sub']]);
    await alice.unlink('ft/sub/h');
    await expectTimes('unlink', [['/ft/sub', 'ft/sub']]);
    await alice.rmdir('ft/sub');
    await expectTimes('rmdir', [['/ft', 'ft']]);
    await rejectsWith(alice.upload('ft/p', () => 'x', { exclusive: true }), 'EEXIST');
    assert.deepEqual(seen.splice(0), [['/ft', undefined]], 'a refused change: the folder\'s times are unknown');
  } finally {
    alice.onFolderTimes = undefined;
  }
});
