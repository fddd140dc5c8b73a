import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SERVER_INSTANCE } from '../instance.js';
import { DIR_FLAGS, TEMP_PREFIX, isTempName, release } from './confine.js';
import { removeTree } from './tree-walk.js';

/** 48 bits, from a random start: unique within this instance, not guessable from outside it. */
let tempSequence = randomBytes(6).readUIntBE(0, 6);

/**
 * The name of an upload's temp file beside its target: `.rdrive-tmp-<server>.<sequence>-<name>`.
 * The writing server's instance is part of it, so a sweep on shared storage knows whose it is.
 * A counter rather than fresh random bytes per upload: those cost ~20 µs of every small PUT.
 */
export function tempFileName(name: string, owner: string = SERVER_INSTANCE): string {
  tempSequence = (tempSequence + 1) % 2 ** 48;
  return `${TEMP_PREFIX}${owner}.${tempSequence.toString(16).padStart(12, '0')}-${name.slice(0, 32)}`;
}

/** The instance that wrote a temp file, or undefined for a name without one (older versions). */
export function tempFileOwner(name: string): string | undefined {
  return /^\.rdrive-tmp-(\d+-[0-9a-f]{8})\.[0-9a-f]{12}-/.exec(name)?.[1];
}

/** Which temp files a sweep may remove. */
export interface SweepRule {
  /** Only files untouched (mtime) for at least this long; 0: all. */
  olderThanMs: number;
  /** With several servers on the storage: whether the server that wrote a file is still running. */
  isLive?: (instance: string) => Promise<boolean>;
  /** Files without an owner in their name: untouched for at least this long (default olderThanMs). */
  unownedOlderThanMs?: number;
}

/**
 * Removes temp files left by interrupted uploads; they are invisible, this only frees their
 * space. Alone on its storage (no `isLive`), every temp file at start is a crash's leftover.
 * Shared, a file goes only when its server is gone (no heartbeat) *and* it has not been written
 * for `olderThanMs`; this server's own files and those of live servers are never touched, and
 * if liveness cannot be told (Redis down) the file stays for a later sweep.
 */
export async function sweepTempFiles(dir: string, rule: SweepRule): Promise<number> {
  let removed = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (!isTempName(entry.name)) {
      if (entry.isDirectory()) removed += await sweepTempFiles(full, rule);
    } else if (await mayRemove(full, entry.name, rule)) {
      if (!entry.isDirectory()) await rm(full, { force: true });
      else if (!(await removeTempFolder(dir, entry.name))) continue;
      removed++;
    }
  }
  return removed;
}

/**
 * A temp folder is what a removal of a deep tree killed midway left (see removeTree): its
 * levels below the walk's window, moved into the top folder, deeper than any path can reach.
 * Removed through descriptors as removeTree does; a failure leaves it for a later sweep.
 */
async function removeTempFolder(dir: string, name: string): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(dir, DIR_FLAGS);
  } catch {
    return false;
  }
  return removeTree(fd, name).then(() => true, () => false).finally(() => release(fd));
}

async function mayRemove(path: string, name: string, rule: SweepRule): Promise<boolean> {
  const owner = tempFileOwner(name);
  if (rule.isLive !== undefined && owner === SERVER_INSTANCE) return false;
  const age = owner === undefined ? rule.unownedOlderThanMs ?? rule.olderThanMs : rule.olderThanMs;
  if (age > 0) {
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || Date.now() - st.mtimeMs < age) return false;
  }
  if (rule.isLive === undefined || owner === undefined) return true;
  return !(await rule.isLive(owner).catch(() => true));
}

/**
 * Sweeps every `intervalMs` (one sweep at a time; a slow walk of a big storage never overlaps
 * the next), reporting what it removed. Returns the function that stops it.
 */
export function scheduleTempSweeps(dir: string, rule: SweepRule, intervalMs: number, report: (removed: number) => void, fail: (err: unknown) => void): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepTempFiles(dir, rule).then(report, fail).finally(() => {
      running = false;
    });
  }, intervalMs).unref();
  return () => clearInterval(timer);
}
