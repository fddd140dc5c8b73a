import assert from 'node:assert/strict';
import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { tempFileName, tempFileOwner } from '../../server/storage/temp-files.js';
import { waitForLog } from '../helpers/logs.js';
import { startRedis, type TestRedis } from '../helpers/redis-process.js';
import { sharedStorage, type TestServer, startServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// Servers sharing one storage (--redis) remove the temp files of a server that is gone, and
// never one a live server is writing, however long it has been idle. Real redis-server and
// rdrive-server processes; the temp files are real uploads or files named as a server names them.

const T = { timeout: 120_000 };
const USERS = { alice: 'alice-pass' };
const DEAD = '4000000-deadbeef';
const HOUR_AGO = new Date(Date.now() - 2 * 60 * 60_000);

test('temp file names carry their server', () => {
  const name = tempFileName('report.pdf', '123-0a1b2c3d');
  assert.equal(tempFileOwner(name), '123-0a1b2c3d');
  assert.match(name, /^\.rdrive-tmp-123-0a1b2c3d\.[0-9a-f]{12}-report\.pdf$/);
  assert.equal(tempFileOwner('.rdrive-tmp-0123456789abcdef-report.pdf'), undefined, 'a name from an older version has no owner');
  const many = Array.from({ length: 1000 }, () => tempFileName('report.pdf'));
  assert.equal(new Set(many).size, many.length, 'uploads of one name at once each get their own temp file');
});

async function instanceOf(server: TestServer): Promise<string> {
  const log = await waitForLog(join(server.logs, 'server.log'), /"msg":"server listening"/);
  const m = /"instance":"([^"]+)"/.exec(log);
  assert.ok(m !== null, 'the server logs its instance at start');
  return m[1]!;
}

test('a killed server\'s temp files are swept by the others; a live server\'s stalled upload is not', T, async () => {
  const tmp = await makeTempDir('rdrive-sweep-');
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  const body = new PassThrough();
  try {
    redis = await startRedis();
    const shared = await sharedStorage(tmp.path, redis.url, USERS);
    const { storage } = shared;
    const args = [...shared.args, '--temp-sweep-interval', '1'];
    const writer = await startServer({ args });
    servers.push(writer);
    const writerInstance = await instanceOf(writer);
    const folder = join(storage, 'alice');
    const names = async (): Promise<string[]> => (await readdir(folder)).sort();

    // An upload on `writer` that stalls half-way, its temp file made to look untouched for hours.
    const login = await request(`${writer.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
    const { token } = (await login.body.json()) as { token: string };
    const upload = request(`${writer.url}/api/v1/files/big.bin`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body });
    upload.catch(() => undefined); // a failure below must report itself, not this request's abort
    body.write(Buffer.alloc(2 * 1024 * 1024, 1));
    const inProgress = (await waitFor(names, (n) => n.some((x) => tempFileOwner(x) === writerInstance), 10_000)).find((x) => tempFileOwner(x) === writerInstance);
    assert.ok(inProgress !== undefined, 'the upload has its temp file');
    await utimes(join(folder, inProgress), HOUR_AGO, HOUR_AGO);

    // Leftovers: of a dead server (old, and just written), and one named by an older version.
    const deadOld = tempFileName('a', DEAD);
    const deadFresh = tempFileName('b', DEAD);
    const legacyOld = '.rdrive-tmp-0123456789abcdef-c';
    for (const n of [deadOld, deadFresh, legacyOld]) await writeFile(join(folder, n), 'partial');
    await utimes(join(folder, deadOld), HOUR_AGO, HOUR_AGO);
    await utimes(join(folder, legacyOld), HOUR_AGO, HOUR_AGO);

    // A second server on the same storage sweeps at start and then every second.
    const sweeper = await startServer({ args });
    servers.push(sweeper);
    const afterStart = await waitFor(names, (n) => !n.includes(deadOld) && !n.includes(legacyOld), 10_000);
    assert.ok(!afterStart.includes(deadOld), 'a dead server\'s old temp file is removed');
    assert.ok(!afterStart.includes(legacyOld), 'an old temp file from an older version is removed');
    assert.ok(afterStart.includes(deadFresh), 'a dead server\'s recent temp file stays (for now)');
    assert.ok(afterStart.includes(inProgress), 'a live server\'s upload stays, however long it has been idle');

    // Periodic: a new leftover of a dead server goes at a later sweep; the stalled upload still stays.
    const later = tempFileName('d', DEAD);
    await writeFile(join(folder, later), 'partial');
    await utimes(join(folder, later), HOUR_AGO, HOUR_AGO);
    const swept = await waitFor(names, (n) => !n.includes(later), 10_000);
    assert.ok(!swept.includes(later), 'removed by a periodic sweep');
    assert.ok(swept.includes(inProgress), 'the stalled upload of the live server is still there');

    // The upload resumes and lands whole.
    body.end(Buffer.alloc(1024 * 1024, 2));
    const res = await upload;
    assert.equal(res.statusCode, 200, await res.body.text());
    const stored = await readFile(join(folder, 'big.bin'));
    assert.equal(stored.length, 3 * 1024 * 1024);

    // Killed mid-upload, the writer leaves a temp file; once its heartbeat lapses the other sweeps it.
    const second = new PassThrough();
    void request(`${writer.url}/api/v1/files/cut.bin`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: second }).catch(() => undefined);
    second.write(Buffer.alloc(1024 * 1024, 3));
    const orphan = (await waitFor(names, (n) => n.some((x) => tempFileOwner(x) === writerInstance), 10_000)).find((x) => tempFileOwner(x) === writerInstance);
    assert.ok(orphan !== undefined);
    await writer.stop('SIGKILL');
    second.destroy();
    await utimes(join(folder, orphan), HOUR_AGO, HOUR_AGO);
    const gone = await waitFor(names, (n) => !n.includes(orphan), 30_000, 250);
    assert.ok(!gone.includes(orphan), `the killed server's temp file is swept once its heartbeat lapsed: ${gone.join(' ')}`);
    assert.deepEqual(gone.filter((n) => !n.startsWith('.rdrive-tmp-')), ['big.bin'], 'no visible file was touched');
  } finally {
    body.destroy();
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await redis?.cleanup();
    await tmp.remove();
  }
});
