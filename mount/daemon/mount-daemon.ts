import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';
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
}

export interface RunningMount {
  /** The mount this daemon made: the only one it will ever unmount. */
  own: MountEntry;
  /** Marks the server names of this daemon's deleted-but-open files (see hidden-names.ts). */
  instance: string;
  /** Uploads what is still dirty, then unmounts (lazily, so open files do not block it). */
  unmount: () => Promise<void>;
  /** Calls `gone` once the mount was removed from outside (fusermount -u), so the daemon can exit. */
  watch: (gone: () => void) => void;
}

/** How often the daemon checks that its mount is still there. */
const WATCH_INTERVAL_MS = 1_000;

/** Long operations (uploads at close) must not hit fuse-native's 15 s default. */
const OP_TIMEOUTS = { default: 60_000, flush: 3_600_000, fsync: 3_600_000, release: 3_600_000, rename: 3_600_000, read: 600_000, write: 600_000 };

/** Logs in (so a wrong password fails before anything is mounted), then mounts. */
export async function createMount(config: MountConfig): Promise<RunningMount> {
  const log = config.log;
  const client = new ApiClient({ server: config.server, logger: log.child({ component: 'http' }), reconnectWindowMs: 4_000, connectTimeoutMs: 3_000, requestTimeoutMs: config.requestTimeoutMs, rangeWorker: true, ...(config.ca === undefined ? {} : { ca: config.ca }) });
  try {
    await client.login(config.user, config.password);
  } catch (err) {
    await client.close();
    throw describeLoginError(err, config.server);
  }
  // What a killed daemon left of deleted-but-open files goes now (it can no longer be open).
  await sweepJournals(client, config.server, config.user, log).catch((err: unknown) => log.warn({ err }, 'could not sweep files left by a stopped mount'));
  const mark = ownMark();
  const probing: ProbeState = { active: false };
  const cacheDir = await createCacheDir(log);
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
  try {
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    await client.logout();
    await client.close();
    await removeCacheDir(cacheDir);
    throw new RdriveError('EIO', `Mounting ${config.mountpoint} failed: ${(err as Error).message}`);
  }
  const own = await findMount(config.mountpoint);
  if (own === undefined) throw new RdriveError('EIO', `Mounting ${config.mountpoint} failed: the mount does not show in /proc/self/mountinfo`);
  log.info({ server: config.server, mountpoint: config.mountpoint, user: config.user, readOnly: config.readOnly, mountId: own.mountId, dev: own.dev }, 'mounted');
  let stopping: Promise<void> | undefined;
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
        for (const file of state.files.values()) {
          await state.uploadUntilClean(file).catch((err: unknown) => log.error({ path: file.path, err }, 'upload at unmount failed'));
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
