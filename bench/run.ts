import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ok } from '../test/helpers/mount-process.js';
import { makeTempDir } from '../test/helpers/tmp.js';
import { lowLevelBuilt } from './lowlevel/addon.js';
import { localTarget, nullTarget, rdriveTarget, sshfsTarget, type Target } from './peers.js';

/**
 * `npm run bench`: the same workloads on local disk, rdrive (default and --sync), sshfs and a
 * null FUSE filesystem (the binding's floor), in several interleaved rounds (the order of the
 * targets rotates each round), so a noisy machine hits all of them alike. Every figure is a rate
 * (higher is better); ratios are computed per round, then the median is taken.
 * Options: --rounds N (3), --size MiB (256), --files N (1000), --quick (1 round, 64 MiB,
 * 300 files, no 100,000-entry folder).
 */
const { values: opts } = parseArgs({
  options: {
    size: { type: 'string' },
    files: { type: 'string' },
    rounds: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const quick = opts.quick === true;
const sizeMiB = Number(opts.size ?? (quick ? 64 : 256));
const fileCount = Number(opts.files ?? (quick ? 300 : 1000));
const rounds = Number(opts.rounds ?? (quick ? 1 : 3));
const listSizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
const FM_FILES = 200;
const FM_BYTES = 64 * 1024;
const FIND_DIRS = 100;
const FIND_PER_DIR = 100;

interface Sources {
  big: string;
  small: string;
  tarball: string;
  tarEntries: number;
  repo: string;
  repoFiles: number;
}

type Rates = Record<string, number>;

async function timed(command: string): Promise<number> {
  const started = performance.now();
  await ok(command, { timeoutMs: 1_800_000 });
  return (performance.now() - started) / 1000;
}

/** One round of every workload on one target; workload → rate. */
async function runWorkloads(t: Target, src: Sources): Promise<Rates> {
  const out: Rates = {};
  const note = (name: string, count: number, seconds: number): void => {
    out[name] = count / seconds;
    process.stderr.write(`bench:   ${t.name.padEnd(11)} ${name.padEnd(34)} ${seconds.toFixed(2)} s\n`);
  };
  const small = `${fileCount} small files`;
  if (t.writes) {
    note('large write (fsync), MB', sizeMiB, await timed(`dd if=${src.big} of=${t.dir}/big bs=1M conv=fsync status=none`));
    await t.coldCache();
    note('large read (cold), MB', sizeMiB, await timed(`dd if=${t.dir}/big of=/dev/null bs=1M status=none`));
    note(`${small}: copy in`, fileCount, await timed(`cp -r ${src.small} ${t.dir}/small`));
    // rsync's receiver writes a temp name, reads it back, sets times and mode, renames it.
    note(`${small}: rsync -a in`, fileCount, await timed(`rsync -a ${src.small}/ ${t.dir}/rsync/`));
    await ok(`rm -rf ${t.dir}/rsync`);
  }
  if (t.reads) {
    await t.coldCache();
    note(`${small}: ls -l (cold)`, fileCount, await timed(`ls -l ${t.dir}/small > /dev/null`));
    note(`${small}: read back (cold)`, fileCount, await timed(`cat ${t.dir}/small/* > /dev/null`));
  }
  if (t.writes) {
    note(`${small}: remove`, fileCount, await timed(`rm -r ${t.dir}/small ${t.dir}/big`));
    await ok(`mkdir ${t.dir}/tree`);
    note('tar x node_modules', src.tarEntries, await timed(`tar xf ${src.tarball} -C ${t.dir}/tree`));
    note('git clone (local repo)', src.repoFiles, await timed(`git clone -q --no-hardlinks file://${src.repo} ${t.dir}/clone`));
  }
  if (t.writes && t.reads) {
    await t.coldCache();
    note('tar c node_modules (cold)', src.tarEntries, await timed(`tar cf - -C ${t.dir}/tree . | wc -c > /dev/null`));
    await t.coldCache();
    note('grep -r node_modules (cold)', src.tarEntries, await timed(`grep -r -l -F require ${t.dir}/tree > /dev/null`));
  }
  if (t.writes) await ok(`rm -rf ${t.dir}/tree ${t.dir}/clone`);
  if (t.reads) {
    await t.coldCache();
    note(`file manager: ${FM_FILES} files, 4 KiB each`, FM_FILES, await timed(fileManagerPass(`${t.fixtures}/fm`)));
    await t.coldCache();
    note(`find + stat ${FIND_DIRS * FIND_PER_DIR} files (cold)`, FIND_DIRS * FIND_PER_DIR, await timed(`find ${t.fixtures}/find -printf '%s %T@\\n' > /dev/null`));
    for (const n of listSizes) {
      await t.coldCache();
      note(`ls -l ${n} entries (cold)`, n, await timed(`ls -l ${t.fixtures}/ls${n} > /dev/null`));
    }
  }
  return out;
}

/** What a file manager does on opening a folder: list it, stat every entry, read each file's first 4 KiB. */
function fileManagerPass(dir: string): string {
  const script = 'import os,sys\nd=sys.argv[1]\nfor n in sorted(os.listdir(d)):\n  p=os.path.join(d,n); os.stat(p)\n  with open(p,"rb") as f: f.read(4096)\n';
  return `python3 -c '${script}' ${dir}`;
}

/** Creates the read-only fixtures straight on the target's backing store (fast, uncounted). */
function makeFixtures(root: string): void {
  mkdirSync(join(root, 'fm'), { recursive: true });
  for (let i = 1; i <= FM_FILES; i++) writeFileSync(join(root, 'fm', `f${i}`), randomBytes(FM_BYTES));
  for (let d = 1; d <= FIND_DIRS; d++) {
    const dir = join(root, 'find', `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= FIND_PER_DIR; i++) writeFileSync(join(dir, `f${i}`), '');
  }
  for (const n of listSizes) {
    mkdirSync(join(root, `ls${n}`), { recursive: true });
    for (let i = 1; i <= n; i++) writeFileSync(join(root, `ls${n}`, `f${i}`), '');
  }
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 100 ? n.toFixed(0) : n.toFixed(n >= 10 ? 1 : 2);
}

/** Per-round ratio a/b, then min / median / max over the rounds. */
function ratio(perRound: Rates[], a: string, b: string, workload: string): { median: number; min: number; max: number } {
  const values = perRound.map((r) => (r[`${a}|${workload}`] ?? NaN) / (r[`${b}|${workload}`] ?? NaN)).filter(Number.isFinite);
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

function table(perRound: Rates[], workloads: string[], names: string[]): string {
  const header = ['workload (rate, higher is better)', ...names, 'rdrive/sshfs (min-max)', 'sync/sshfs', 'rdrive/null', 'null-ll/null'];
  const lines = workloads.map((w) => {
    const r = ratio(perRound, 'rdrive', 'sshfs', w);
    const sync = ratio(perRound, 'rdrive-sync', 'sshfs', w);
    const floor = ratio(perRound, 'rdrive', 'null', w);
    const binding = ratio(perRound, 'null-ll', 'null', w);
    return [
      w,
      ...names.map((n) => fmt(median(perRound.map((x) => x[`${n}|${w}`] ?? NaN)))),
      Number.isFinite(r.median) ? `${r.median.toFixed(2)} (${r.min.toFixed(2)}-${r.max.toFixed(2)})` : '-',
      Number.isFinite(sync.median) ? sync.median.toFixed(2) : '-',
      Number.isFinite(floor.median) ? floor.median.toFixed(2) : '-',
      Number.isFinite(binding.median) ? binding.median.toFixed(2) : '-',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [row(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row)].join('\n');
}

/** How listing time grows with the folder: t(10k)/t(1k) and t(100k)/t(10k), medians per target. */
function growth(perRound: Rates[], names: string[]): string {
  const lines: string[] = [];
  for (const n of names) {
    const time = (size: number): number => median(perRound.map((r) => size / (r[`${n}|ls -l ${size} entries (cold)`] ?? NaN)));
    const parts = listSizes.map((s) => `${s}: ${(time(s) * 1000).toFixed(0)} ms`);
    const factors = listSizes.slice(1).map((s, i) => `x${(time(s) / time(listSizes[i]!)).toFixed(1)}`);
    if (Number.isFinite(time(listSizes[0]!))) lines.push(`${n.padEnd(11)} ${parts.join(', ')}  (growth ${factors.join(', ')})`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const tmp = await makeTempDir('rdrive-bench-');
  const targets: Target[] = [];
  // Ctrl-C or a kill still unmounts and stops everything this run started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      void (async () => {
        for (const target of [...targets].reverse()) await target.stop().catch(() => undefined);
        await tmp.remove();
        process.exit(130);
      })();
    });
  }
  try {
    const big = join(tmp.path, 'big.src');
    const small = join(tmp.path, 'small');
    process.stderr.write(`bench: ${rounds} round(s); a ${sizeMiB} MiB file, ${fileCount} files of 4 KiB, node_modules as a tree\n`);
    await ok(`head -c ${sizeMiB * 1024 * 1024} /dev/urandom > ${big}`);
    await mkdir(small);
    await ok(`cd ${small} && for i in $(seq 1 ${fileCount}); do head -c 4096 /dev/urandom > f$i; done`);
    const tarball = join(tmp.path, 'tree.tar');
    // Links dereferenced: rdrive (as many network drives) has no hard links.
    await ok(`tar cf ${tarball} --dereference --hard-dereference -C ${process.cwd()} node_modules`);
    const tarEntries = Number((await ok(`tar tf ${tarball} | wc -l`)).trim());
    const repo = join(tmp.path, 'repo.git');
    await ok(`git clone -q --bare ${process.cwd()} ${repo}`);
    const repoFiles = Number((await ok(`git --git-dir=${repo} ls-tree -r HEAD | wc -l`)).trim());
    const sources: Sources = { big, small, tarball, tarEntries, repo, repoFiles };

    const all = [
      await nullTarget(tmp.path, fileCount, FM_BYTES),
      ...(lowLevelBuilt() ? [await nullTarget(tmp.path, fileCount, FM_BYTES, 'lowlevel')] : []),
      await localTarget(tmp.path),
      await rdriveTarget(false),
      await rdriveTarget(true),
      await sshfsTarget(tmp.path),
    ];
    const only = opts.only?.split(',');
    targets.push(...all.filter((t) => only === undefined || only.includes(t.name)));
    for (const t of all) if (!targets.includes(t)) await t.stop();
    process.stderr.write('bench: creating fixtures on the backing stores\n');
    for (const t of targets) if (t.backing !== undefined && t.reads) makeFixtures(t.backing);
    const perRound: Rates[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      process.stderr.write(`bench: round ${round + 1}/${rounds}: ${order.map((t) => t.name).join(', ')}\n`);
      const rates: Rates = {};
      for (const t of order) {
        const r = await runWorkloads(t, sources);
        for (const [w, v] of Object.entries(r)) rates[`${t.name}|${w}`] = v;
      }
      perRound.push(rates);
    }
    const names = targets.map((t) => t.name);
    // Rows in the order rdrive runs them (it runs every workload), then any others.
    const keys = perRound.flatMap((r) => Object.keys(r));
    const workloads = [...new Set([...keys.filter((k) => k.startsWith('rdrive|')), ...keys].map((k) => k.slice(k.indexOf('|') + 1)))];
    const out = [
      `rdrive benchmark: medians of ${rounds} interleaved round(s); rates (MB/s, files/s, entries/s), higher is better`,
      'ratios: per round, then the median (min-max over the rounds); > 1 means rdrive is faster',
      '',
      table(perRound, workloads, names),
      '',
      'ls -l growth (median times):',
      growth(perRound, names),
    ].join('\n');
    process.stdout.write(`\n${out}\n`);
    await mkdir('bench-results', { recursive: true });
    await writeFile(join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ sizeMiB, fileCount, rounds, perRound }, null, 2));
  } finally {
    for (const target of targets.reverse()) await target.stop().catch(() => undefined);
    await tmp.remove();
  }
}

await main();
