import type { Logger } from 'pino';
import { type ErrorCode, RdriveError, fromForeign } from '../../common/errors.js';
import { createOperations } from '../fuse/adapter.js';
import { RdriveFuse } from '../fuse/rdrive-fuse.js';
import { MountState } from '../fuse/state.js';
import { ApiClient } from '../remote/api-client.js';
import { describeLoginError } from '../remote/login-error.js';
import { createCacheDir, removeCacheDir } from './cache-dir.js';
import { ownMark } from '../fuse/hidden-names.js';
import { noteHidden, noteHiddenRemoved, sweepJournals } from './orphans.js';
import { mountStats } from './mount-stats.js';
import { findMount, sameMount, type MountEntry } from './mount-table.js';
import type { StartProgress } from './crash-guard.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { probePath, type ProbeState } from '../fuse/own-probe.js';

export interface MountConfig {
  server: string;
  mountpoint: string;
  user: string;
  password: string;
  readOnly: boolean;
  /** Every close() waits until the content is on the server's stable storage (mount -o sync). */
  sync?: boolean;
  allowOther: boolean;
  /** Seconds the kernel and the daemon trust cached attributes. */
  attrTimeout: number;
  /** How long a request may wait for the server's answer. */
  requestTimeoutMs: number;
  /** Extra trusted certificate(s), PEM. */
  ca?: string;
  log: Logger;
  /** Aborts the start (a signal): what was done is undone and createMount throws StartAborted. */
  abort?: AbortSignal;
  /** Filled in as the start goes (fuse.mount done, the mount found): what a crash must undo. */
  progress?: StartProgress;
}

/** Thrown by createMount when its `abort` signal fired during the start. */
export class StartAborted extends Error {
  constructor(readonly reason: string) {
    super(`the start was stopped (${reason}) before the mount was ready; nothing was left mounted`);
    this.name = 'StartAborted';
  }
}

function throwIfAborted(abort: AbortSignal | undefined): void {
  if (abort?.aborted === true) throw new StartAborted(String(abort.reason));
}

/**
 * fuse-native's reasons, said for a person: "Mountpoint in use" is a mount that appeared at the
 * path since the checks before login (another "rdrive mount" of the same folder, say).
 */
function mountFailure(mountpoint: string, err: Error): RdriveError {
  if (err.message === 'Mountpoint in use') return new RdriveError('EEXIST', `${mountpoint} is already a mountpoint (something was mounted there while this mount started): unmount it first ("rdrive unmount ${mountpoint}")`);
  return new RdriveError('EIO', `Mounting ${mountpoint} failed: ${err.message}`);
}

export interface RunningMount {
  /** The mount this daemon made: the only one it will ever unmount. */
  own: MountEntry;
  /** Marks the server names of this daemon's deleted-but-open files (see hidden-names.ts). */
  instance: string;
  /** Uploads what is still dirty, then unmounts (lazily, so open files do not block it). */
  unmount: () => Promise<UnmountReport>;
  /** Calls `gone` once the mount was removed from outside (fusermount -u), so the daemon can exit. */
  watch: (gone: () => void) => void;
}

/** A file whose changes could not be uploaded when the mount stopped: they are lost. */
export interface LostUpload {
  path: string;
  code: ErrorCode;
  message: string;
}

export interface UnmountReport {
  lost: LostUpload[];
}

/** The lost changes said for a person, as one error (its code gives the exit code: 9 for a full quota). */
export function lostUploadsError(lost: readonly LostUpload[]): RdriveError {
  const first = lost[0];
  const files = lost.map((l) => `${l.path} (${l.message})`).join(', ');
  const count = lost.length === 1 ? '1 file' : `${lost.length} files`;
  return new RdriveError(first?.code ?? 'EIO', `the last changes to ${count} could not be uploaded when the mount stopped and are lost: ${files}. Its log has the details; write them again once the cause is fixed`);
}

/** How often the daemon checks that its mount is still there. */
const WATCH_INTERVAL_MS = 1_000;

/** Long operations (uploads at close) must not hit fuse-native's 15 s default. */
const OP_TIMEOUTS = { default: 60_000, flush: 3_600_000, fsync: 3_600_000, release: 3_600_000, rename: 3_600_000, read: 600_000, write: 600_000 };

/**
 * Logs in (so a wrong password fails before anything is mounted), then mounts. A start that
 * fails or is aborted midway undoes what it did, newest first (unmount, cache folder, session,
 * connections): nothing stays mounted and nothing keeps the process alive.
 */
export async function createMount(config: MountConfig): Promise<RunningMount> {
  const log = config.log;
  const undo: Array<() => Promise<unknown>> = [];
  try {
    return await startMount(config, undo);
  } catch (err) {
    for (const step of undo.reverse()) await step().catch((e: unknown) => log.warn({ err: e }, 'undoing a failed start'));
    throw err;
  }
}

async function startMount(config: MountConfig, undo: Array<() => Promise<unknown>>): Promise<RunningMount> {
  const log = config.log;
  const client = new ApiClient({ server: config.server, logger: log.child({ component: 'http' }), reconnectWindowMs: 4_000, connectTimeoutMs: 3_000, requestTimeoutMs: config.requestTimeoutMs, rangeWorker: true, ...(config.ca === undefined ? {} : { ca: config.ca }) });
  undo.push(() => client.close());
  throwIfAborted(config.abort);
  // A login can wait long (a silent server, Retry-After): an abort drops it at once.
  const dropLogin = (): void => void client.destroy();
  config.abort?.addEventListener('abort', dropLogin, { once: true });
  try {
    await client.login(config.user, config.password);
  } catch (err) {
    throwIfAborted(config.abort);
    throw describeLoginError(err, config.server, '');
  } finally {
    config.abort?.removeEventListener('abort', dropLogin);
  }
  throwIfAborted(config.abort);
  undo.push(() => client.logout());
  // What a killed daemon left of deleted-but-open files goes now (it can no longer be open).
  await sweepJournals(client, config.server, config.user, log).catch((err: unknown) => log.warn({ err }, 'could not sweep files left by a stopped mount'));
  const mark = ownMark();
  const probing: ProbeState = { active: false };
  const cacheDir = await createCacheDir(log);
  undo.push(() => removeCacheDir(cacheDir));
  throwIfAborted(config.abort);
  const state = new MountState(client, {
    readOnly: config.readOnly,
    sync: config.sync === true,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cacheDir,
  }, log.child({ component: 'fs' }), config.attrTimeout * 1000);
  mountStats.files = () => {
    const files = [...state.files.values()];
    return { open: files.length, dirty: files.filter((f) => f.dirty).length };
  };
  mountStats.inodeNumbers = () => state.inodes.size;
  const fuse = new RdriveFuse(config.mountpoint, createOperations(state, log.child({ component: 'fuse' }), { mark, probing, noted: (path) => noteHidden(config.server, config.user, path), removed: noteHiddenRemoved }), {
    timeout: OP_TIMEOUTS,
    allowOther: config.allowOther,
    // The kernel checks mode bits against the owner we report (the stored one, else the
    // mounting user), as on a local disk, and decides who may chown what: with --allow-other
    // another user gets only what the bits give them, and access() costs no round trip.
    defaultPermissions: true,
  }, { readOnly: config.readOnly, attrTimeout: config.attrTimeout, fsname: mountSource(config.user, config.server) });
  mountStats.fuseThreadRecords = () => fuse.threadRecords;
  const progress = config.progress ?? { mounted: false };
  try {
    // Marked at once, not after the await: a crash in between must find it.
    await new Promise<void>((resolve, reject) => fuse.mount((err) => {
      if (err) return reject(err);
      progress.mounted = true;
      resolve();
    }));
  } catch (err) {
    throw mountFailure(config.mountpoint, err as Error);
  }
  // fuse-native's unmount (fusermount -uz, then its thread ends); a second call is harmless.
  undo.push(() => new Promise<void>((resolve) => fuse.unmount(() => resolve())).then(() => {
    progress.mounted = false;
    delete progress.own;
  }));
  throwIfAborted(config.abort);
  const own = await findMount(config.mountpoint);
  if (own !== undefined) progress.own = own;
  if (own === undefined) throw new RdriveError('EIO', `Mounting ${config.mountpoint} failed: the mount does not show in /proc/self/mountinfo (it was removed again, or this system lists mounts differently); nothing was left mounted`);
  throwIfAborted(config.abort);
  log.info({ server: config.server, mountpoint: config.mountpoint, user: config.user, readOnly: config.readOnly, mountId: own.mountId, dev: own.dev }, 'mounted');
  let stopping: Promise<UnmountReport> | undefined;
  let watcher: NodeJS.Timeout | undefined;
  // The table entry alone can match a newer mount that got our freed ids; the probe cannot.
  const stillOurs = async (): Promise<boolean> => {
    if (!sameMount(await findMount(config.mountpoint), own)) return false;
    probing.active = true;
    try {
      return await stat(join(config.mountpoint, probePath(mark))).then(() => true, () => false);
    } finally {
      probing.active = false;
    }
  };
  return {
    own,
    instance: mark.instance,
    watch: (gone) => {
      watcher = setInterval(() => {
        // The table only (no probe each second): a probe answers the root's attributes locally
        // for its moment, which is fine once, at unmount, but not as a steady habit.
        void findMount(config.mountpoint).then((now) => {
          if (sameMount(now, own) || stopping !== undefined) return;
          clearInterval(watcher);
          log.warn({ mountpoint: config.mountpoint }, 'the mount was removed from outside (fusermount -u or umount); stopping');
          gone();
        });
      }, WATCH_INTERVAL_MS);
      watcher.unref();
    },
    unmount: () => {
      clearInterval(watcher);
      stopping ??= (async () => {
        const lost: LostUpload[] = [];
        for (const file of state.files.values()) {
          await state.uploadUntilClean(file).catch((err: unknown) => {
            log.error({ path: file.path, err }, 'upload at unmount failed; the file\'s unsent changes are lost');
            const error = err instanceof RdriveError ? err : fromForeign(err);
            lost.push({ path: file.path, code: error.code, message: error.message });
          });
        }
        // Only our own mount: after a removal from outside, the path may hold someone else's.
        if (await stillOurs()) {
          await new Promise<void>((resolve) => fuse.unmount((err) => {
            if (err) log.warn({ err: err.message }, 'unmount reported an error');
            resolve();
          }));
        } else {
          log.info({ mountpoint: config.mountpoint }, 'our mount is already gone; leaving whatever is at the mountpoint alone');
        }
        // Deleted files still open when the mount went away can no longer be reached.
        await sweepJournals(client, config.server, config.user, log, true).catch((err: unknown) => log.warn({ err }, 'could not remove deleted-but-open files'));
        await client.logout();
        await client.close();
        await removeCacheDir(cacheDir);
        log.info({ mountpoint: config.mountpoint }, 'unmounted');
        return { lost };
      })();
      return stopping;
    },
  };
}

/** `user@host:port`, the port spelled out even when it is the scheme's default. */
export function mountSource(user: string, server: string): string {
  const url = new URL(server);
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  return `${user}@${url.hostname}:${port}`;
}
