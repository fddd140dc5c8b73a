import { readdir, readFile, readlink } from 'node:fs/promises';

/** A process that keeps a mount busy, and how (cwd, an open file, a mapped file...). */
export interface MountUser {
  pid: number;
  command: string;
  uses: string[];
}

/** True when `path` is `mnt` or lies below it. */
export function isUnder(path: string, mnt: string): boolean {
  return path === mnt || path.startsWith(mnt.endsWith('/') ? mnt : `${mnt}/`);
}

/**
 * The processes whose working directory, root, executable, open files or mapped files lie on
 * the mount, as `fuser -m` finds them. Only readlink and /proc text are used: nothing here
 * touches the mount itself (a stat on a hung FUSE mount would hang). Processes of other users
 * cannot be inspected without privileges and are not listed.
 */
export async function processesUsing(mnt: string, exclude: readonly number[] = [process.pid]): Promise<MountUser[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  const out: MountUser[] = [];
  for (const pid of pids) {
    if (exclude.includes(pid)) continue;
    const uses = await usesOf(pid, mnt);
    if (uses.length === 0) continue;
    const command = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    out.push({ pid, command, uses });
  }
  return out;
}

async function usesOf(pid: number, mnt: string): Promise<string[]> {
  const uses = new Set<string>();
  for (const link of ['cwd', 'root', 'exe']) {
    const target = await readlink(`/proc/${pid}/${link}`).catch(() => undefined);
    if (target !== undefined && isUnder(target, mnt)) uses.add(link === 'exe' ? 'runs a program' : link === 'cwd' ? 'working directory' : 'root');
  }
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => undefined);
    if (target !== undefined && isUnder(target.replace(/ \(deleted\)$/, ''), mnt)) uses.add('open file');
  }
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
  for (const line of maps.split('\n')) {
    const file = line.split(/\s+/).slice(5).join(' ');
    if (file.startsWith('/') && isUnder(file, mnt)) uses.add('mapped file');
  }
  return [...uses];
}

/** "1234 (bash: working directory), 5678 (less: open file)". */
export function describeUsers(users: readonly MountUser[]): string {
  return users.map((u) => `${u.pid} (${u.command}: ${u.uses.join(', ')})`).join(', ');
}
