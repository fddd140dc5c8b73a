import type { Operations } from 'fuse-native';
import type { Logger } from 'pino';
import { RdriveError, fromForeign, toErrno } from '../../common/errors.js';
import * as attrs from './ops/attributes.js';
import * as dirs from './ops/directories.js';
import * as io from './ops/file-io.js';
import * as links from './ops/links.js';
import * as unsupported from './ops/unsupported.js';
import { callerIsRenaming, callerWantsExclusive } from './caller-syscall.js';
import { isLockName } from './names.js';
import { currentCaller } from './ownership.js';
import { probePath, probeStat, type ProbeState } from './own-probe.js';
import type { MountState } from './state.js';
import { toServerPath, type HiddenOwner } from './hidden-names.js';
import { mountStats } from '../daemon/mount-stats.js';

/** Errors that are answers, not trouble: logged at debug only. */
const EXPECTED = new Set(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'EOPNOTSUPP', 'EPERM', 'EROFS', 'EINVAL', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP']);

/**
 * Extended attributes are left out on purpose: libfuse then answers ENOSYS, which makes the
 * kernel stop asking (EOPNOTSUPP would cost a getxattr round trip on every write).
 *
 * The single place that speaks fuse-native's callback protocol: each op is an async function
 * returning a value or throwing; here a result becomes `cb(0, …)` and an error its negative
 * errno from the shared table.
 */
export function createOperations(
  state: MountState,
  log: Logger,
  hidden?: { mark: HiddenOwner; noted: (path: string) => Promise<void>; removed?: (path: string) => void; probing: ProbeState },
): Operations {
  const ops = withLeaseDrops(plainOperations(state, log), state);
  if (hidden === undefined) return ops;
  const probe = probePath(hidden.mark);
  const getattr = ops.getattr!;
  const { uid, gid } = state.options;
  ops.getattr = (path, cb) => {
    if (path === probe) cb(0, probeStat(uid, gid, false));
    else if (path === '/' && hidden.probing.active) cb(0, probeStat(uid, gid, true));
    else getattr(path, cb);
  };
  return withMarkedHiddenNames(ops, hidden, log, state);
}

/** Ops that change something on the server, whatever their arguments. */
const CHANGING_OPS = new Set<keyof Operations>(['create', 'write', 'truncate', 'ftruncate', 'unlink', 'rename', 'mkdir', 'rmdir', 'symlink', 'mknod', 'chmod', 'chown', 'utimens', 'link']);
/** Ops that upload when their file is dirty, and the index of their fd argument. */
const UPLOADING_OPS: Partial<Record<keyof Operations, number>> = { flush: 1, fsync: 2, release: 1 };

/**
 * Read leases (see ContentCache.leased) hold only while nothing changes through this mount:
 * an op that may change something on the server drops them when it starts and when it ends,
 * so no open trusts a head read before or during a change made here.
 */
function withLeaseDrops(ops: Operations, state: MountState): Operations {
  const out: Record<string, unknown> = { ...ops };
  for (const [key, fn] of Object.entries(ops) as Array<[keyof Operations, (...args: unknown[]) => void]>) {
    const fdIndex = UPLOADING_OPS[key];
    if (!CHANGING_OPS.has(key) && fdIndex === undefined) continue;
    out[key] = (...args: unknown[]) => {
      const changes = fdIndex === undefined || state.handles.get(args[fdIndex] as number)?.file.dirty === true;
      if (!changes) {
        fn(...args);
        return;
      }
      state.contents.dropLeases();
      const cb = args[args.length - 1] as (...result: unknown[]) => void;
      args[args.length - 1] = (...result: unknown[]) => {
        state.contents.dropLeases();
        cb(...result);
      };
      fn(...args);
    };
  }
  return out as Operations;
}

/** Which arguments of an op are paths on the mount (default: the first; symlink's target is not). */
const PATH_ARGS: Partial<Record<keyof Operations, number[]>> = { rename: [0, 1], link: [0, 1], symlink: [1] };

/**
 * libfuse's `.fuse_hidden…` names become, on the server, names that carry this daemon's mark
 * (see hidden-names.ts), so what a crash leaves can be told from what a live mount still uses.
 * A rename to such a name is journaled first, so even a kill -9 right after leaves a trace.
 */
function withMarkedHiddenNames(
  ops: Operations,
  { mark, noted, removed }: { mark: HiddenOwner; noted: (path: string) => Promise<void>; removed?: (path: string) => void },
  log: Logger,
  state: MountState,
): Operations {
  const out: Record<string, unknown> = {};
  for (const [key, fn] of Object.entries(ops) as Array<[keyof Operations, (...args: unknown[]) => void]>) {
    const indexes = PATH_ARGS[key] ?? [0];
    out[key] = (...args: unknown[]) => {
      for (const i of indexes) if (typeof args[i] === 'string') args[i] = toServerPath(args[i] as string, mark);
      const path = args[0];
      if (key === 'unlink' && removed !== undefined && typeof path === 'string' && isMarked(path, mark)) {
        // libfuse removes the hidden file at its last close: its journal line has nothing left to do.
        const cb = args[1] as (code: number) => void;
        fn(path, (code: number) => {
          if (code === 0) removed(path);
          cb(code);
        });
        return;
      }
      const to = args[1];
      if (key !== 'rename' || typeof to !== 'string' || !isMarked(to, mark)) {
        fn(...args);
        return;
      }
      // Before a rename onto the name of a file still open: the hidden name becomes a second
      // name on the server and the original stays, so the rename replaces it in one step (other
      // mounts never miss it; a crash between the two leaves the old file there).
      // libfuse hides only a file open here: a program's own rename to such a name is a rename.
      if (typeof path === 'string' && state.files.get(path)?.isOpen === true && callerIsRenaming(log)) state.hidesBeforeRename.add(to);
      void noted(to).catch((err: unknown) => log.warn({ path: to, err }, 'could not journal a deleted-but-open file')).finally(() => fn(...args));
    };
  }
  return out as Operations;
}

function isMarked(path: string, mark: HiddenOwner): boolean {
  return path.endsWith(`.rdrive.${mark.host}.${mark.pid}.${mark.instance}`);
}

function plainOperations(state: MountState, log: Logger): Operations {
  const run = <T>(op: string, path: string, fn: () => Promise<T>, ok: (value: T) => void, fail: (errno: number) => void): void => {
    const started = log.isLevelEnabled('debug') ? Date.now() : 0;
    mountStats.op(op);
    fn().then(
      (value) => {
        if (started !== 0) log.debug({ op, path, ms: Date.now() - started }, 'op');
        ok(value);
      },
      (err: unknown) => {
        const error = err instanceof RdriveError ? err : fromForeign(err);
        mountStats.error(error.code);
        if (EXPECTED.has(error.code)) log.debug({ op, path, code: error.code }, 'op failed');
        else log.warn({ op, path, code: error.code, reason: error.message }, 'op failed');
        fail(toErrno(error));
      },
    );
  };
  const status = (op: string, path: string, fn: () => Promise<unknown>, cb: (code: number) => void): void =>
    run(op, path, fn, () => cb(0), cb);

  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => run('getattr', path, () => attrs.getattr(state, path), (st) => cb(0, st), cb),
    fgetattr: (path, _fd, cb) => run('fgetattr', path, () => attrs.getattr(state, path), (st) => cb(0, st), cb),
    access: (path, mode, cb) => status('access', path, () => attrs.access(state, path, mode), cb),
    statfs: (path, cb) => run('statfs', path, () => attrs.statfs(state), (st) => cb(0, st), cb),
    chmod: (path, mode, cb) => status('chmod', path, () => attrs.chmod(state, path, mode), cb),
    chown: (path, uid, gid, cb) => status('chown', path, () => attrs.chown(state, path, uid, gid), cb),
    utimens: (path, atime, mtime, cb) => status('utimens', path, () => attrs.utimens(state, path, atime, mtime), cb),
    truncate: (path, size, cb) => status('truncate', path, () => attrs.truncate(state, path, size), cb),
    ftruncate: (path, fd, size, cb) => status('ftruncate', path, () => attrs.ftruncate(state, fd, size), cb),
    readdir: (path, cb) => run('readdir', path, () => dirs.readdir(state, path), (r) => cb(0, r.names, r.stats), cb),
    // The creator is read at once: it is the current request's only until the op yields.
    mkdir: (path, mode, cb) => {
      const caller = currentCaller();
      status('mkdir', path, () => dirs.mkdir(state, path, mode, caller), cb);
    },
    rmdir: (path, cb) => status('rmdir', path, () => dirs.rmdir(state, path), cb),
    unlink: (path, cb) => status('unlink', path, () => dirs.unlink(state, path), cb),
    rename: (from, to, cb) => status('rename', from, () => dirs.rename(state, from, to), cb),
    open: (path, flags, cb) => run('open', path, () => io.open(state, path, flags), (fd) => cb(0, fd), cb),
    create: (path, mode, cb) => {
      const caller = currentCaller();
      const exclusive = isLockName(path) && callerWantsExclusive(log);
      run('create', path, () => io.create(state, path, mode, caller, undefined, exclusive), (fd) => cb(0, fd), cb);
    },
    read: (path, fd, buffer, length, position, cb) =>
      run('read', path, () => io.read(state, fd, buffer, length, position), (n) => {
        mountStats.bytesRead += n;
        cb(n);
      }, cb),
    write: (path, fd, buffer, length, position, cb) => {
      const data = Buffer.from(buffer.subarray(0, length));
      run('write', path, () => io.write(state, fd, data, position), (n) => {
        mountStats.bytesWritten += n;
        cb(n);
      }, cb);
    },
    flush: (path, fd, cb) => status('flush', path, () => io.flush(state, fd), cb),
    fsync: (path, _datasync, fd, cb) => status('fsync', path, () => io.fsync(state, fd), cb),
    release: (path, fd, cb) => status('release', path, () => io.release(state, fd), cb),
    fsyncdir: (path, _datasync, _fd, cb) => status('fsyncdir', path, () => io.fsyncdir(state), cb),
    link: (from, to, cb) => status('link', from, () => unsupported.link(to), cb),
    symlink: (target, path, cb) => {
      const caller = currentCaller();
      status('symlink', path, () => links.symlink(state, target, path, caller), cb);
    },
    mknod: (path, mode, dev, cb) => {
      const caller = currentCaller();
      status('mknod', path, () => links.mknod(state, path, mode, dev, caller), cb);
    },
    readlink: (path, cb) => run('readlink', path, () => links.readlink(state, path), (target) => cb(0, target), cb),
  };
}
