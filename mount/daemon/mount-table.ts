import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** One line of /proc/self/mountinfo: enough to tell one mount from another at the same path. */
export interface MountEntry {
  /** Unique among the mounts that exist now (field 1). */
  mountId: number;
  /** major:minor of the mounted filesystem: each FUSE mount gets a fresh one (field 3). */
  dev: string;
  mountpoint: string;
  /** e.g. "fuse.rdrive". */
  fstype: string;
}

/** Parses /proc/self/mountinfo text (pure, unit-tested). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // Fields: id parent major:minor root mountpoint options [optional…] - fstype source superopts
    const fields = line.split(' ');
    const fstype = line.split(' - ')[1]?.split(' ')[0];
    if (fields.length < 5 || fstype === undefined) continue;
    out.push({ mountId: Number(fields[0]), dev: fields[2]!, mountpoint: unescapeMountPath(fields[4]!), fstype });
  }
  return out;
}

/** The mount on top at `mnt` (absolute), undefined when none. */
export async function findMount(mnt: string): Promise<MountEntry | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  // A later line stacks over an earlier one at the same path.
  return parseMountInfo(text).filter((m) => m.mountpoint === mnt).at(-1);
}

/** findMount for a process on its way out (a crash handler cannot wait for promises). */
export function findMountSync(mnt: string): MountEntry | undefined {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    // no /proc: nothing is known to be mounted
  }
  return parseMountInfo(text).filter((m) => m.mountpoint === mnt).at(-1);
}

/** True when `a` and `b` are the same mount (not merely one at the same path). */
export function sameMount(a: MountEntry | undefined, b: MountEntry | undefined): boolean {
  return a !== undefined && b !== undefined && a.mountId === b.mountId && a.dev === b.dev;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}
