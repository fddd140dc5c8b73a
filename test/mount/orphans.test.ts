import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { forceUnmount, ok, sh, startMount } from '../helpers/mount-process.js';
import { CLIENT_BIN, startServer, type TestServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';
import { registryDir } from '../../mount/daemon/pid-registry.js';

const execFileP = promisify(execFile);
let server: TestServer;
const T = { timeout: 60_000 };
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '-');

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.cleanup();
});

const hiddenIn = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.fuse_hidden'));

/** A pid that no process has now (a process that ran and exited). */
async function deadPid(): Promise<number> {
  const p = spawn('true');
  await once(p, 'exit');
  return p.pid!;
}

test('a file deleted while open outlives a kill -9 of its daemon only until the next mount', T, async () => {
  const a = await startMount(server.url, 'alice', 'alice-pass');
  const dir = join(server.storage, 'alice', 'd');
  let holder: ReturnType<typeof spawn> | undefined;
  try {
    await ok(`mkdir ${a.path}/d && echo data > ${a.path}/d/f`);
    holder = spawn('bash', ['-c', `exec 7<"${a.path}/d/f" && rm "${a.path}/d/f" && echo ready && exec sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(createInterface({ input: holder.stdout! }), 'line');
    const [name] = await hiddenIn(dir);
    assert.match(name ?? '', new RegExp(`^\\.fuse_hidden[0-9a-f]{16}\\.rdrive\\.${HOST.replace(/\./g, '\\.')}\\.${a.process.pid}\\.[0-9a-f]{8}$`), 'the server name says which daemon holds it');
    assert.equal((await sh(`ls -A ${a.path}/d`)).stdout, '', 'hidden on the mount');
    assert.match((await sh(`rmdir ${a.path}/d`)).stderr, /not empty/, 'a file its live daemon still holds keeps the directory');
    a.process.kill('SIGKILL');
    await once(a.process, 'exit');
  } finally {
    holder?.kill('SIGKILL');
    await a.cleanup();
  }
  assert.equal((await hiddenIn(dir)).length, 1, 'the crash left it on the server');
  const b = await startMount(server.url, 'alice', 'alice-pass');
  try {
    assert.deepEqual(await waitFor(() => hiddenIn(dir), (names) => names.length === 0), [], 'the next mount removed it');
    await ok(`rmdir ${b.path}/d`);
  } finally {
    await b.cleanup();
  }
});

test('orphans without a journal: rmdir on the mount removes them; rdrive sweep removes the rest and keeps what it cannot judge', T, async () => {
  const root = join(server.storage, 'alice');
  const dead = await deadPid();
  const orphan = `.fuse_hidden0000000a00000002.rdrive.${HOST}.${dead}.deadbeef`;
  const foreign = '.fuse_hidden0000000b00000001.rdrive.elsewhere.example.4242.abcdef12';
  await mkdir(join(root, 'only-orphans'), { recursive: true });
  await writeFile(join(root, 'only-orphans', orphan), 'x');
  await mkdir(join(root, 'deep', 'er'), { recursive: true });
  await writeFile(join(root, 'deep', 'er', orphan), 'x');
  await writeFile(join(root, 'deep', foreign), 'x');
  await writeFile(join(root, 'deep', 'keep.txt'), 'mine');
  const m = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await ok(`rmdir ${m.path}/only-orphans`);
    const { stdout } = await execFileP(process.execPath, [CLIENT_BIN, 'sweep', '/deep', '--server', server.url, '--user', 'alice'], { env: { ...process.env, RDRIVE_PASSWORD: 'alice-pass' }, timeout: 30_000 });
    assert.match(stdout, new RegExp(`removed /deep/er/${orphan.replace(/\./g, '\\.')}`));
    assert.match(stdout, /kept \/deep\/\.fuse_hidden0000000b00000001.*another machine/);
    assert.match(stdout, /1 removed, 1 kept/);
    assert.deepEqual(await hiddenIn(join(root, 'deep', 'er')), []);
    assert.deepEqual(await hiddenIn(join(root, 'deep')), [foreign]);
    assert.equal((await sh(`cat ${m.path}/deep/keep.txt`)).stdout, 'mine', 'ordinary files are never touched');
  } finally {
    await m.cleanup();
    await forceUnmount(m.path);
  }
});

test('a long-running daemon\'s journal keeps only the deleted-while-open files still held; a new mount drops dead daemons\' records', T, async () => {
  const dead = await deadPid();
  const stale = join(registryDir(), `daemon-${dead}.json`);
  await mkdir(registryDir(), { recursive: true, mode: 0o700 });
  await writeFile(stale, JSON.stringify({ pid: dead, mount: { mountpoint: '/nowhere' }, instance: 'x' }), { mode: 0o600 });
  const a = await startMount(server.url, 'alice', 'alice-pass');
  try {
    assert.equal(await readFile(stale, 'utf8').catch(() => 'gone'), 'gone', 'the record of a daemon killed with -9 went at the next mount');
    // 200 files deleted while open, each closed after: each was journalled, then removed.
    await ok(`python3 - <<'PY'
import os
for i in range(200):
    p = '${a.path}/held%d' % i
    with open(p, 'w') as f: f.write('x')
    fd = os.open(p, os.O_RDONLY)
    os.unlink(p)
    os.close(fd)
PY`);
    const journal = join(registryDir(), `hidden-${a.process.pid}.jsonl`);
    const lines = await waitFor(async () => (await readFile(journal, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').length, (n) => n <= 64);
    assert.ok(lines <= 64, `the journal was rewritten without the removed files: ${lines} lines after 200`);
    assert.deepEqual(await hiddenIn(join(server.storage, 'alice')), [], 'every hidden file is gone from the server');
  } finally {
    await a.cleanup();
  }
});
