import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * What a test file started and must not outlive it. The test runner SIGTERMs a file that runs
 * past its timeout, and `after` hooks do not run then: without this, its servers and mount
 * daemons would live on and its mounts stay in the mount table, slowing or hanging what runs
 * next. Everything here is synchronous, as it runs while the process is going down.
 */
const children = new Set<ChildProcess>();
const mounts = new Set<string>();
const dirs = new Set<string>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', reap);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      reap();
      process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1));
    });
  }
}

function reap(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const mnt of mounts) spawnSync('fusermount', ['-uz', mnt], { stdio: 'ignore', timeout: 5_000 });
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A mount we did not know of, its daemon gone (ENOTCONN): leave the folder, the process must end.
    }
  }
  children.clear();
  mounts.clear();
  dirs.clear();
}

/** Kills `child` if the test process dies first; forgets it once it exits. */
export function reapChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Lazily unmounts `path` if the test process dies first; the returned function forgets it. */
export function reapMount(path: string): () => void {
  install();
  mounts.add(path);
  return () => mounts.delete(path);
}

/** Removes `dir` if the test process dies first; the returned function forgets it. */
export function reapDir(dir: string): () => void {
  install();
  dirs.add(dir);
  return () => dirs.delete(dir);
}
