import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import pino, { type Logger } from 'pino';

/** Exit status of a daemon that crashed (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/**
 * A bug that escapes every handler must not leave a dead mount behind (every access would fail
 * with "Transport endpoint is not connected" until someone unmounts it by hand): log it, detach
 * the mount, remove the pid file, exit. Changes not yet uploaded are lost with the process, as
 * in any crash; what close() confirmed is on the server.
 */
export function unmountOnCrash(mountpoint: string, pidFile: string, log: Logger): void {
  let crashed = false;
  const crash = (err: unknown, kind: string): void => {
    if (crashed) return;
    crashed = true;
    log.fatal({ err, kind, mountpoint }, 'mount daemon crashed; unmounting');
    flushLog(log);
    try {
      execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already gone, or fusermount missing: nothing more to do on the way out
    }
    rmSync(pidFile, { force: true });
    const reason = err instanceof Error ? err.message : String(err);
    process.stderr.write(`rdrive: the mount daemon crashed (${reason}); ${mountpoint} was unmounted. Details in the log.\n`);
    process.exit(CRASH_EXIT_CODE);
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaughtException'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandledRejection'));
}

/** The async destination keeps lines in memory; a process about to exit writes them now. */
function flushLog(log: Logger): void {
  const stream = (log as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pino.symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // nothing was buffered, or the file is gone
  }
}
