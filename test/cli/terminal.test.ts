import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { forceUnmount, isMounted } from '../helpers/mount-process.js';
import { CLIENT_BIN, SERVER_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { inTerminal } from '../helpers/terminal.js';
import { makeTempDir } from '../helpers/tmp.js';

// What a person at a terminal sees: masked password prompts and progress bars.
let server: TestServer;
let tmp: { path: string; remove: () => Promise<void> };
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  tmp = await makeTempDir('rdrive-tty-');
});

after(async () => {
  await server?.cleanup();
  await tmp?.remove();
});

const clientEnv = (): NodeJS.ProcessEnv => ({ RDRIVE_PASSWORD: '', RDRIVE_SESSION_FILE: join(tmp.path, 'session.json') });

test('put on a terminal: masked password prompt, then a progress bar with rate and ETA', T, async () => {
  const src = join(tmp.path, 'big.bin');
  const data = randomBytes(24 * 1024 * 1024);
  await writeFile(src, data);
  const res = await inTerminal([process.execPath, CLIENT_BIN, 'put', src, '/', '--server', server.url, '--user', 'alice'], {
    env: clientEnv(),
    answers: [{ after: /Password for alice: /, send: 'alice-pass\r' }],
  });
  assert.equal(res.code, 0, res.output);
  assert.doesNotMatch(res.output, /alice-pass/, 'the password is never shown');
  assert.match(res.output, /Password for alice: (\x1b\[\d+G)?\*{10}/, 'one * per typed character');
  assert.match(res.output, /big\.bin .*100% \| 24M\/24M \| [\d.]+[KMG]?B?\/s \| ETA/);
  assert.deepEqual(await readFile(join(server.storage, 'alice', 'big.bin')), data);
});

test('a wrong password typed at the prompt is an authentication error, and nothing is written', T, async () => {
  const src = join(tmp.path, 'small.txt');
  await writeFile(src, 'x');
  const res = await inTerminal([process.execPath, CLIENT_BIN, 'put', src, '/', '--server', server.url, '--user', 'alice'], {
    env: clientEnv(),
    answers: [{ after: /Password for alice: /, send: 'wrong-pass\r' }],
  });
  assert.equal(res.code, 5, res.output);
  assert.match(res.output, /Login failed: wrong user name or password/);
  await assert.rejects(readFile(join(server.storage, 'alice', 'small.txt')), { code: 'ENOENT' });
});

test('user add on a terminal asks twice; differing answers change nothing', T, async () => {
  const users = join(tmp.path, 'users.txt');
  await writeFile(users, '');
  const differ = await inTerminal([process.execPath, SERVER_BIN, 'user', 'add', 'carol', '--users', users], {
    env: { RDRIVE_PASSWORD: '' },
    answers: [{ after: /New password for carol: /, send: 'first-one\r' }, { after: /Repeat it: /, send: 'second-one\r' }],
  });
  assert.equal(differ.code, 2, differ.output);
  assert.match(differ.output, /passwords differ/);
  assert.equal(await readFile(users, 'utf8'), '');
  const same = await inTerminal([process.execPath, SERVER_BIN, 'user', 'add', 'carol', '--users', users], {
    env: { RDRIVE_PASSWORD: '' },
    answers: [{ after: /New password for carol: /, send: 'good-pass\r' }, { after: /Repeat it: /, send: 'good-pass\r' }],
  });
  assert.equal(same.code, 0, same.output);
  assert.doesNotMatch(same.output, /good-pass/);
  assert.match(await readFile(users, 'utf8'), /^carol:scrypt\$/);
});

test('mount on a terminal: prompt, usable mount, Ctrl-C unmounts cleanly', T, async () => {
  const mnt = join(tmp.path, 'mnt');
  await mkdir(mnt);
  let seen = '';
  try {
    const res = await inTerminal([process.execPath, CLIENT_BIN, 'mount', server.url, mnt, '--user', 'bob', '--log-file', join(tmp.path, 'client.log')], {
      env: { RDRIVE_PASSWORD: '' },
      answers: [
        { after: /Password for bob: /, send: 'bob-pass\r' },
        {
          after: /rdrive: mounted /,
          send: async () => {
            await writeFile(join(mnt, 'typed.txt'), 'from a terminal session\n');
            seen = await readFile(join(server.storage, 'bob', 'typed.txt'), 'utf8');
            return '\x03';
          },
        },
      ],
    });
    assert.equal(res.code, 0, res.output);
    assert.equal(seen, 'from a terminal session\n');
    assert.doesNotMatch(res.output, /bob-pass/);
    assert.equal(await isMounted(mnt), false, 'Ctrl-C unmounted it');
  } finally {
    await forceUnmount(mnt);
  }
});
