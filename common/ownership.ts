import { RdriveError } from './errors.js';

/**
 * Virtual ownership: the uid and gid a mount shows for an entry, stored by the server as data
 * beside it (never as the owner of the file on the server's disk). Pure helpers, shared by the
 * server (which stores and validates) and the mount (which decides what to store).
 */
export interface Owner {
  uid: number;
  gid: number;
}

/** The largest id stored: (uid_t)-1 means "leave unchanged" in chown(2), so it is never an owner. */
export const OWNER_ID_MAX = 0xfffffffe;

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

/** A uid or gid as the API accepts it: a whole number in [0, OWNER_ID_MAX]. */
export function checkOwnerId(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > OWNER_ID_MAX) {
    throw new RdriveError('EINVAL', `${name} must be a whole number from 0 to ${OWNER_ID_MAX}`);
  }
  return value;
}

/** `{uid, gid}` from a request body; undefined when neither is given; both or none. */
export function ownerFrom(input: Record<string, unknown>): Owner | undefined {
  if (input.uid === undefined && input.gid === undefined) return undefined;
  if (input.uid === undefined || input.gid === undefined) throw new RdriveError('EINVAL', 'uid and gid go together (send both)');
  return { uid: checkOwnerId(input.uid, 'uid'), gid: checkOwnerId(input.gid, 'gid') };
}

/** "uid:gid", the stored and the header form. */
export function formatOwner(owner: Owner): string {
  return `${owner.uid}:${owner.gid}`;
}

export function parseOwner(text: string): Owner | undefined {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(text);
  if (match === null) return undefined;
  const uid = Number(match[1]);
  const gid = Number(match[2]);
  return uid <= OWNER_ID_MAX && gid <= OWNER_ID_MAX ? { uid, gid } : undefined;
}

/**
 * The mode after a chown, as Linux leaves it: a non-directory loses setuid, and setgid when
 * group-executable (setgid without group-execute marks mandatory locking and stays).
 */
export function modeAfterChown(mode: number, isDir: boolean): number {
  if (isDir) return mode;
  let out = mode & ~S_ISUID;
  if ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) out &= ~S_ISGID;
  return out;
}

/**
 * Who owns an entry made now by `caller` in a directory owned by `parent` with mode
 * `parentMode`, and with which mode bits: as Linux (and ext4) do it, a setgid directory gives
 * its group to what is made inside, and its setgid bit to new subdirectories.
 */
export function ownerOfNew(caller: Owner, parent: Owner, parentMode: number, mode: number, isDir: boolean): { owner: Owner; mode: number } {
  if ((parentMode & S_ISGID) === 0) return { owner: caller, mode };
  return { owner: { uid: caller.uid, gid: parent.gid }, mode: isDir ? mode | S_ISGID : mode };
}
