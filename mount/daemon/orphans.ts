import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';
import { joinPath } from '../cache/attr-cache.js';
import { isOrphan, ownerOf, ownMark } from '../fuse/hidden-names.js';
import type { ApiClient } from '../remote/api-client.js';
import { isAlive, registryDir, runningDaemons } from './pid-registry.js';

/**
 * Files deleted while open that a dead daemon left on the server (see hidden-names.ts). Each
 * daemon notes the server path of every such file in a journal beside its registry record, so
 * the next mount removes what a killed daemon left without walking the whole tree;
 * `rdrive sweep` walks a tree for the rest (a lost journal, another machine's crash).
 */
export type OrphanJudge = (name: string) => boolean;

/** Judges names against the daemons running on this host now, as their records say. */
export async function orphanJudge(options: { unmarked?: boolean } = {}): Promise<OrphanJudge> {
  const instances = new Map<number, string>();
  for (const d of await runningDaemons()) if (d.instance !== undefined) instances.set(d.pid, d.instance);
  const here = { host: ownMark().host, alive: isAlive, instanceOf: (pid: number) => instances.get(pid) };
  return (name) => isOrphan(name, here, options);
}

interface JournalLine {
  server: string;
  user: string;
  path: string;
}

function journalFile(pid: number): string {
  return join(registryDir(), `hidden-${pid}.jsonl`);
}

/** This daemon's hidden files still on the server: path → its journal line. */
const liveHere = new Map<string, string>();
/**
 * Lines of this daemon's journal whose file libfuse has removed since (at its last close). Once
 * they outnumber the live ones the journal is written again without them: a daemon that runs
 * for months and deletes files while open grew it a line each time (10,000: 1.1 MB, and 14 s of
 * DELETEs at the next mount after a crash).
 */
let removedLines = 0;
const COMPACT_AFTER = 64;
/** Appends and rewrites of the journal, one after another. */
let journalWrites: Promise<void> = Promise.resolve();

function queueJournal(write: () => Promise<void>): Promise<void> {
  const run = journalWrites.then(write);
  journalWrites = run.catch(() => undefined);
  return run;
}

/** A hidden file of this daemon is gone: its journal line will be dropped. */
export function noteHiddenRemoved(path: string): void {
  if (!liveHere.delete(path)) return;
  removedLines++;
  if (removedLines < Math.max(COMPACT_AFTER, liveHere.size)) return;
  removedLines = 0;
  const lines = [...liveHere.values()];
  void queueJournal(() => rewriteJournal(journalFile(process.pid), lines)).catch(() => undefined);
}

/** Notes a hidden file this daemon made, before it can be orphaned. */
export async function noteHidden(server: string, user: string, path: string): Promise<void> {
  const line = JSON.stringify({ server, user, path } satisfies JournalLine);
  liveHere.set(path, line);
  await queueJournal(async () => {
    await mkdir(registryDir(), { recursive: true, mode: 0o700 });
    await appendFile(journalFile(process.pid), `${line}\n`, { mode: 0o600 });
  });
}

/** Replaces a journal with `lines` (none: removes it), never leaving it half written. */
async function rewriteJournal(file: string, lines: string[]): Promise<void> {
  if (lines.length === 0) {
    await rm(file, { force: true });
    return;
  }
  const next = `${file}.next`;
  await writeFile(next, `${lines.join('\n')}\n`, { mode: 0o600 });
  await rename(next, file);
}

/**
 * Removes the hidden files listed in the journals of daemons that are gone (and, with `own`,
 * this daemon's, once its mount is gone), for this server and user; lines for other servers or
 * users are kept for their next mount.
 */
export async function sweepJournals(client: ApiClient, server: string, user: string, log: Logger, own = false): Promise<number> {
  const names = await readdir(registryDir()).catch(() => [] as string[]);
  let removed = 0;
  // Once the server cannot be reached, every other line would wait as long again (an unmount
  // with the server down took N times the retry time): they are kept for the next mount.
  let reachable = true;
  for (const name of names) {
    const leftover = /^hidden-(\d+)\.jsonl\.next$/.exec(name);
    // A rewrite cut short by a crash: the journal itself is whole (see rewriteJournal).
    if (leftover !== null && !isAlive(Number(leftover[1]))) await rm(join(registryDir(), name), { force: true });
    const match = /^hidden-(\d+)\.jsonl$/.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid ? !own : isAlive(pid)) continue;
    const file = join(registryDir(), name);
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    const kept: string[] = [];
    for (const line of lines) {
      const entry = parseLine(line);
      if (entry === undefined) continue;
      if (entry.server !== server || entry.user !== user || !reachable) {
        kept.push(line);
        continue;
      }
      // Never anything but a hidden name this very daemon marked, whatever the journal says.
      const owner = ownerOf(entry.path.slice(entry.path.lastIndexOf('/') + 1));
      if (typeof owner !== 'object' || owner.pid !== pid) continue;
      if (pid === process.pid && !liveHere.has(entry.path)) continue;
      const outcome = await removeHidden(client, entry.path, log);
      if (outcome === 'removed') removed++;
      if (outcome === 'unreachable') {
        reachable = false;
        kept.push(line);
      }
    }
    await rewriteJournal(file, kept);
  }
  return removed;
}

/** Removes the orphans directly in `dir`; true when that left nothing else there. */
export async function removeOrphansIn(client: ApiClient, dir: string, judge: OrphanJudge, log: Logger): Promise<boolean> {
  const { entries } = await client.list(dir);
  const orphans = entries.filter((e) => e.type === 'file' && judge(e.name));
  for (const entry of orphans) {
    if ((await removeHidden(client, joinPath(dir, entry.name), log)) === 'unreachable') return false;
  }
  return orphans.length === entries.length;
}

export interface SweepResult {
  removed: string[];
  /** Hidden names left alone: a daemon that still runs, or another host's. */
  kept: string[];
}

/** Walks `dir` and below, removing orphaned hidden files (`rdrive sweep`). */
export async function sweepTree(client: ApiClient, dir: string, judge: OrphanJudge, log?: Logger): Promise<SweepResult> {
  const result: SweepResult = { removed: [], kept: [] };
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const { entries } = await client.list(current);
    for (const entry of entries) {
      const path = joinPath(current, entry.name);
      if (entry.type === 'dir') pending.push(path);
      else if (judge(entry.name)) {
        const outcome = await removeHidden(client, path, log);
        if (outcome === 'removed') result.removed.push(path);
        if (outcome === 'unreachable') throw new RdriveError('UNREACHABLE', 'The server stopped answering during the sweep; run it again once it is back');
      } else if (entry.name.startsWith('.fuse_hidden')) result.kept.push(path);
    }
  }
  return result;
}

/** Failures of the connection, not of the request: the next request would fail the same way. */
const UNREACHABLE_CODES = new Set(['UNREACHABLE', 'ETIMEDOUT']);

async function removeHidden(client: ApiClient, path: string, log: Logger | undefined): Promise<'removed' | 'gone' | 'failed' | 'unreachable'> {
  try {
    await client.unlink(path);
    log?.info({ path }, 'removed a deleted file that a mount daemon left behind when it stopped');
    return 'removed';
  } catch (err) {
    if (err instanceof RdriveError && err.code === 'ENOENT') return 'gone';
    log?.warn({ path, err }, 'could not remove a deleted file left behind by a mount daemon');
    return err instanceof RdriveError && UNREACHABLE_CODES.has(err.code) ? 'unreachable' : 'failed';
  }
}

function parseLine(line: string): JournalLine | undefined {
  try {
    const value = JSON.parse(line) as JournalLine;
    return typeof value.path === 'string' && typeof value.server === 'string' && typeof value.user === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

