import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import writeFileAtomic from 'write-file-atomic';
import { mountStats } from './mount-stats.js';
import { registryDir } from './pid-registry.js';

/** Where daemon PID writes its counters when asked (next to its registry record, mode 0600). */
export function statsFile(pid: number): string {
  return join(registryDir(), `stats-${pid}.json`);
}

/**
 * On SIGUSR1 the daemon writes its counters to statsFile(pid): `rdrive stats` sends the signal
 * and reads the file. Written aside and renamed (write-file-atomic, which also gives each write
 * its own temp name when signals come quickly), so a reader never sees half of it; no fsync, the
 * figures are for now, not for after a crash. The file goes when the daemon exits, as its
 * registry record does: left behind, one more piled up for every mount ever asked.
 */
export function serveStatsOnSignal(mountpoint: string, log: Logger): void {
  const file = statsFile(process.pid);
  process.once('exit', () => rmSync(file, { force: true }));
  process.on('SIGUSR1', () => {
    writeFileAtomic(file, JSON.stringify(mountStats.snapshot(mountpoint)), { mode: 0o600, fsync: false })
      .catch((err: Error) => log.warn({ reason: err.message }, 'could not write the stats file'));
  });
}
