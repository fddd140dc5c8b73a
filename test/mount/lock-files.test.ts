import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { ok, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A lock file created with O_EXCL (git's index.lock, a dot-lock, vim's swap file) is exclusive
 * across mounts of the same folder, not only within one: the second mount's create is EEXIST.
 */

let server: TestServer;
let a: TestMount;
let b: TestMount;
const T = { timeout: 90_000 };

before(async () => {
  server = await startServer();
  a = await startMount(server.url, 'alice', 'alice-pass');
  b = await startMount(server.url, 'alice', 'alice-pass');
});

after(async () => {
  await b?.cleanup();
  await a?.cleanup();
  await server?.cleanup();
});

/** Takes `name` with O_EXCL on mount A and, while holding it, tries the same on mount B. */
const TAKE_TWICE = `
import os, sys
a, b, name = sys.argv[1:4]
flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
held = os.open(os.path.join(a, name), flags, 0o644)
os.write(held, b'held by A')
try:
    os.close(os.open(os.path.join(b, name), flags, 0o644))
    print('B took it too')
except FileExistsError:
    print('EEXIST')
os.close(held)
`;

async function python(code: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('python3', ['-c', code, ...args], { timeout: 20_000 });
  return stdout.trim();
}

test('a lock file taken with O_EXCL on one mount is EEXIST on another until it is released', T, async () => {
  for (const name of ['index.lock', '.notes.txt.swp', '.~lock.report.odt#']) {
    assert.equal(await python(TAKE_TWICE, a.path, b.path, name), 'EEXIST', name);
    // B looked the name up while it was empty: its kernel may keep that size for the 1 s
    // attribute window (README, Known limits), then B reads A's lock as A closed it.
    await waitFor(() => readFile(`${b.path}/${name}`, 'utf8'), (text) => text === 'held by A', 5_000);
  }
  // git's way: the lock becomes the file, and the next writer takes a new lock.
  await ok(`mv ${a.path}/index.lock ${a.path}/index`);
  await python('import os, sys; os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY))', `${b.path}/index.lock`);
  assert.equal(await readFile(`${b.path}/index`, 'utf8'), 'held by A');
});
