import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { DEFAULT_SCRYPT, hashPassword } from '../../server/auth/password-hash.js';
import { rawRequest } from '../helpers/raw-http.js';
import { SERVER_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { waitForLog } from '../helpers/logs.js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Issue 10 item 5: a malformed users file stops the server from starting, naming file and line. */

let server: TestServer;
let good: string;

before(async () => {
  server = await startServer();
  good = await readFile(server.usersFile, 'utf8');
});

after(async () => {
  await server?.cleanup();
});

function serverCli(args: string[], input = ''): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [SERVER_BIN, ...args], { timeout: 30_000, env: { ...process.env, RDRIVE_PASSWORD: '' } }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stderr });
    });
    child.stdin?.end(input);
  });
}

const bad: Array<[string, string, RegExp]> = [
  ['a garbage line', 'garbage without a colon\n', /users\.txt:3: no ":"/],
  ['a path as user name', '../evil:pw\n', /users\.txt:3: invalid user name "\.\.\/evil"/],
  ['a broken scrypt record', 'carol:scrypt$16384$8$1$c2FsdA==$broken\n', /users\.txt:3: broken scrypt record for carol/],
  ['binary data', '\u0000\u0001\u0002binary\n', /users\.txt:3: control character/],
];

for (const [what, extra, message] of bad) {
  test(`the server refuses to start on a users file with ${what}`, { timeout: 60_000 }, async () => {
    await server.stop();
    await writeFile(server.usersFile, good + extra);
    await assert.rejects(server.restart(), (err: Error) => /exited with 2 before listening/.test(err.message) && message.test(err.message));
    await writeFile(server.usersFile, good);
  });
}

test('user add refuses such names and never rewrites a malformed file', { timeout: 60_000 }, async () => {
  const added = await serverCli(['user', 'add', '../evil', '--users', server.usersFile], 'password\n');
  assert.equal(added.code, 2);
  assert.match(added.stderr, /User names are/);
  await writeFile(server.usersFile, `${good}junk line\n`);
  const onBroken = await serverCli(['user', 'add', 'dave', '--users', server.usersFile], 'password\n');
  assert.notEqual(onBroken.code, 0);
  assert.match(onBroken.stderr, /users\.txt:3: no ":"/);
  assert.equal(await readFile(server.usersFile, 'utf8'), `${good}junk line\n`);
});

test('a users file broken while the server runs keeps the previous users, with an error logged', { timeout: 60_000 }, async () => {
  await writeFile(server.usersFile, good);
  await server.restart();
  await writeFile(server.usersFile, `${good}../evil:pw\n`);
  const alice = new ApiClient({ server: server.url });
  try {
    await alice.login('alice', 'alice-pass');
  } finally {
    await alice.close();
  }
  assert.match(await waitForLog(join(server.logs, 'server.log'), /users file changed but cannot be used/), /users\.txt:3: invalid user name/);
});

test('a user removed while their login is being checked gets no session that outlives the removal', { timeout: 60_000 }, async () => {
  // A real scrypt (about a second), so that the removal lands during carol's password check.
  await writeFile(server.usersFile, `${good}carol:${await hashPassword('carol-pass', DEFAULT_SCRYPT)}\n`);
  const carol = new ApiClient({ server: server.url });
  const bob = new ApiClient({ server: server.url });
  try {
    const loggingIn = carol.login('carol', 'carol-pass').then(() => carol.getToken(), () => undefined);
    await sleep(150);
    await writeFile(server.usersFile, good);
    // Bob's login re-reads the file (ending carol's sessions) while carol's check still runs.
    await bob.login('bob', 'bob-pass');
    const token = await loggingIn;
    // Before: carol got a session after all, and it stayed usable for as long as it was used.
    if (token !== undefined) {
      for (const wait of [0, 1_200]) {
        await sleep(wait);
        const res = await rawRequest(server.url, 'GET', '/api/v1/stat/', { authorization: `Bearer ${token}` });
        assert.equal(res.status, 401, `carol's session still works ${wait} ms after her removal: ${res.body}`);
      }
    }
  } finally {
    await carol.close();
    await bob.close();
    await writeFile(server.usersFile, good);
  }
});

test('a users file rewritten in place (briefly empty) ends no session; a removal that holds does', { timeout: 60_000 }, async () => {
  const bob = new ApiClient({ server: server.url });
  try {
    await bob.login('bob', 'bob-pass');
    const token = bob.getToken()!;
    const stat = (): Promise<number> => rawRequest(server.url, 'GET', '/api/v1/stat/', { authorization: `Bearer ${token}` }).then((r) => r.status);
    await sleep(1_100);
    // `cat > users.txt`: the file is empty for a moment, and a request reads it then.
    await writeFile(server.usersFile, '');
    await sleep(1_100);
    assert.equal(await stat(), 200, 'a request while the file is empty');
    await writeFile(server.usersFile, good);
    for (let i = 0; i < 5; i++) {
      await sleep(500);
      assert.equal(await stat(), 200, `bob's session ${i * 500} ms after the file came back`);
    }
    // Bob removed for good: his session ends within a few seconds.
    await writeFile(server.usersFile, good.split('\n').filter((l) => !l.startsWith('bob:')).join('\n'));
    let status = 200;
    for (let i = 0; i < 30 && status === 200; i++) {
      await sleep(200);
      status = await stat();
    }
    assert.equal(status, 401, 'bob removed: his session ends');
  } finally {
    await bob.close();
    await writeFile(server.usersFile, good);
  }
});

test('a login with the new password moments after a password change keeps its session; the old one ends', { timeout: 60_000 }, async () => {
  const bob = new ApiClient({ server: server.url });
  try {
    await bob.login('bob', 'bob-pass');
    const old = bob.getToken()!;
    const stat = (token: string): Promise<number> => rawRequest(server.url, 'GET', '/api/v1/stat/', { authorization: `Bearer ${token}` }).then((r) => r.status);
    assert.equal(await stat(old), 200);
    await writeFile(server.usersFile, `${good.split('\n').filter((l) => !l.startsWith('bob:')).join('\n')}\nbob:${await hashPassword('bob-new', DEFAULT_SCRYPT)}\n`);
    // At once, before the change has settled (held 1 s): the login reads the file itself.
    const login = await rawRequest(server.url, 'POST', '/api/v1/session', { 'content-type': 'application/json' }, JSON.stringify({ user: 'bob', password: 'bob-new' }));
    assert.equal(login.status, 201, login.body);
    const fresh = (JSON.parse(login.body) as { token: string }).token;
    assert.equal(await stat(old), 401, 'the session made with the old password ends with the new login');
    // Past the settle, with requests that make the server look at the file again.
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      assert.equal(await stat(fresh), 200, `the new password's session ${i * 500} ms on`);
    }
  } finally {
    await bob.close();
    await writeFile(server.usersFile, good);
  }
});
