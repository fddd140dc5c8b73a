import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** An X server without a screen (Xvfb): it picks a free display number itself (-displayfd). */
export async function startXvfb(): Promise<{ display: string; stop: () => Promise<void> }> {
  const proc = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = createInterface({ input: proc.stdout! });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(proc, 'exit').then(([code]) => { throw new Error(`Xvfb exited with ${String(code)}`); }),
    sleep(20_000).then(() => { throw new Error('Xvfb did not start in 20 s'); }),
  ])) as [string];
  return { display: `:${line.trim()}`, stop: () => stopProcess(proc) };
}

export interface FileManagerRun {
  /** ms from asking for the folder to its window being shown. */
  windowMs: number;
  /** ms from asking for the folder to the file manager's last access to a file in it. */
  displayMs: number;
  /** Files of the folder it opened at least once, and its opens in all (sniffing, thumbnails). */
  filesOpened: number;
  opens: number;
}

/**
 * A file manager (pcmanfm) as a desktop runs it, in its own D-Bus session (so GIO's helpers,
 * gvfsd and gvfsd-trash, start as on a desktop and end with it), with a fresh home: no
 * thumbnail cache, no settings from an earlier run.
 */
export class FileManagerSession {
  private session: ChildProcess | undefined;

  private constructor(private readonly env: NodeJS.ProcessEnv, private readonly home: string) {}

  /** Starts pcmanfm on `startDir` (a local folder) and waits until its window is up. */
  static async start(display: string, home: string, startDir: string): Promise<FileManagerSession> {
    await rm(home, { recursive: true, force: true });
    const runtime = join(home, 'run');
    await mkdir(runtime, { recursive: true, mode: 0o700 });
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, DISPLAY: display, HOME: home, USER: process.env.USER ?? 'root', LANG: 'C.UTF-8',
      XDG_CACHE_HOME: join(home, '.cache'), XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_RUNTIME_DIR: runtime,
      // gvfsd would mount its own FUSE view of GIO locations in the runtime folder: not needed here.
      GVFS_DISABLE_FUSE: '1',
      NO_AT_BRIDGE: '1',
    };
    const fm = new FileManagerSession(env, home);
    fm.session = spawn('dbus-run-session', ['--', 'pcmanfm', startDir], { env, stdio: 'ignore', detached: true });
    await waitForWindow(env, basename(startDir), 60_000);
    return fm;
  }

  /**
   * Asks the running pcmanfm to show `dir` (a second `pcmanfm DIR` hands it to the first, which
   * opens a window), and measures until the file manager is done with the folder. The signal
   * is what it does to the folder's files, seen by inotify (the same on every filesystem):
   * pcmanfm opens the files whose name does not settle their type to sniff their first bytes,
   * and each image again to make its thumbnail; it is done when its window is up and nothing in
   * the folder was opened, read or closed for `quietMs`. The time is that of the last access.
   */
  async show(dir: string, quietMs: number, timeoutMs = 180_000): Promise<FileManagerRun> {
    const watch = await FolderWatch.start(dir);
    try {
      const started = performance.now();
      const ask = spawn('pcmanfm', [dir], { env: this.env, stdio: 'ignore' });
      const asked = once(ask, 'exit').catch(() => undefined);
      let windowMs: number | undefined;
      let windowError: unknown;
      void waitForWindow(this.env, basename(dir), timeoutMs).then(
        () => { windowMs = performance.now() - started; },
        (err: unknown) => { windowError = err; },
      );
      const deadline = started + timeoutMs;
      while (windowMs === undefined || watch.opens === 0 || performance.now() - watch.lastEventAt < quietMs) {
        if (windowError !== undefined) throw new Error(`no pcmanfm window for ${dir}: ${String(windowError)}`);
        if (performance.now() > deadline) throw new Error(`pcmanfm did not finish with ${dir} in ${timeoutMs} ms (window: ${String(windowMs)}, ${watch.opens} opens)`);
        await sleep(100);
      }
      await asked;
      return { windowMs: windowMs!, displayMs: Math.max(windowMs!, watch.lastEventAt - started), filesOpened: watch.opened.size, opens: watch.opens };
    } finally {
      await watch.stop();
    }
  }

  /** Ends pcmanfm and its D-Bus session (with it gvfsd and the helpers), removes the home. */
  async stop(): Promise<void> {
    const proc = this.session;
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      // The process group this session was started in: pcmanfm and dbus-run-session.
      process.kill(-proc.pid, 'SIGTERM');
      const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.home, { recursive: true, force: true });
  }
}

/** xdotool waits until a visible window whose title is exactly `title` exists. */
async function waitForWindow(env: NodeJS.ProcessEnv, title: string, timeoutMs: number): Promise<void> {
  const pattern = `^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  await execFileP('xdotool', ['search', '--sync', '--onlyvisible', '--name', pattern], { env, timeout: timeoutMs });
}

/** inotify on one folder: which files were opened, how often, and when anything last happened. */
class FolderWatch {
  readonly opened = new Set<string>();
  opens = 0;
  lastEventAt = performance.now();

  private constructor(private readonly proc: ChildProcess) {}

  static async start(dir: string): Promise<FolderWatch> {
    // stdbuf: one line per event as it happens, not a pipe's buffer later.
    const proc = spawn('stdbuf', ['-oL', 'inotifywait', '-m', '-e', 'open', '-e', 'close', '-e', 'access', '--format', '%e %f', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const watch = new FolderWatch(proc);
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      watch.lastEventAt = performance.now();
      const space = line.indexOf(' ');
      const events = line.slice(0, space).split(',');
      const name = line.slice(space + 1);
      if (name !== '' && events.includes('OPEN')) {
        watch.opens++;
        watch.opened.add(name);
      }
    });
    const ready = createInterface({ input: proc.stderr! });
    await Promise.race([
      new Promise<void>((resolve) => ready.on('line', (line) => { if (line.startsWith('Watches established')) resolve(); })),
      once(proc, 'exit').then(([code]) => { throw new Error(`inotifywait exited with ${String(code)}`); }),
    ]);
    return watch;
  }

  stop(): Promise<void> {
    return stopProcess(this.proc);
  }
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
