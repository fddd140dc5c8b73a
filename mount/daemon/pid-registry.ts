import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeDir } from '../../common/user-dirs.js';
import type { MountEntry } from './mount-table.js';

/** Where each running mount records its pid, so `rdrive unmount` can stop it cleanly. */
export function registryDir(): string {
  // Without a runtime dir, a per-user folder in /tmp: stale pids must not outlive a reboot.
  return runtimeDir() ?? join(tmpdir(), `rdrive-${process.getuid?.() ?? 0}`);
}

export function defaultPidFile(mountpoint: string): string {
  return join(registryDir(), `mount-${createHash('sha256').update(mountpoint).digest('hex').slice(0, 16)}.pid`);
}

export async function writePid(file: string, pid: number): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  await writeFile(file, `${pid}\n`, { mode: 0o600 });
}

export async function removePid(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** EPERM means the process exists but belongs to someone else: alive all the same. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * What each running daemon records about itself, whatever --pid-file it was given: `rdrive
 * unmount` finds the daemon of a mount here by the mount's identity, not by a file name.
 */
export interface DaemonRecord {
  pid: number;
  mount: MountEntry;
  /** The mark on the hidden names of its deleted-but-open files (see hidden-names.ts). */
  instance?: string;
}

function recordFile(pid: number): string {
  return join(registryDir(), `daemon-${pid}.json`);
}

/** Records this daemon's mount; the record goes away when the process exits, however it ends. */
export async function registerDaemon(mount: MountEntry, instance: string): Promise<void> {
  const file = recordFile(process.pid);
  await mkdir(registryDir(), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify({ pid: process.pid, mount, instance } satisfies DaemonRecord), { mode: 0o600 });
  process.once('exit', () => rmSync(file, { force: true }));
  // Records of daemons killed with -9 went only at an unmount or a sweep: one more per crash.
  await runningDaemons();
}

/**
 * Records of daemons still running (those of dead ones, killed with -9, are removed, and so are
 * the stats files `rdrive stats` had them write).
 */
export async function runningDaemons(): Promise<DaemonRecord[]> {
  const names = await readdir(registryDir()).catch(() => [] as string[]);
  const out: DaemonRecord[] = [];
  for (const name of names) {
    const stats = /^stats-(\d+)\.json$/.exec(name);
    if (stats !== null && !isAlive(Number(stats[1]))) await rm(join(registryDir(), name), { force: true });
    const match = /^daemon-(\d+)\.json$/.exec(name);
    if (match === null) continue;
    const record = parseRecord(await readFile(join(registryDir(), name), 'utf8').catch(() => ''));
    if (record === undefined || record.pid !== Number(match[1])) continue;
    if (isAlive(record.pid)) out.push(record);
    else await rm(join(registryDir(), name), { force: true });
  }
  return out;
}

function parseRecord(text: string): DaemonRecord | undefined {
  try {
    const value = JSON.parse(text) as DaemonRecord;
    return Number.isSafeInteger(value.pid) && typeof value.mount?.mountpoint === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
