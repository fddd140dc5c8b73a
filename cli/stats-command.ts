import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { RdriveError } from '../common/errors.js';
import type { StatsSnapshot } from '../mount/daemon/mount-stats.js';
import { findMount, sameMount } from '../mount/daemon/mount-table.js';
import { runningDaemons } from '../mount/daemon/pid-registry.js';
import { statsFile } from '../mount/daemon/stats-file.js';

/** `rdrive stats MOUNTPOINT`: the daemon's counters (it writes them on SIGUSR1). */
export function registerStatsCommand(program: Command): void {
  program.command('stats')
    .description('show a mount\'s own counters: requests, cache hits, bytes, errors, uploads pending')
    .argument('<mountpoint>')
    .option('--json', 'print the counters as JSON')
    .action(async (mountpoint: string, flags: { json?: boolean }) => {
      const stats = await fetchStats(resolve(mountpoint));
      process.stdout.write(flags.json === true ? `${JSON.stringify(stats)}\n` : formatStats(stats));
    });
}

async function fetchStats(mnt: string): Promise<StatsSnapshot> {
  const mount = await findMount(mnt);
  if (mount === undefined || mount.fstype !== 'fuse.rdrive') throw new RdriveError('EINVAL', `${mnt} is not an rdrive mount`);
  const daemon = (await runningDaemons()).find((d) => sameMount(d.mount, mount) && d.mount.mountpoint === mnt);
  if (daemon === undefined) throw new RdriveError('ENOENT', `No rdrive daemon of yours serves ${mnt} (mounted by another user?)`);
  const file = statsFile(daemon.pid);
  await rm(file, { force: true });
  process.kill(daemon.pid, 'SIGUSR1');
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) return JSON.parse(text) as StatsSnapshot;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new RdriveError('ETIMEDOUT', `The daemon of ${mnt} (pid ${daemon.pid}) did not answer within 5 s: see its log`);
}

function formatStats(s: StatsSnapshot): string {
  const lookups = s.cacheHits + s.cacheMisses;
  const hitRate = lookups === 0 ? '-' : `${Math.round((100 * s.cacheHits) / lookups)}%`;
  const list = (counts: Record<string, number>): string =>
    Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `mount          ${s.mountpoint} (daemon pid ${s.pid}, since ${s.since})`,
    `requests       ${s.requests} to the server, ${s.requestErrors} answered with an error`,
    `attr cache     ${s.cacheHits} hits, ${s.cacheMisses} misses (${hitRate} hits)`,
    `bytes          ${s.bytesRead} read, ${s.bytesWritten} written`,
    `open files     ${s.openFiles}, uploads pending ${s.uploadsPending}`,
    `operations     ${list(s.ops)}`,
    `errors         ${list(s.errors)}`,
    '',
  ].join('\n');
}
