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
  if (segments.some(isTempName)) throw new RdriveError('ENOENT');
  const realRoot = await realpath(root);
  const target = resolve(realRoot, join(...(segments.length === 0 ? ['.'] : segments)));
  if (!isPathInside(realRoot, target)) throw new RdriveError('EACCES', 'Path leads outside your folder');
  let probe = target;
  for (;;) {
    try {
      const real = await realpath(probe);
      if (!isPathInside(realRoot, real)) throw new RdriveError('EACCES', 'Path leads outside your folder');
      return target;
    } catch (err) {
      if (err instanceof RdriveError) throw err;
      const code = (err as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      // A dangling symlink would let a later create follow it anywhere.
      if (await isSymlink(probe)) throw new RdriveError('EACCES', 'Path leads outside your folder');
      if (probe === realRoot) return target;
      probe = dirname(probe);
    }
  }
}

async function isSymlink(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isSymbolicLink();
  } catch {
    return false;
  }
}
