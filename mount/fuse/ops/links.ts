import { SYMLINK_MAX } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { checkNewName } from '../names.js';
import type { MountState } from '../state.js';

/**
 * Symbolic links are stored by the server as data (the target is never a path it opens); the
 * kernel on this machine resolves them, so a target may point anywhere, also outside the mount.
 */
export async function symlink(state: MountState, target: string, path: string): Promise<void> {
  state.requireWritable();
  checkNewName(path);
  if (target === '') throw new RdriveError('ENOENT', 'A symbolic link needs a target');
  if (Buffer.byteLength(target) > SYMLINK_MAX) throw new RdriveError('ENAMETOOLONG', `Link target longer than ${SYMLINK_MAX} bytes`);
  const attr = await state.client.symlink(path, target);
  state.cache.added(path, attr);
}

export async function readlink(state: MountState, path: string): Promise<string> {
  let attr = await state.attr(path);
  // Attributes recorded from a call that does not carry the target (e.g. a rename's answer).
  if (attr.type === 'symlink' && attr.target === undefined) attr = await state.fetchAttr(path);
  if (attr.type !== 'symlink' || attr.target === undefined) throw new RdriveError('EINVAL', 'Not a symbolic link');
  return attr.target;
}
