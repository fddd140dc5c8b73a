import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where each running mount records its pid, so `rdrive unmount` can stop it cleanly. */
function registryDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime !== undefined && runtime !== '' ? join(runtime, 'rdrive') : join(tmpdir(), `rdrive-${process.getuid?.() ?? 0}`);
}

export function defaultPidFile(mountpoint: string): string {
  return join(registryDir(), `mount-${createHash('sha256').update(mountpoint).digest('hex').slice(0, 16)}.pid`);
}

export async function writePid(file: string, pid: number): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  await writeFile(file, `${pid}\n`, { mode: 0o600 });
}

export async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
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
