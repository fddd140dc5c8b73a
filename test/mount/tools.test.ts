import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ok, sh, startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

let server: TestServer;
let mount: TestMount;
let local: { path: string; remove: () => Promise<void> };
const T = { timeout: 120_000 };

before(async () => {
  server = await startServer();
  mount = await startMount(server.url, 'alice', 'alice-pass');
  local = await makeTempDir('rdrive-tools-');
  await ok(`mkdir -p src/x/y src/z && for i in $(seq 1 40); do head -c $((RANDOM % 20000)) /dev/urandom > src/x/f$i; done
    echo text > src/z/t.txt && chmod 600 src/z/t.txt && touch -d '2020-06-07 08:09:10' src/z/t.txt src/x/f1 && touch -d '2019-01-01 00:00:00' src/z src/x/y src/x src`, { cwd: local.path });
});

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
  await local?.remove();
});

test('rsync -a a tree in and back out keeps content, modes and mtimes', T, async () => {
  await ok(`rsync -a ${local.path}/src/ ${mount.path}/synced/`);
  await ok(`rsync -a ${mount.path}/synced/ ${local.path}/back/`);
  await ok(`diff -r ${local.path}/src ${local.path}/back`);
  const stats = await ok(`stat -c '%a %Y' ${mount.path}/synced/z/t.txt ${local.path}/back/z/t.txt`);
  const [a, b] = stats.trim().split('\n');
  assert.equal(a, b);
  assert.equal(a, `600 ${Date.UTC(2020, 5, 7, 8, 9, 10) / 1000}`);
  const again = await ok(`rsync -ai ${local.path}/src/ ${mount.path}/synced/`);
  assert.equal(again.trim(), '', 'a second rsync finds nothing to copy');
});

test('tar x of an archive into the mount', T, async () => {
  await ok(`tar -C ${local.path} -cf ${local.path}/a.tar src`);
  await ok(`mkdir ${mount.path}/untar && tar -C ${mount.path}/untar -xf ${local.path}/a.tar`);
  await ok(`diff -r ${local.path}/src ${mount.path}/untar/src`);
  assert.equal((await ok(`stat -c %Y ${mount.path}/untar/src/x/f1`)).trim(), String(Date.UTC(2020, 5, 7, 8, 9, 10) / 1000));
});

test('tar c of a tree on the mount: nothing "changed as we read it", the archive is exact', T, async () => {
  // cp -a keeps old mtimes, so ctime and mtime differ: each must stay what it was across an open.
  await ok(`cp -a ${local.path}/src ${mount.path}/archived && mv ${mount.path}/archived/z/t.txt ${mount.path}/archived/z/moved.txt`);
  const tar = await sh(`tar -C ${mount.path} -cf ${local.path}/out.tar archived`);
  assert.equal(tar.code, 0, tar.stderr);
  assert.equal(tar.stderr, '');
  await ok(`mkdir ${local.path}/out && tar -C ${local.path}/out -xf ${local.path}/out.tar && mv ${local.path}/out/archived/z/moved.txt ${local.path}/out/archived/z/t.txt`);
  await ok(`diff -r ${local.path}/src ${local.path}/out/archived`);
});

test('git init, commit, branch and a clean status on the mount', T, async () => {
  const git = 'git -c user.name=t -c user.email=t@example.com -c init.defaultBranch=main';
  const repo = join(mount.path, 'repo');
  await ok(`mkdir ${repo} && cd ${repo} && ${git} init -q && cp -r ${local.path}/src/x . && ${git} add -A && ${git} commit -qm first`);
  await ok(`cd ${repo} && ${git} checkout -qb feature && echo change >> x/f2 && ${git} commit -qam second && ${git} checkout -q main`);
  const status = await ok(`cd ${repo} && ${git} status --porcelain`);
  assert.equal(status, '');
  const log = await ok(`cd ${repo} && ${git} log --oneline feature`);
  assert.equal(log.trim().split('\n').length, 2);
  await ok(`cd ${repo} && ${git} fsck --no-progress`);
});

test('cp -p and touch -d set times; mtime survives the upload at close', T, async () => {
  await ok(`cp -p ${local.path}/src/z/t.txt ${mount.path}/kept.txt`);
  assert.equal((await ok(`stat -c '%a %Y' ${mount.path}/kept.txt`)).trim(), `600 ${Date.UTC(2020, 5, 7, 8, 9, 10) / 1000}`);
  const res = await sh(`python3 -c "
import os
fd = os.open('${mount.path}/timed', os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'data')
os.utime(fd, (1000000000, 1000000000))
os.close(fd)
print(os.stat('${mount.path}/timed').st_mtime)"`);
  assert.equal(res.stdout.trim(), '1000000000.0');
});

test('SQLite on the mount: transactions with fsync and a journal, intact for another mount', T, async () => {
  // Writes at random offsets, fsync, a journal file created and removed per transaction.
  const script = [
    'import sqlite3, sys',
    'db = sqlite3.connect(sys.argv[1])',
    "db.execute('create table t (id integer primary key, v text)')",
    'for k in range(10):',
    '    with db:',
    "        db.executemany('insert into t (v) values (?)', [(str(k) * 300,) for _ in range(40)])",
    "db.execute('update t set v = ? where id % 7 = 0', ('changed',))",
    'db.commit()',
    'db.close()',
  ].join('\n');
  await ok(`python3 -c "${script.replace(/"/g, '\\"')}" ${mount.path}/app.db`);
  const other = await startMount(server.url, 'alice', 'alice-pass');
  try {
    const check = "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(db.execute('pragma integrity_check').fetchone()[0], db.execute('select count(*), sum(v = \\'changed\\') from t').fetchone())";
    assert.equal((await ok(`python3 -c "${check}" ${other.path}/app.db`)).trim(), 'ok (400, 57)');
    assert.doesNotMatch(await ok(`ls -a ${mount.path}`), /app\.db-journal/);
  } finally {
    await other.cleanup();
  }
});
