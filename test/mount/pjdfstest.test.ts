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
const GROUPS = ['chmod', 'chown', 'ftruncate', 'mkdir', 'mkfifo', 'mknod', 'open', 'rename', 'rmdir', 'truncate', 'unlink', 'utimensat', 'symlink'];
/**
 * Not run by default. open/25.t passes but writes a sparse 2 GiB file, which the mount uploads
 * whole: a speed test, not a conformance one. rename/09.t and rename/10.t (~4,400 assertions on
 * sticky directories holding other users' entries) pass in full but take 1-4 min each, as long
 * as all the rest together on a loaded machine: RDRIVE_PJDFSTEST_SLOW=1 runs them too (first,
 * beside the others).
 */
const SLOW = ['rename/09.t', 'rename/10.t'];
const RUN_SLOW = process.env.RDRIVE_PJDFSTEST_SLOW === '1';
const NOT_RUN = new Set(['open/25.t', ...(RUN_SLOW ? [] : SLOW)]);
/** Started first, so that the longest files overlap the rest: chown/00.t takes 2-3.5 min. */
const FIRST = [...SLOW, 'chown/00.t'];
/** Files at once: most of a file's time is its own `sleep 1` between timestamp checks. */
const CONCURRENCY = 6;

/** Why a file may fail (docs/posix.md says more): each a choice of rdrive's, not a bug. */
const WHY = {
  'hard-links': 'hard links are refused (EPERM): the fixtures made with link() are missing and link counts stay 1',
} as const;

/** Failed assertions (at most) per file in the runs this list was made from, and why. */
const EXPECTED: Record<string, { max: number; why: Array<keyof typeof WHY> }> = {
  'rename/00.t': { max: 30, why: ['hard-links'] },
  'rename/23.t': { max: 20, why: ['hard-links'] },
  'unlink/00.t': { max: 18, why: ['hard-links'] },
};

function allowed(file: string): number {
  return EXPECTED[file]?.max ?? 0;
}

let server: TestServer | undefined;
let mount: TestMount | undefined;

after(async () => {
  await mount?.cleanup();
  await server?.cleanup();
});

test('pjdfstest: the supported groups pass, but for the documented exceptions', { timeout: 720_000 }, async (t) => {
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
  const queue = [...FIRST.filter((f) => files.includes(f)), ...files.filter((f) => !FIRST.includes(f))];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const cwd = join(mount!.path, file.replace(/[/.]/g, '-'));
      await mkdir(cwd);
      const started = Date.now();
      results.push(await runPjdfstestFile(build.tests, file, cwd, 400_000));
      durations.push([file, Date.now() - started]);
    }
  }));

  const assertions = results.reduce((n, r) => n + r.planned, 0);
  const failed = results.reduce((n, r) => n + r.failed.length, 0);
  t.diagnostic(`pjdfstest ${GROUPS.join(',')}: ${assertions} assertions, ${failed} failed, ${results.filter((r) => r.failed.length > 0).length} of ${results.length} files with failures`);
  for (const group of GROUPS) {
    const inGroup = results.filter((r) => r.file.startsWith(`${group}/`));
    const planned = inGroup.reduce((n, r) => n + r.planned, 0);
    const bad = inGroup.reduce((n, r) => n + r.failed.length, 0);
    t.diagnostic(`  ${group.padEnd(10)} assertions ${String(planned).padStart(5)}  failed ${String(bad).padStart(4)}  files with failures ${inGroup.filter((r) => r.failed.length > 0).length} of ${inGroup.length}`);
  }
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
  assert.ok(assertions > (RUN_SLOW ? 6000 : 2000), `only ${assertions} assertions ran: the suite did not run as planned`);
});
