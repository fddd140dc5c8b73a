import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { SERVER_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { waitForLog } from '../helpers/logs.js';
import { join } from 'node:path';

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
