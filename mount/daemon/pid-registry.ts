import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeDir } from '../../common/user-dirs.js';
import type { LostUpload } from './mount-daemon.js';
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
    await dropStaleLost(name);
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

/**
 * What a daemon could not upload as it stopped, left for the "rdrive unmount" that waits for it
 * (the daemon has no terminal of its own to say it on). Taken, and removed, by that command.
 */
function lostFile(pid: number): string {
  return join(registryDir(), `daemon-${pid}.lost.json`);
}

export async function recordLost(lost: readonly LostUpload[]): Promise<void> {
  await mkdir(registryDir(), { recursive: true, mode: 0o700 });
  await writeFile(lostFile(process.pid), JSON.stringify(lost), { mode: 0o600 });
}

/** A report of a daemon gone for a minute that no "rdrive unmount" took (it was stopped otherwise). */
async function dropStaleLost(name: string): Promise<void> {
  const match = /^daemon-(\d+)\.lost\.json$/.exec(name);
  if (match === null || isAlive(Number(match[1]))) return;
  const file = join(registryDir(), name);
  const age = Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? Date.now());
  if (age > 60_000) await rm(file, { force: true });
}

export async function takeLost(pid: number): Promise<LostUpload[]> {
  const text = await readFile(lostFile(pid), 'utf8').catch(() => undefined);
  if (text === undefined) return [];
  await rm(lostFile(pid), { force: true });
  try {
    const value = JSON.parse(text) as LostUpload[];
    return Array.isArray(value) ? value.filter((l) => typeof l?.path === 'string' && typeof l.message === 'string') : [];
  } catch {
    return [];
  }
}
