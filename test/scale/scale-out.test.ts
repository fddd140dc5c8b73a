import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { TEMP_PREFIX } from '../../server/storage/confine.js';
import { type TestMount, ok, sh, startMount } from '../helpers/mount-process.js';
import { startHaproxy, type TestHaproxy } from '../helpers/haproxy-process.js';
import { startRedis, type TestRedis } from '../helpers/redis-process.js';
import { type TestServer, startServer, writeUsersFile } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// Issue 13: three servers on one storage folder, state in Redis, HAProxy in front. Real parts:
// redis-server and haproxy from Debian, the servers and mounts as processes.
const T = { timeout: 150_000 };
const USERS = { alice: 'alice-pass', bob: 'bob-pass' };

async function login(url: string, user = 'alice', password = 'alice-pass'): Promise<{ status: number; token?: string }> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) });
  const body = (await res.body.json()) as { token?: string };
  return { status: res.statusCode, ...(body.token === undefined ? {} : { token: body.token }) };
}

async function call(url: string, token: string, path = '/stat/'): Promise<{ status: number; code?: string }> {
  const res = await request(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.body.json().catch(() => ({}))) as { code?: string };
  return { status: res.statusCode, ...(body.code === undefined ? {} : { code: body.code }) };
}

async function logout(url: string, token: string): Promise<void> {
  const res = await request(`${url}/api/v1/session`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  await res.body.dump();
}

/** How many logins the servers have logged so far (all three share nothing but the logs' shape). */
async function loginCount(servers: TestServer[]): Promise<number> {
  let n = 0;
  for (const s of servers) {
    const text = await readFile(join(s.logs, 'server.log'), 'utf8').catch(() => '');
    n += text.split('\n').filter((l) => l.includes('"msg":"login"')).length;
  }
  return n;
}

test('three servers behind HAProxy share sessions, limits and storage; a mount survives a server kill', T, async () => {
  const tmp = await makeTempDir('rdrive-scale-');
  let redis: TestRedis | undefined;
  const servers: TestServer[] = [];
  let lb: TestHaproxy | undefined;
  const mounts: TestMount[] = [];
  let step = 'start';
  try {
    redis = await startRedis();
    const storage = join(tmp.path, 'shared-storage');
    const usersFile = join(tmp.path, 'users.txt');
    await mkdir(storage);
    await writeUsersFile(usersFile, USERS);
    const args = ['--storage', storage, '--users', usersFile, '--redis', redis.url, '--max-clients', '5', '--idle-timeout', '10', '--login-attempts', '3', '--trust-proxy', 'loopback'];
    for (let i = 0; i < 3; i++) servers.push(await startServer({ args }));
    lb = await startHaproxy(servers.map((s) => `127.0.0.1:${s.port}`), tmp.path);

    // A token from one server works on every server.
    step = 'A token from one server works on every server.';
    const first = await login(lb.url);
    assert.equal(first.status, 201);
    for (const s of servers) assert.equal((await call(s.url, first.token!)).status, 200, `token valid on ${s.url}`);
    await logout(servers[2]!.url, first.token!);
    assert.equal((await call(servers[0]!.url, first.token!)).status, 401, 'a logout on one server ends the session on all');

    // A workload through HAProxy while one server is killed and restarted.
    step = 'A workload through HAProxy while one server is killed and restarted.';
    const src = join(tmp.path, 'src');
    await ok(`mkdir -p ${src}/a/b ${src}/c && for i in $(seq 1 40); do head -c $((i * 2000)) /dev/urandom > ${src}/a/f$i; cp ${src}/a/f$i ${src}/c/g$i; done && echo hi > ${src}/a/b/small`);
    await ok(`tar cf ${tmp.path}/src.tar -C ${src} . && git init -q ${tmp.path}/repo && cp -r ${src}/a ${tmp.path}/repo/ && cd ${tmp.path}/repo && git add -A && git -c user.email=t@t -c user.name=t commit -qm one`);
    const loginsBefore = await loginCount(servers);
    const mount = await startMount(lb.url, 'alice', 'alice-pass');
    mounts.push(mount);
    const copy = sh(`cp -r ${src} ${mount.path}/copy && mkdir ${mount.path}/untar && tar xf ${tmp.path}/src.tar -C ${mount.path}/untar && git clone -q ${tmp.path}/repo ${mount.path}/clone`, { timeoutMs: 90_000 });
    await waitFor(() => sh(`ls ${storage}/alice/copy/a 2>/dev/null | wc -l`).then((r) => Number(r.stdout.trim())), (n) => n >= 5, 20_000, 50);
    await servers[1]!.stop('SIGKILL');
    await servers[1]!.restart();
    const result = await copy;
    assert.equal(result.code, 0, `the workload completes without error: ${result.stderr}`);
    assert.equal((await sh(`diff -r ${src} ${mount.path}/copy && diff -r ${src} ${mount.path}/untar && diff -r ${tmp.path}/repo/a ${mount.path}/clone/a`)).code, 0, 'the trees match through the mount');
    // The killed server's upload temp files are invisible and swept later (an hour on, with
    // Redis, so as not to take a live server's): what users can see must match.
    const stored = await sh(`diff -r -x '${TEMP_PREFIX}*' ${src} ${storage}/alice/copy`);
    assert.equal(stored.code, 0, `and on the shared storage: ${stored.stdout}${stored.stderr}`);
    assert.equal((await sh(`cd ${mount.path}/clone && git status --porcelain && git log --oneline | wc -l`)).stdout.trim(), '1');
    assert.equal(await loginCount(servers) - loginsBefore, 1, 'the mount logged in once: its session outlived the killed server');

    // Two mounts through different servers: close-to-open between them.
    step = 'Two mounts through different servers: close-to-open between them.';
    const m1 = await startMount(servers[0]!.url, 'bob', 'bob-pass');
    mounts.push(m1);
    const m3 = await startMount(servers[2]!.url, 'bob', 'bob-pass');
    mounts.push(m3);
    await writeFile(join(m1.path, 'note.txt'), 'version one');
    assert.equal(await readFile(join(m3.path, 'note.txt'), 'utf8'), 'version one');
    await writeFile(join(m1.path, 'note.txt'), 'version two, longer');
    assert.equal(await readFile(join(m3.path, 'note.txt'), 'utf8'), 'version two, longer', 'an open after the other mount\'s close sees its content');
    for (const m of mounts.splice(0)) await m.cleanup();

    // --max-clients 5 across the three servers: the 6th login fails wherever it lands.
    step = '--max-clients 5 across the three servers: the 6th login fails wherever it lands.';
    const tokens: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await login(servers[i % 3]!.url);
      assert.equal(r.status, 201, `login ${i + 1} of 5`);
      tokens.push(r.token!);
    }
    for (const s of [...servers, { url: lb.url }]) assert.equal((await login(s.url)).status, 503, `6th login on ${s.url}`);
    // An idle session expires on all servers and frees its slot.
    step = 'An idle session expires on all servers and frees its slot.';
    // Wait by logging in (a request would restart the clock of the session it uses).
    const again = await waitFor(() => login(servers[1]!.url), (r) => r.status === 201, 30_000, 500);
    assert.equal(again.status, 201, 'expired sessions free their slots');
    // The oldest session is the one that idled out first: gone on every server.
    for (const s of servers) assert.equal((await call(s.url, tokens[0]!)).status, 401, `expired on ${s.url}`);

    // The login throttle counts across servers (same address, same name).
    step = 'The login throttle counts across servers (same address, same name).';
    for (const s of servers) assert.equal((await login(s.url, 'bob', 'wrong')).status, 401);
    assert.equal((await login(servers[0]!.url, 'bob', 'bob-pass')).status, 429, 'three failures spread over three servers add up');

    // Redis stopped: requests fail cleanly (503), then work again once it is back.
    step = 'Redis stopped: requests fail cleanly (503), then work again once it is back.';
    await redis.stop();
    const down = await call(lb.url, again.token!);
    assert.equal(down.status, 503);
    assert.equal(down.code, 'UNAVAILABLE');
    assert.equal((await login(lb.url)).status, 503);
    await redis.start();
    // The test's Redis keeps nothing on disk: sessions are gone, a new login works everywhere.
    step = "The test's Redis keeps nothing on disk: sessions are gone, a new login works everywhere.";
    const back = await waitFor(() => login(lb!.url), (r) => r.status === 201, 15_000, 200);
    assert.equal(back.status, 201);
    for (const s of servers) assert.equal((await call(s.url, back.token!)).status, 200);
  } catch (err) {
    const logs = await Promise.all(servers.map((s) => readFile(join(s.logs, 'server.log'), 'utf8').catch(() => '')));
    const auth = logs.join('\n').split('\n').filter((l) => /"msg":"(login|logout|unauthenticated request)"/.test(l)).slice(-12).join('\n');
    throw new Error(`scale-out failed at step "${step}": ${String(err)}\n${auth}`);
  } finally {
    for (const m of mounts) await m.cleanup().catch(() => undefined);
    await lb?.stop();
    for (const s of servers) await s.cleanup().catch(() => undefined);
    await redis?.cleanup();
    await tmp.remove();
  }
});
