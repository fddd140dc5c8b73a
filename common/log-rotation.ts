import { lstatSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import pinoRoll from 'pino-roll';
import { parseByteSize } from './byte-size.js';
import { RdriveError } from './errors.js';

/** How a log file is rotated so that a process left running can never fill the disk. */
export interface LogRotation {
  /** Start a new file once the current one reaches this many bytes; 0: never by size. */
  maxBytes: number;
  /** Rotated files kept besides the current one; older ones are deleted. */
  keep: number;
  /** Also start a new file every hour or day. */
  every: 'hourly' | 'daily' | undefined;
}

/** 10 MiB × (1 current + 5 kept): at most ~60 MiB per log. */
export const LOG_ROTATION_DEFAULTS = { maxSize: '10M', keep: 5 } as const;

/** "10M", "512k", "1G", "4096" (bytes) → bytes (see parseByteSize). */
export function parseLogSize(text: string | number): number {
  return parseByteSize(text, 'log-max-size', 'no size limit');
}

/** The option values (flags or environment, strings) → a validated LogRotation. */
export function resolveLogRotation(options: { maxSize?: string | number | undefined; keep?: string | number | undefined; every?: string | undefined }): LogRotation {
  const maxBytes = parseLogSize(options.maxSize ?? LOG_ROTATION_DEFAULTS.maxSize);
  if (maxBytes !== 0 && maxBytes < 1024) throw new RdriveError('EINVAL', `--log-max-size must be at least 1K (or 0 for no size limit), got "${options.maxSize}"`);
  const keep = Number(options.keep ?? LOG_ROTATION_DEFAULTS.keep);
  if (!Number.isSafeInteger(keep) || keep < 1 || keep > 1000) throw new RdriveError('EINVAL', `--log-keep must be a whole number from 1 to 1000, got "${options.keep}"`);
  const every = options.every === undefined || options.every === '' ? undefined : options.every;
  if (every !== undefined && every !== 'hourly' && every !== 'daily') throw new RdriveError('EINVAL', `--log-rotate must be hourly or daily, got "${every}"`);
  return { maxBytes, keep, every };
}

type RollingStream = Awaited<ReturnType<typeof pinoRoll>>;

/**
 * The numbered file pino-roll writes for `file` (logs/server.log → logs/server.N.log), and a
 * symbolic link at `file` itself that always names the current one, so `tail -F logs/server.log`
 * and anything reading the documented name keep working across rotations.
 */
export async function openRotatingLog(file: string, rotation: LogRotation): Promise<RollingStream> {
  keepLegacyFile(file);
  const stream = await pinoRoll({
    file,
    ...(rotation.maxBytes > 0 ? { size: `${rotation.maxBytes}b` } : {}),
    ...(rotation.every === undefined ? {} : { frequency: rotation.every }),
    // Files left by earlier runs are pruned here (pruneRotated), not by pino-roll's
    // removeOtherLogFiles: that took any name starting with this one's as its own, so a second
    // log beside it (client-mnt2.log beside client-mnt.log) lost its link and files.
    limit: { count: rotation.keep },
    mkdir: true,
    // Lines name users, paths and client addresses: for the owner's eyes (as /var/log/auth.log).
    mode: 0o600,
    sync: false,
    // Lines are still written as they come (each is longer than 1 byte), but with a minLength
    // above 0 sonic-boom's flush(cb) waits for the write and an fsync: a crash exit and a test
    // reading the file right after flush then see every line (with 0 it calls back at once).
    minLength: 1,
    maxLength: HELD_LOG_BYTES,
  });
  survivesWriteFailures(stream);
  const point = (): void => {
    pointLinkAt(file, stream.file);
    pruneRotated(file, rotation.keep, stream.file);
  };
  stream.on('ready', point);
  if (stream.fd >= 0) point();
  else await opened(stream);
  if (rotation.maxBytes > 0) rollWhenStarved(stream, rotation.maxBytes);
  return stream;
}

/** Log lines held in memory while the log cannot be written; newer ones are dropped beyond it. */
const HELD_LOG_BYTES = 16 * 1024 ** 2;

/**
 * A log that cannot be written (its disk full, its folder read-only) must cost log lines, never
 * the service. sonic-boom reports such a failure as an 'error' event, which unheard is an
 * uncaught exception, and the crash path's fatal line then runs its flushSync, which retries a
 * write failing with anything but EAGAIN forever, 100 ms at a time, with the event loop blocked:
 * a full log disk froze the server (or a mount) for good, neither answering nor exiting. So the
 * failure is heard and said once on stderr; the lines wait (up to HELD_LOG_BYTES) and go out
 * with the next write that succeeds; and flushSync is not used (the crash path's asynchronous
 * flush, bounded by its timer, writes the fatal line).
 */
function survivesWriteFailures(stream: RollingStream): void {
  let failing = false;
  // Before the first open, a failure is the open's own, which openRotatingLog reports (opened).
  let open = stream.fd >= 0;
  stream.on('ready', () => {
    open = true;
  });
  stream.on('error', (err: Error) => {
    if (!open) return;
    if (!failing) process.stderr.write(`rdrive: cannot write the log ${stream.file} (${err.message}); its lines wait in memory until it can\n`);
    failing = true;
  });
  stream.on('write', () => {
    failing = false;
  });
  stream.flushSync = () => undefined;
}

/**
 * pino-roll starts the next file only once the writer has caught up with the lines ('drain'):
 * under a steady stream of lines it never does, and one file took all of a flood of requests
 * (an unauthenticated client sending long paths made one of 240 MB against a 10 MB limit; the
 * disk was the bound). At twice the limit the next file is opened here: sonic-boom's reopen
 * waits for the write in flight, and pino-roll, once it catches up, reopens that same name.
 */
function rollWhenStarved(stream: RollingStream, maxBytes: number): void {
  let written = 0;
  stream.on('ready', () => {
    written = 0;
  });
  stream.on('write', (n: number) => {
    written += n;
    if (written < 2 * maxBytes) return;
    written = 0;
    stream.reopen(nextNumbered(stream.file));
  });
}

/** logs/server.7.log → logs/server.8.log (the name pino-roll gives the next file). */
function nextNumbered(current: string): string {
  return current.replace(/\.(\d+)(\.[^./]*)?$/, (_, n: string, ext: string | undefined) => `.${Number(n) + 1}${ext ?? ''}`);
}

/**
 * Waits for the file to open. A folder the process may not write fails here, as one clear
 * error at start; unheard, sonic-boom's 'error' event was a stack trace.
 */
async function opened(stream: RollingStream): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      stream.off('ready', done);
      reject(new RdriveError('EACCES', `Cannot write the log file ${err.path ?? stream.file} (${err.code ?? err.message}): pick another place or fix its permissions`, { cause: err }));
    };
    const done = (): void => {
      stream.off('error', fail);
      resolve();
    };
    stream.once('ready', done);
    stream.once('error', fail);
  });
}

/**
 * Deletes this log's numbered files (exactly `name.N.ext`, nothing that merely starts alike)
 * beyond the `keep` newest besides `current`: restarts cannot pile them up.
 */
function pruneRotated(file: string, keep: number, current: string | undefined): void {
  const ext = extname(file);
  const stem = basename(file).slice(0, basename(file).length - ext.length);
  const pattern = new RegExp(`^${escapeRegExp(stem)}\\.(\\d+)${escapeRegExp(ext === '' ? '.log' : ext)}$`);
  const dir = dirname(file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const old = names
    .map((name) => ({ name, n: Number(pattern.exec(name)?.[1] ?? Number.NaN) }))
    .filter((f) => Number.isSafeInteger(f.n) && f.name !== (current === undefined ? undefined : basename(current)))
    .sort((a, b) => b.n - a.n)
    .slice(keep);
  for (const f of old) rmSync(join(dir, f.name), { force: true });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A plain file at the documented name (written before rotation existed) joins the rotated set as number 0, the oldest. */
function keepLegacyFile(file: string): void {
  try {
    if (lstatSync(file).isFile()) renameSync(file, numbered(file, 0));
  } catch {
    // nothing there, or not ours to move: pino-roll's own numbered files are unaffected
  }
}

function numbered(file: string, n: number): string {
  const ext = extname(file);
  return ext === '' ? `${file}.${n}.log` : `${file.slice(0, -ext.length)}.${n}${ext}`;
}

/** Replaces the link atomically (new link, then rename over the old one). */
function pointLinkAt(link: string, target: string | undefined): void {
  if (target === undefined) return;
  const tmp = join(dirname(link), `.${basename(link)}.${process.pid}.link`);
  try {
    rmSync(tmp, { force: true });
    symlinkSync(basename(target), tmp);
    renameSync(tmp, link);
  } catch {
    // the link is a convenience; logging goes on in the numbered file
    rmSync(tmp, { force: true });
  }
}
