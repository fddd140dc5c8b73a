import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sh } from './mount-process.js';
import { REPO_ROOT } from './server-process.js';
import { makeTempDir } from './tmp.js';

/**
 * pjdfstest (the POSIX filesystem conformance suite) built from the shared tarball, never copied
 * into the repository: see ../shared/tools/README.md. The build is cached under /tmp keyed by
 * the tarball's hash, so only the first run on a machine pays for autoreconf and make.
 */
const TARBALL_NAME = 'pjdfstest-85a8aea.tar.gz';
const TARBALL_CANDIDATES = [
  process.env.RDRIVE_PJDFSTEST_TARBALL,
  join(REPO_ROOT, '..', 'shared', 'tools', TARBALL_NAME),
  join(REPO_ROOT, '..', '..', 'shared', 'tools', TARBALL_NAME),
].filter((p): p is string => p !== undefined && p !== '');

/** The built suite: its `tests/` folder, or why it could not be built (the caller skips). */
export type PjdfstestBuild = { tests: string } | { unavailable: string };

export async function buildPjdfstest(): Promise<PjdfstestBuild> {
  const tarball = TARBALL_CANDIDATES.find((p) => existsSync(p));
  if (tarball === undefined) return { unavailable: `pjdfstest tarball not found (looked in ${TARBALL_CANDIDATES.join(', ')}; set RDRIVE_PJDFSTEST_TARBALL)` };
  const hash = createHash('sha256').update(await readFile(tarball)).digest('hex').slice(0, 16);
  const cache = `/tmp/rdrive-pjdfstest-${hash}`;
  if (existsSync(join(cache, 'pjdfstest', 'pjdfstest'))) return { tests: join(cache, 'pjdfstest', 'tests') };
  const tools = await sh('command -v autoreconf && command -v make && command -v cc && command -v prove');
  if (tools.code !== 0) {
    // Installed when missing, as scripts/test.sh does for a fresh machine.
    const install = await sh('apt-get install -y -qq autoconf automake build-essential >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq autoconf automake build-essential)', { timeoutMs: 300_000 });
    if (install.code !== 0) return { unavailable: `build tools for pjdfstest (autoconf automake build-essential) could not be installed: ${install.stderr.slice(-300)}` };
  }
  const tmp = await makeTempDir('rdrive-pjdfstest-build-');
  try {
    const build = await sh(`tar xzf '${tarball}' -C '${tmp.path}' && cd '${tmp.path}/pjdfstest' && autoreconf -ifs && ./configure && make pjdfstest`, { timeoutMs: 300_000 });
    if (build.code !== 0) return { unavailable: `pjdfstest did not build: ${build.stderr.slice(-500)}` };
    // Another test process may have built it meanwhile: the first rename wins, both are equal.
    await rename(tmp.path, cache).catch(() => undefined);
  } finally {
    await rm(tmp.path, { recursive: true, force: true });
  }
  return { tests: join(cache, 'pjdfstest', 'tests') };
}

export interface TapResult {
  file: string;
  planned: number;
  /** Numbers of the assertions that failed, plus those planned but never reached. */
  failed: number[];
  /** `not ok` lines as printed, for messages. */
  details: string[];
}

/** Runs one pjdfstest file (as root, in `cwd`) and reads its TAP output. */
export async function runPjdfstestFile(tests: string, file: string, cwd: string, timeoutMs: number): Promise<TapResult> {
  const res = await sh(`sh '${join(tests, file)}'`, { cwd, timeoutMs });
  return parseTap(file, res.stdout);
}

export function parseTap(file: string, output: string): TapResult {
  let planned = 0;
  const seen = new Set<number>();
  const failed: number[] = [];
  const details: string[] = [];
  for (const line of output.split('\n')) {
    const plan = /^1\.\.(\d+)/.exec(line);
    if (plan !== null) planned = Number(plan[1]);
    const result = /^(not )?ok (\d+)/.exec(line);
    if (result === null) continue;
    const n = Number(result[2]);
    seen.add(n);
    // "not ok N # TODO" marks behaviour POSIX leaves open: prove counts it as passed.
    if (result[1] !== undefined && !line.includes('# TODO')) {
      failed.push(n);
      details.push(line);
    }
  }
  for (let n = 1; n <= planned; n++) {
    if (!seen.has(n)) {
      failed.push(n);
      details.push(`not run: ${n}`);
    }
  }
  return { file, planned, failed, details };
}

