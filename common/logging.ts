import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import pino, { type Logger } from 'pino';
import { ensureDirSync } from './ensure-dir.js';
import { RdriveError } from './errors.js';
import { stateDir } from './user-dirs.js';
import { type LogRotation, openRotatingLog } from './log-rotation.js';

/** Fields that must never reach a log line, on either side. */
export const REDACT_PATHS = [
  'password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
];

/** pino's levels: what --log-level takes on both sides. */
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A --log-level value checked at start: pino itself would throw a bare, unnamed error. */
export function checkLogLevel(level: string): string {
  const lower = level.toLowerCase();
  if (!LOG_LEVELS.has(lower)) throw new RdriveError('EINVAL', `--log-level must be one of ${[...LOG_LEVELS].join(', ')}, got "${level}"`);
  return lower;
}

/**
 * The root logger of a process (server, mount daemon): structured JSON lines appended to `file`
 * (rotated as `rotation` says: see log-rotation.ts), the side and pid on each, secrets redacted.
 * Writes are asynchronous; `exitOnCrash` flushes them before a crash exit.
 */
export async function createLogger(side: 'server' | 'client', file: string, level: string, rotation: LogRotation): Promise<Logger> {
  ensureDirSync(dirname(file));
  return pino(
    { level, base: { pid: process.pid, side }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    await openRotatingLog(file, rotation),
  );
}

/**
 * Where the client logs unless --log-file says otherwise: the XDG state directory
 * ($XDG_STATE_HOME/rdrive/client.log, by default ~/.local/state/rdrive/client.log), so a log
 * does not appear in whatever folder `rdrive mount` was run from.
 */
export function defaultClientLogFile(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(stateDir(env, home), 'client.log');
}

/** Exit status of a process that crashed (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/**
 * The one crash path of both sides: a bug that escapes every handler is logged as fatal,
 * `cleanup` runs (synchronously: the process is in an unknown state), the person is told on
 * stderr, and the process exits 70 once the log is flushed (or after 1 s if flushing hangs).
 */
export function exitOnCrash(log: Logger, options: { what: string; cleanup?: () => void; tell: (reason: string) => string }): void {
  let crashed = false;
  const crash = (err: unknown, kind: string): void => {
    if (crashed) return;
    crashed = true;
    log.fatal({ err, kind }, `${options.what} crashed`);
    try {
      options.cleanup?.();
    } catch {
      // the way out must not throw again
    }
    process.stderr.write(options.tell(err instanceof Error ? err.message : String(err)));
    setTimeout(() => process.exit(CRASH_EXIT_CODE), 1000).unref();
    log.flush(() => process.exit(CRASH_EXIT_CODE));
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaughtException'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandledRejection'));
}
