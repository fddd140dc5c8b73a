import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { ensureDirSync } from '../common/ensure-dir.js';

const REDACT = ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization'];

/** The server's root logger: structured lines in <logs>/server.log, secrets redacted. */
export function createServerLogger(logsDir: string, level: string): Logger {
  ensureDirSync(logsDir);
  return pino(
    { level, base: { pid: process.pid, side: 'server' }, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.destination({ dest: join(logsDir, 'server.log'), sync: false }),
  );
}
