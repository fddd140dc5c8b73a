import { dirname } from 'node:path';
import pino, { type Logger, type LevelWithSilent } from 'pino';
import { ensureDirSync } from '../common/ensure-dir.js';

/** Fields that must never reach a log line. */
export const REDACT_PATHS = ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'headers.authorization'];

/** The client's root logger (mount daemon and CLI), writing to `file` (default logs/client.log). */
export function createClientLogger(file: string, level: LevelWithSilent = 'info'): Logger {
  ensureDirSync(dirname(file));
  return pino(
    { level, base: { pid: process.pid, side: 'client' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    pino.destination({ dest: file, sync: false }),
  );
}
