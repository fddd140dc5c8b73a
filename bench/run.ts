import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ok } from '../test/helpers/mount-process.js';
import { makeTempDir } from '../test/helpers/tmp.js';
import { localTarget, rdriveTarget, sshfsTarget, type Target } from './peers.js';

interface Row {
  workload: string;
  unit: 'MB/s' | 'files/s';
  values: Record<string, number>;
}

const { values: opts } = parseArgs({ options: { size: { type: 'string', default: '512' }, files: { type: 'string', default: '1000' } } });
const sizeMiB = Number(opts.size);
const fileCount = Number(opts.files);

async function timed(command: string): Promise<number> {
  const started = performance.now();
  await ok(command, { timeoutMs: 600_000 });
  return (performance.now() - started) / 1000;
}

/** Every workload on one target; returns workload → rate (higher is better). */
async function runWorkloads(target: Target, sources: { big: string; small: string }): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const d = target.dir;
  out['large write (fsync)'] = sizeMiB / (await timed(`dd if=${sources.big} of=${d}/big bs=1M conv=fsync status=none`));
  await target.coldCache();
  out['large read (cold)'] = sizeMiB / (await timed(`dd if=${target.dir}/big of=/dev/null bs=1M status=none`));
  out[`${fileCount} small files: copy in`] = fileCount / (await timed(`cp -r ${sources.small} ${target.dir}/small`));
  await target.coldCache();
  out[`${fileCount} small files: ls -l`] = fileCount / (await timed(`ls -l ${target.dir}/small > /dev/null`));
  out[`${fileCount} small files: read back`] = fileCount / (await timed(`cat ${target.dir}/small/* > /dev/null`));
  out[`${fileCount} small files: remove`] = fileCount / (await timed(`rm -r ${target.dir}/small ${target.dir}/big`));
  return out;
}

function format(rows: Row[]): string {
  const header = ['workload', 'unit', 'local', 'rdrive', 'sshfs', 'rdrive/sshfs', 'rdrive/local'];
  const lines = rows.map((r) => {
    const { local = NaN, rdrive = NaN, sshfs = NaN } = r.values;
    return [r.workload, r.unit, local.toFixed(1), rdrive.toFixed(1), sshfs.toFixed(1), (rdrive / sshfs).toFixed(2), (rdrive / local).toFixed(2)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

async function main(): Promise<void> {
  const tmp = await makeTempDir('rdrive-bench-');
  const targets: Target[] = [];
  try {
    const sources = { big: join(tmp.path, 'big.src'), small: join(tmp.path, 'small') };
    process.stderr.write(`bench: preparing a ${sizeMiB} MiB file and ${fileCount} files of 4 KiB\n`);
    await ok(`head -c ${sizeMiB * 1024 * 1024} /dev/urandom > ${sources.big}`);
    await mkdir(sources.small);
    await ok(`cd ${sources.small} && for i in $(seq 1 ${fileCount}); do head -c 4096 /dev/urandom > f$i; done`);
    targets.push(await localTarget(tmp.path), await rdriveTarget(), await sshfsTarget(tmp.path));
    const results: Record<string, Record<string, number>> = {};
    for (const target of targets) {
      process.stderr.write(`bench: running on ${target.name}\n`);
      results[target.name] = await runWorkloads(target, sources);
    }
    const rows: Row[] = Object.keys(results.local!).map((workload) => ({
      workload,
      unit: workload.startsWith('large') ? 'MB/s' : 'files/s',
      values: Object.fromEntries(targets.map((t) => [t.name, results[t.name]![workload]!])),
    }));
    const table = format(rows);
    process.stdout.write(`\nrdrive benchmark (higher is better; ratios > 1 mean rdrive is faster)\n\n${table}\n`);
    await mkdir('bench-results', { recursive: true });
    await writeFile(join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ sizeMiB, fileCount, rows }, null, 2));
  } finally {
    for (const target of targets.reverse()) await target.stop().catch(() => undefined);
    await tmp.remove();
  }
}

await main();
