import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { isMounted } from '../../mount/daemon/preflight.js';
import { CLIENT_BIN } from './server-process.js';
import { reapChild, reapMount } from './reaper.js';
import { makeTempDir } from './tmp.js';

const execFileP = promisify(execFile);

export interface TestMount {
  /** The mountpoint. */
  path: string;
  logFile: string;
  process: ChildProcess;
  stderr: () => string;
  /** What the mount wrote on stdout, its ready line included. */
  stdout: () => string;
  /** SIGTERM the daemon (it uploads what is dirty and unmounts); fusermount -uz if it hangs. */
  unmount: () => Promise<void>;
  cleanup: () => Promise<void>;
}

/** Mounts as a user does: the daemon is its own process (a sync fs call on the mount from the daemon's own process would deadlock). */
export async function startMount(url: string, user: string, password: string, args: string[] = []): Promise<TestMount> {
  const tmp = await makeTempDir('rdrive-mount-');
  const path = join(tmp.path, 'mnt');
  await mkdir(path);
  const logFile = join(tmp.path, 'client.log');
  const proc = spawn(process.execPath, [CLIENT_BIN, 'mount', url, path, '--user', user, '--log-file', logFile, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RDRIVE_PASSWORD: password },
  });
  reapChild(proc);
  const forgetMount = reapMount(path);
  let stderrText = '';
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => { stderrText += d; });
  const lines = createInterface({ input: proc.stdout! });
  let stdoutText = '';
  lines.on('line', (line: string) => { stdoutText += `${line}\n`; });
  try {
    await Promise.race([
      once(lines, 'line'),
      once(proc, 'exit').then(([code]) => { throw new Error(`mount exited with ${String(code)}: ${stderrText}`); }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`mount not ready in 20 s: ${stderrText}`)), 20_000).unref()),
    ]);
  } catch (err) {
    proc.kill('SIGKILL');
    await forceUnmount(path);
    await tmp.remove();
    throw err;
  }
  const unmount = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await forceUnmount(path);
    forgetMount();
  };
  return {
    path,
    logFile,
    process: proc,
    stderr: () => stderrText,
    stdout: () => stdoutText,
    unmount,
    cleanup: async () => {
      await unmount();
      await tmp.remove();
    },
  };
}

export async function forceUnmount(path: string): Promise<void> {
  if (await isMounted(path)) await execFileP('fusermount', ['-uz', path]).catch(() => undefined);
}

// The product's own check (mountinfo), so tests and mount agree on what "mounted" means.
export { isMounted };

export interface ShellResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a shell command (tools like cp, rsync, git act on the mount from another process). */
export async function sh(command: string, options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ShellResult> {
  try {
    const { stdout, stderr } = await execFileP('bash', ['-c', command], {
      cwd: options.cwd,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...options.env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** Like sh but fails the test with the command's stderr when it exits non-zero. */
export async function ok(command: string, options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const res = await sh(command, options);
  if (res.code !== 0) throw new Error(`"${command}" exited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

/** Whether process `pid` still exists (signal 0 only checks). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
