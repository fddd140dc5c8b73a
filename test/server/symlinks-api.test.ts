import assert from 'node:assert/strict';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { ApiClient } from '../../mount/remote/api-client.js';
import { rejectsWith, startServerWithClients, stopServerAndClients } from '../helpers/api-clients.js';
import type { TestServer } from '../helpers/server-process.js';

/** Issue 11, server side: symlinks are stored as data and never followed (notes/SYMLINK-CONTRACT.md). */

let server: TestServer;
let alice: ApiClient;
let bob: ApiClient;

before(async () => {
  ({ server, clients: [alice, bob] } = await startServerWithClients(['alice', 'bob']));
  await bob.upload('x', () => 'bob-private');
  await alice.mkdir('d');
  await alice.upload('d/real.txt', () => 'real content');
});

after(() => stopServerAndClients(server, [alice, bob]));

const T = { timeout: 30_000 };

test('create a link; stat and list show it as a symlink with its target', T, async () => {
  const attr = await alice.symlink('l1', 'd/real.txt');
  assert.equal(attr.type, 'symlink');
  assert.equal(attr.target, 'd/real.txt');
  assert.equal(attr.size, Buffer.byteLength('d/real.txt'));
  assert.equal(attr.mode, 0o777);
  const st = await alice.stat('l1');
  assert.deepEqual({ type: st.type, target: st.target, size: st.size }, { type: 'symlink', target: 'd/real.txt', size: 10 });
  const entry = (await alice.list('/')).entries.find((e) => e.name === 'l1');
  assert.equal(entry?.type, 'symlink');
  assert.equal(entry?.target, 'd/real.txt');
  const utf = await alice.symlink('d/ünï', '../ça va/→');
  assert.equal(utf.size, Buffer.byteLength('../ça va/→'));
  assert.equal((await alice.stat('d/ünï')).target, '../ça va/→');
  // On the server's disk it is a regular file: no tool there can follow it.
  assert.ok((await lstat(join(server.storage, 'alice', 'l1'))).isFile());
  assert.equal((await alice.stat('d/real.txt')).type, 'file', 'a plain file has no target');
  assert.equal((await alice.stat('d/real.txt')).target, undefined);
});

test('bad links are refused and change nothing', T, async () => {
  await rejectsWith(alice.symlink('l1', 'other'), 'EEXIST');
  await rejectsWith(alice.symlink('d', 'other'), 'EEXIST');
  await rejectsWith(alice.symlink('d/real.txt', 'other'), 'EEXIST');
  await rejectsWith(alice.symlink('empty', ''), 'EINVAL');
  await rejectsWith(alice.symlink('nul', 'a\u0000b'), 'EINVAL');
  // A lone surrogate (JSON can carry one) would be stored as U+FFFD: another target.
  await rejectsWith(alice.symlink('surrogate', 'a\ud800b'), 'EINVAL');
  await rejectsWith(alice.symlink('long', 'a'.repeat(4096)), 'ENAMETOOLONG');
  await rejectsWith(alice.symlink('missing/l', 'x'), 'ENOENT');
  await rejectsWith(alice.symlink('d/real.txt/l', 'x'), 'ENOTDIR');
  await rejectsWith(alice.symlink('/', 'x'), 'EEXIST');
  const longest = await alice.symlink('longest', 'a'.repeat(4095));
  assert.equal(longest.size, 4095);
  const names = (await alice.list('/')).entries.map((e) => e.name);
  for (const name of ['empty', 'nul', 'surrogate', 'long']) assert.ok(!names.includes(name), name);
  assert.equal((await alice.stat('l1')).target, 'd/real.txt');
  assert.equal((await alice.read('d/real.txt', 0, 100)).toString(), 'real content');
  const raw = await request(`${server.url}/api/v1/symlinks/raw`, { method: 'POST', headers: { authorization: `Bearer ${alice.getToken()!}`, 'content-type': 'application/json' }, body: '{"target": 5}' });
  assert.equal(raw.statusCode, 400);
  assert.equal(((await raw.body.json()) as { code: string }).code, 'EINVAL');
});

test('the server never follows a link: reads, writes and paths through one answer ELOOP', T, async () => {
  await alice.symlink('dl', 'd');
  await rejectsWith(alice.read('l1', 0, 100), 'ELOOP');
  await rejectsWith(alice.preview('l1'), 'ELOOP');
  await rejectsWith(alice.upload('l1', () => 'overwrite'), 'ELOOP');
  await rejectsWith(alice.upload('l1', () => 'overwrite', { exclusive: true }), 'EEXIST');
  await rejectsWith(alice.patch('l1', () => Buffer.alloc(0), { size: 0 }), 'ELOOP');
  await rejectsWith(alice.read('dl/real.txt', 0, 100), 'ELOOP');
  await rejectsWith(alice.stat('dl/real.txt'), 'ELOOP');
  await rejectsWith(alice.list('dl'), 'ELOOP');
  await rejectsWith(alice.upload('dl/new.txt', () => 'x'), 'ELOOP');
  await rejectsWith(alice.mkdir('dl/sub'), 'ELOOP');
  await rejectsWith(alice.rename('d/real.txt', 'dl/moved.txt'), 'ELOOP');
  await rejectsWith(alice.setAttr('l1', { mode: 0o600 }), 'EOPNOTSUPP');
  await rejectsWith(alice.setAttr('l1', { size: 0 }), 'EOPNOTSUPP');
  const timed = await alice.setAttr('l1', { mtime: 1_500_000_000_000 });
  assert.equal(timed.type, 'symlink');
  assert.equal(Math.round(timed.mtime), 1_500_000_000_000);
  assert.equal((await alice.stat('l1')).target, 'd/real.txt', 'the link is unchanged');
  assert.equal((await alice.read('d/real.txt', 0, 100)).toString(), 'real content', 'the target is unchanged');
  assert.deepEqual((await readdir(join(server.storage, 'alice', 'd'))).sort(), ['real.txt', 'ünï']);
});

test('links that point outside are just data', T, async () => {
  await alice.symlink('to-bob', '../../bob/x');
  await alice.symlink('to-passwd', '/etc/passwd');
  assert.equal((await alice.stat('to-bob')).target, '../../bob/x');
  assert.equal((await alice.stat('to-passwd')).target, '/etc/passwd');
  await rejectsWith(alice.read('to-bob', 0, 100), 'ELOOP');
  await rejectsWith(alice.read('to-passwd', 0, 100), 'ELOOP');
  await rejectsWith(alice.upload('to-bob', () => 'planted'), 'ELOOP');
  await rejectsWith(alice.setAttr('to-passwd', { size: 0 }), 'EOPNOTSUPP');
  assert.equal((await bob.read('x', 0, 100)).toString(), 'bob-private');
  assert.deepEqual(await readdir(join(server.storage, 'bob')), ['x']);
  assert.ok((await readFile('/etc/passwd', 'utf8')).length > 0);
});

test('delete and rename links; a link may replace and be replaced', T, async () => {
  await alice.symlink('mv-me', 'somewhere');
  const moved = await alice.rename('mv-me', 'd/moved-link');
  assert.equal(moved.type, 'symlink');
  assert.equal(moved.target, 'somewhere');
  await rejectsWith(alice.stat('mv-me'), 'ENOENT');
  await alice.upload('d/file', () => 'file');
  const over = await alice.rename('d/moved-link', 'd/file');
  assert.equal(over.target, 'somewhere', 'a link replaces a file atomically');
  await alice.upload('plain', () => 'plain');
  const back = await alice.rename('plain', 'd/file');
  assert.equal(back.type, 'file', 'a file replaces a link');
  await alice.symlink('gone', 'x');
  await alice.unlink('gone');
  await rejectsWith(alice.stat('gone'), 'ENOENT');
  await alice.symlink('d/keep', 'x');
  await rejectsWith(alice.rmdir('d'), 'ENOTEMPTY');
  await alice.rmdir('d', { recursive: true });
  await rejectsWith(alice.stat('d'), 'ENOENT');
});

test('a file with the link mode but other content stays a file', T, async () => {
  await alice.upload('lookalike', () => 'not a link', { mode: 0o1400 });
  const st = await alice.stat('lookalike');
  assert.equal(st.type, 'file');
  assert.equal(st.mode, 0o1400);
  assert.equal((await alice.read('lookalike', 0, 100)).toString(), 'not a link');
});
