import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildPjdfstest, runPjdfstestFile, type TapResult } from '../helpers/pjdfstest.js';
import { startMount, type TestMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

/**
 * pjdfstest, the POSIX conformance suite, on a real mount for the calls rdrive supports. Every
 * file must pass, except those listed in EXPECTED (each explained in docs/posix.md): there a
 * file may fail at most as many assertions as it did when the list was made, so a regression
 * inside such a file still fails this test.
 */
const GROUPS = ['chmod', 'ftruncate', 'mkdir', 'open', 'rename', 'rmdir', 'truncate', 'unlink', 'utimensat', 'symlink'];
/**
 * Not run here. rename/09.t and rename/10.t: ~4,400 assertions (half the time of the whole run)
 * on sticky directories whose entries belong to other users, which rdrive has no notion of
 * (every file is the mounting user's): they fail as a whole (see docs/posix.md) and their count
 * varies with inode reuse. open/25.t passes but writes a sparse 2 GiB file, which the mount
 * uploads whole: a speed test, not a conformance one.
 */
const NOT_RUN = new Set(['rename/09.t', 'rename/10.t', 'open/25.t']);
/** Files at once: most of a file's time is its own `sleep 1` between timestamp checks. */
const CONCURRENCY = 6;

/** Why a file may fail (docs/posix.md says more): each a choice of rdrive's, not a bug. */
const WHY = {
  'special-files': 'FIFOs, sockets and device nodes are refused (EPERM): fixtures of those types are missing',
  'hard-links': 'hard links are refused (EPERM)',
  'foreign-owner': 'chown to another user is refused (EPERM): calls made as that owner fail',
  'server-path-limit': 'a path over 4096 bytes from the user\'s root is refused (ENAMETOOLONG)',
  'dir-nlink': 'a directory\'s link count is always 2 (the server does not report subdirectory counts)',
} as const;

/** Failed assertions (at most) per file in the run this list was made from, and why. */
const EXPECTED: Record<string, { max: number; why: Array<keyof typeof WHY> }> = {
  'chmod/00.t': { max: 67, why: ['special-files', 'foreign-owner'] },
  'chmod/01.t': { max: 12, why: ['special-files'] },
  'chmod/03.t': { max: 4, why: ['server-path-limit'] },
  'chmod/05.t': { max: 7, why: ['foreign-owner'] },
  'chmod/07.t': { max: 21, why: ['foreign-owner'] },
  'chmod/11.t': { max: 64, why: ['special-files', 'foreign-owner'] },
  'ftruncate/03.t': { max: 4, why: ['server-path-limit'] },
  'ftruncate/05.t': { max: 8, why: ['foreign-owner'] },
  'ftruncate/06.t': { max: 1, why: ['foreign-owner'] },
  'mkdir/00.t': { max: 8, why: ['foreign-owner'] },
  'mkdir/01.t': { max: 12, why: ['special-files'] },
  'mkdir/03.t': { max: 2, why: ['server-path-limit'] },
  'mkdir/05.t': { max: 5, why: ['foreign-owner'] },
  'mkdir/06.t': { max: 5, why: ['foreign-owner'] },
  'mkdir/10.t': { max: 11, why: ['special-files'] },
  'open/00.t': { max: 8, why: ['foreign-owner'] },
  'open/01.t': { max: 16, why: ['special-files'] },
  'open/03.t': { max: 3, why: ['server-path-limit'] },
  'open/05.t': { max: 5, why: ['foreign-owner'] },
  'open/06.t': { max: 142, why: ['special-files', 'foreign-owner'] },
  'open/07.t': { max: 23, why: ['foreign-owner'] },
  'open/17.t': { max: 3, why: ['special-files'] },
  'open/22.t': { max: 8, why: ['special-files'] },
  'open/24.t': { max: 5, why: ['special-files'] },
  'rename/00.t': { max: 74, why: ['special-files', 'hard-links'] },
  'rename/02.t': { max: 2, why: ['server-path-limit'] },
  'rename/04.t': { max: 6, why: ['foreign-owner'] },
  'rename/05.t': { max: 8, why: ['foreign-owner'] },
  'rename/12.t': { max: 24, why: ['special-files', 'hard-links'] },
  'rename/13.t': { max: 26, why: ['special-files'] },
  'rename/14.t': { max: 16, why: ['special-files'] },
  'rename/20.t': { max: 14, why: ['special-files'] },
  'rename/23.t': { max: 36, why: ['special-files', 'hard-links'] },
  'rename/24.t': { max: 2, why: ['dir-nlink'] },
  'rmdir/01.t': { max: 3, why: ['special-files'] },
  'rmdir/03.t': { max: 3, why: ['server-path-limit'] },
  'rmdir/06.t': { max: 16, why: ['special-files'] },
  'rmdir/07.t': { max: 3, why: ['foreign-owner'] },
  'rmdir/08.t': { max: 4, why: ['foreign-owner'] },
  'rmdir/11.t': { max: 29, why: ['foreign-owner'] },
  'truncate/03.t': { max: 4, why: ['server-path-limit'] },
  'truncate/05.t': { max: 8, why: ['foreign-owner'] },
  'truncate/06.t': { max: 1, why: ['foreign-owner'] },
  'unlink/00.t': { max: 70, why: ['special-files', 'hard-links'] },
  'unlink/03.t': { max: 2, why: ['server-path-limit'] },
  'unlink/05.t': { max: 3, why: ['foreign-owner'] },
  'unlink/06.t': { max: 4, why: ['foreign-owner'] },
  'unlink/11.t': { max: 211, why: ['special-files', 'foreign-owner'] },
  'utimensat/00.t': { max: 20, why: ['special-files'] },
  'utimensat/06.t': { max: 2, why: ['foreign-owner'] },
  'utimensat/07.t': { max: 1, why: ['foreign-owner'] },
  'symlink/03.t': { max: 2, why: ['server-path-limit'] },
  'symlink/05.t': { max: 5, why: ['foreign-owner'] },
  'symlink/06.t': { max: 5, why: ['foreign-owner'] },
  'symlink/08.t': { max: 8, why: ['special-files'] },
};

/**
 * A file's allowance: its count, plus slack where counts wobble between runs. After refused
 * chowns what follows depends on the inode numbers libfuse reuses; and checks that a parent
 * directory's mtime did not move compare the mount's own estimate (kept after its changes while
 * the attribute cache lasts) with the server's value once the cache expired.
 */
function allowed(file: string): number {
  const known = EXPECTED[file];
  if (known === undefined) return 0;
  return known.max + Math.ceil(known.max * 0.1) + 2;
}

let server: TestServer | undefined;
let mount: TestMount | undefined;

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
});

test('pjdfstest: the supported groups pass, but for the documented exceptions', { timeout: 540_000 }, async (t) => {
  const build = await buildPjdfstest();
  if ('unavailable' in build) {
    t.skip(build.unavailable);
    return;
  }
  if (process.getuid?.() !== 0) {
    t.skip('pjdfstest must run as root (it switches users and chowns)');
    return;
  }
  server = await startServer({ args: ['--log-level', 'warn'] });
  // allow_other: pjdfstest also calls as other users, who must reach the mount to be judged.
  mount = await startMount(server.url, 'alice', 'alice-pass', ['--allow-other', '--log-level', 'warn']);
  const files: string[] = [];
  for (const group of GROUPS) {
    for (const name of (await readdir(join(build.tests, group))).sort()) {
      if (name.endsWith('.t') && !NOT_RUN.has(`${group}/${name}`)) files.push(`${group}/${name}`);
    }
  }
  const results: TapResult[] = [];
  const durations: Array<[string, number]> = [];
  const queue = [...files];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const cwd = join(mount!.path, file.replace(/[/.]/g, '-'));
      await mkdir(cwd);
      const started = Date.now();
      results.push(await runPjdfstestFile(build.tests, file, cwd, 200_000));
      durations.push([file, Date.now() - started]);
    }
  }));

  const assertions = results.reduce((n, r) => n + r.planned, 0);
  const failed = results.reduce((n, r) => n + r.failed.length, 0);
  t.diagnostic(`pjdfstest ${GROUPS.join(',')}: ${assertions} assertions, ${failed} failed, ${results.filter((r) => r.failed.length > 0).length} of ${results.length} files with failures`);
  const failing = results.filter((r) => r.failed.length > 0).sort((x, y) => x.file.localeCompare(y.file));
  t.diagnostic(`files with failures: ${failing.map((r) => `${r.file} ${r.failed.length}/${r.planned}`).join(', ')}`);
  const slowest = durations.sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, ms]) => `${f} ${Math.round(ms / 1000)} s`);
  t.diagnostic(`slowest files: ${slowest.join(', ')}`);
  const unexpected = results
    .filter((r) => r.failed.length > allowed(r.file))
    .map((r) => {
      const known = EXPECTED[r.file];
      const why = known === undefined ? '' : ` (${known.why.map((w) => WHY[w]).join('; ')})`;
      return `${r.file}: ${r.failed.length} failed, expected at most ${allowed(r.file)}${why}\n  ${r.details.slice(0, 20).join('\n  ')}`;
    });
  assert.deepEqual(unexpected, [], `unexpected pjdfstest failures:\n${unexpected.join('\n')}`);
  assert.ok(assertions > 2000, `only ${assertions} assertions ran: the suite did not run as planned`);
});
