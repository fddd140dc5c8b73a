import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { RdriveError } from '../../common/errors.js';
import { formatOwner, parseOwner, type Owner } from '../../common/ownership.js';

/*
 * An entry's virtual owner (what a mount shows as uid/gid, see common/ownership.ts) is kept in
 * the user extended attribute OWNER_XATTR of the stored file or directory: it moves with the
 * entry on rename, goes with it on unlink, and never touches the real owner on the server's
 * disk. The calls act on the name itself, never following a final symlink (lgetxattr). Uploads
 * replace a file by a new one (temp + rename), so they carry it over (copyOwner).
 *
 * The calls run on the event loop, as the confinement walk's lstats do: a getxattr by name on a
 * local disk takes microseconds, a thread-pool hand-off more (5,000 of a listing: ~75 ms
 * synchronous against ~210 ms through the pool, measured on the 2-core test machine).
 */
export const OWNER_XATTR = 'user.rdrive.owner';

/** errno numbers in the "(os error N)" the xattr binding reports. */
const ENOENT = 2;
const EPERM = 1;
const ENOTSUP = 95;

/** The stored owner of the entry at `path`, undefined when none (or the filesystem keeps none). */
export async function readOwner(path: string): Promise<Owner | undefined> {
  return readOwnerSync(path);
}

/** readOwner on the event loop without a promise, for the small-file paths that stay synchronous. */
export function readOwnerSync(path: string): Owner | undefined {
  try {
    const value = getAttributeSync(path, OWNER_XATTR);
    return value === null ? undefined : parseOwner(value.toString('latin1'));
  } catch (err) {
    if ([ENOENT, ENOTSUP].includes(osErrno(err))) return undefined;
    throw xattrError(err);
  }
}

export async function writeOwner(path: string, owner: Owner): Promise<void> {
  writeOwnerSync(path, owner);
}

export function writeOwnerSync(path: string, owner: Owner): void {
  try {
    setAttributeSync(path, OWNER_XATTR, formatOwner(owner));
  } catch (err) {
    throw xattrError(err);
  }
}

/** Gives `to` the owner stored on `from`, if any (an upload's new file takes the old one's). */
export async function copyOwner(from: string, to: string): Promise<void> {
  copyOwnerSync(from, to);
}

/** copyOwner without a promise; returns the owner carried over, if any. */
export function copyOwnerSync(from: string, to: string): Owner | undefined {
  const owner = readOwnerSync(from);
  if (owner !== undefined) writeOwnerSync(to, owner);
  return owner;
}

function osErrno(err: unknown): number {
  const match = /\(os error (\d+)\)/.exec((err as Error)?.message ?? '');
  return match === null ? -1 : Number(match[1]);
}

function xattrError(err: unknown): RdriveError {
  switch (osErrno(err)) {
    case ENOENT: return new RdriveError('ENOENT');
    case EPERM: return new RdriveError('EPERM', 'The server cannot store an owner on this entry');
    case ENOTSUP: return new RdriveError('EOPNOTSUPP', 'The server\'s storage keeps no extended attributes, so it cannot store an owner (chown)');
    default: return new RdriveError('EIO', `Storing an owner failed: ${(err as Error)?.message ?? String(err)}`);
  }
}
