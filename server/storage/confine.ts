import type { Stats } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RdriveError } from '../../common/errors.js';
import { isPathInside } from '../../common/paths.js';

/** Names the server uses for its own in-progress files; never visible to or addressable by users. */
export const TEMP_PREFIX = '.rdrive-tmp-';

export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/**
 * The one place a request path becomes a filesystem path. Segments are already validated by
 * common/paths.ts; here the result is confined to the user's root, also through symlinks: the
 * real path of the deepest existing ancestor must stay inside the root's real path.
 */
export async function confine(root: string, segments: readonly string[]): Promise<string> {
  return (await confineEntry(root, segments)).path;
}

/** What is at a confined path: nothing, a known entry (lstat of a non-symlink equals its stat), or unknown. */
export type Entry = { kind: 'absent' } | { kind: 'known'; stats: Stats } | { kind: 'unknown' };

/** confine() plus what is at the path, so a caller that needs the entry saves a call. */
export async function confineEntry(root: string, segments: readonly string[]): Promise<{ path: string; entry: Entry }> {
  if (segments.some(isTempName)) throw new RdriveError('ENOENT');
  const realRoot = await realRootOf(root);
  const target = resolve(realRoot, join(...(segments.length === 0 ? ['.'] : segments)));
  if (!isPathInside(realRoot, target)) throw new RdriveError('EACCES', 'Path leads outside your folder');
  if (segments.length === 0) return { path: target, entry: { kind: 'unknown' } };
  // The common case costs two calls, run together: the parent's real path, and an lstat of the
  // last name. Nothing is opened before both checks pass.
  const [realParent, last] = await Promise.all([realExisting(realRoot, dirname(target)), lstat(target).catch(() => undefined)]);
  checkReal(realRoot, realParent);
  if (last?.isSymbolicLink() === true) {
    const real = await realpath(target).catch(() => undefined);
    // A dangling symlink would let a later create follow it anywhere.
    if (real === undefined) throw new RdriveError('EACCES', 'Path leads outside your folder');
    checkReal(realRoot, real);
    return { path: target, entry: { kind: 'unknown' } };
  }
  return { path: target, entry: last === undefined ? { kind: 'absent' } : { kind: 'known', stats: last } };
}

function checkReal(realRoot: string, real: string): void {
  if (!isPathInside(realRoot, real)) throw new RdriveError('EACCES', 'Path leads outside your folder');
}

/** The real path of `path`, or of its deepest existing ancestor. */
async function realExisting(realRoot: string, path: string): Promise<string> {
  let probe = path;
  for (;;) {
    try {
      return await realpath(probe);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      if (await isSymlink(probe)) throw new RdriveError('EACCES', 'Path leads outside your folder');
      if (probe === realRoot || probe === dirname(probe)) return realRoot;
      probe = dirname(probe);
    }
  }
}

const realRoots = new Map<string, string>();

/** Users' roots do not move while the server runs: resolve each once. */
async function realRootOf(root: string): Promise<string> {
  let real = realRoots.get(root);
  if (real === undefined) {
    real = await realpath(root);
    realRoots.set(root, real);
  }
  return real;
}

async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}
