import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ownerOfNew, type Owner } from '../../common/ownership.js';
import { splitPath } from '../cache/attr-cache.js';
import type { MountState } from './state.js';

/*
 * Who owns what on the mount. An entry's owner is the one stored with it on the server (chown,
 * or its creator), else the mounting user. Permission checks are the kernel's (the mount uses
 * default_permissions): it has already refused a chown the caller may not make (only root
 * gives a file away; an owner may change its group to one of its own groups) before the mount
 * hears of it.
 */

type CallerBinding = { fuse_native_caller?: () => [number, number, number?] };

/** fuse-native's addon, rebuilt by scripts/patch-fuse-native.sh with fuse_native_caller (see there). */
const binding = loadBinding();

function loadBinding(): CallerBinding {
  try {
    const require = createRequire(import.meta.url);
    return require(join(dirname(require.resolve('fuse-native/package.json')), 'build', 'Release', 'fuse.node')) as CallerBinding;
  } catch {
    return {};
  }
}

/**
 * The uid and gid of the process whose FUSE request is being handled. Valid only synchronously
 * at the start of an op (fuse-native hands requests to JavaScript one at a time); undefined with
 * an addon built without the patch, and then new entries are the mounting user's.
 */
export function currentCaller(): Owner | undefined {
  const read = binding.fuse_native_caller;
  if (read === undefined) return undefined;
  const [uid, gid] = read();
  return { uid, gid };
}

/** The pid (thread id) of the process whose FUSE request is being handled; as currentCaller. */
export function currentCallerPid(): number | undefined {
  const pid = binding.fuse_native_caller?.()[2];
  return pid === undefined || pid === 0 ? undefined : pid;
}

/** The owner the mount shows for an attribute record (the mounting user when none is stored). */
export function shownOwner(attr: { uid?: number; gid?: number }, state: MountState): Owner {
  return { uid: attr.uid ?? state.options.uid, gid: attr.gid ?? state.options.gid };
}

/**
 * Owner and mode of an entry `caller` makes at `path`, as Linux decides them (a setgid parent
 * gives its group); `owner` is left out when it is the mounting user's, which needs no storing.
 */
export async function newEntry(state: MountState, path: string, caller: Owner | undefined, mode: number, isDir: boolean): Promise<{ owner?: Owner; mode: number }> {
  const defaults = { uid: state.options.uid, gid: state.options.gid };
  const parent = await state.attr(splitPath(path).dir);
  const made = ownerOfNew(caller ?? defaults, shownOwner(parent, state), parent.mode, mode, isDir);
  const isDefault = made.owner.uid === defaults.uid && made.owner.gid === defaults.gid;
  return isDefault ? { mode: made.mode } : made;
}
