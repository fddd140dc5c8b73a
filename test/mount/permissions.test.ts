import assert from 'node:assert/strict';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sh, startMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

// Another local user (nobody) against the mount: only --allow-other lets them in, and then only
// as far as the mode bits say (default_permissions).
let server: TestServer;
const T = { timeout: 90_000 };
const NOBODY = 65534;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.cleanup();
});

/** Runs a shell command as uid/gid nobody. */
const asNobody = (command: string): ReturnType<typeof sh> =>
  sh(`setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups sh -c '${command.replace(/'/g, `'\\''`)}'`);

/** mkdtemp makes 0700 directories; nobody must be able to reach the mountpoint to test it. */
async function reachable(mountpoint: string): Promise<void> {
  await chmod(join(mountpoint, '..'), 0o755);
}

test('without --allow-other another user cannot even look at the mount', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass');
  try {
    await reachable(m.path);
    await writeFile(join(m.path, 'mine.txt'), 'private\n');
    const res = await asNobody(`ls ${m.path}`);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /Permission denied/);
  } finally {
    await m.cleanup();
  }
});

test('with --allow-other another user reads what the mode bits allow and writes nothing else', T, async () => {
  const m = await startMount(server.url, 'bob', 'bob-pass', ['--allow-other']);
  try {
    await reachable(m.path);
    await writeFile(join(m.path, 'shared.txt'), 'for everyone\n', { mode: 0o644 });
    await writeFile(join(m.path, 'secret.txt'), 'owner only\n', { mode: 0o600 });
    await chmod(join(m.path, 'secret.txt'), 0o600);
    const read = await asNobody(`cat ${m.path}/shared.txt`);
    assert.equal(read.code, 0, read.stderr);
    assert.equal(read.stdout, 'for everyone\n');
    const secret = await asNobody(`cat ${m.path}/secret.txt`);
    assert.notEqual(secret.code, 0);
    assert.match(secret.stderr, /Permission denied/);
    const write = await asNobody(`echo changed > ${m.path}/shared.txt`);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr, /Permission denied/);
    const create = await asNobody(`touch ${m.path}/new.txt`);
    assert.notEqual(create.code, 0);
    const listing = await asNobody(`ls ${m.path}`);
    assert.equal(listing.code, 0, listing.stderr);
    assert.deepEqual(listing.stdout.trim().split('\n').sort(), ['secret.txt', 'shared.txt']);
    // The server's storage stays closed to other accounts; a user's folder inside is 0755.
    assert.equal((await stat(server.storage)).mode & 0o777, 0o700);
    assert.equal((await stat(m.path)).mode & 0o777, 0o755);
    // Nothing nobody tried changed the server's copy.
    assert.equal(await sh(`cat ${join(server.storage, 'bob', 'shared.txt')}`).then((r) => r.stdout), 'for everyone\n');
  } finally {
    await m.cleanup();
  }
});
