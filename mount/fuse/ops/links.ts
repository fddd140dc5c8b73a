import { NODE_TYPES, SYMLINK_MAX } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { checkNewName, checkUtf8 } from '../names.js';
import type { Owner } from '../../../common/ownership.js';
import { newEntry } from '../ownership.js';
import type { MountState } from '../state.js';
import { TYPE_BITS } from './attributes.js';

/** The file-type bits of mode_t. */
const S_IFMT = 0o170000;

/**
 * Symbolic links and special files are stored by the server as data (the target is never a path it opens); the
 * kernel on this machine resolves them, so a target may point anywhere, also outside the mount.
 */
export async function symlink(state: MountState, target: string, path: string, caller?: Owner): Promise<void> {
  state.requireWritable();
  checkNewName(path);
  if (target === '') throw new RdriveError('ENOENT', 'A symbolic link needs a target');
  if (Buffer.byteLength(target) > SYMLINK_MAX) throw new RdriveError('ENAMETOOLONG', `Link target longer than ${SYMLINK_MAX} bytes`);
  checkUtf8(target, 'Link target');
  const { owner } = await newEntry(state, path, caller, 0o777, false);
  const attr = await state.client.symlink(path, target, owner);
  state.cache.added(path, attr);
}

export async function readlink(state: MountState, path: string): Promise<string> {
  let attr = await state.attr(path);
  // Attributes recorded from a call that does not carry the target (e.g. a rename's answer).
  if (attr.type === 'symlink' && attr.target === undefined) attr = await state.fetchAttr(path);
  if (attr.type !== 'symlink' || attr.target === undefined) throw new RdriveError('EINVAL', 'Not a symbolic link');
  return attr.target;
}

/**
 * mknod(2)/mkfifo(3): the server stores the node's type, mode and device number as data, and
 * the kernel of this machine gives it meaning: it runs a FIFO or a socket locally, and never
 * opens a device node, since the mount is nodev. (The kernel has already refused a device node
 * to a caller without CAP_MKNOD.)
 */
export async function mknod(state: MountState, path: string, mode: number, rdev: number, caller?: Owner): Promise<void> {
  state.requireWritable();
  checkNewName(path);
  const kind = mode & S_IFMT;
  const { owner, mode: permissions } = await newEntry(state, path, caller, mode & 0o7777, false);
  if (kind === TYPE_BITS.file || kind === 0) {
    const attr = await state.client.upload(path, () => Buffer.alloc(0), { exclusive: true, mode: permissions, length: 0, ...(owner === undefined ? {} : { owner }) });
    state.cache.added(path, attr);
    return;
  }
  const type = NODE_TYPES.find((t) => TYPE_BITS[t] === kind);
  if (type === undefined) throw new RdriveError('EINVAL', `mknod: unknown file type ${kind.toString(8)}`);
  const attr = await state.client.mknod(path, { type, mode: permissions, rdev, ...owner });
  state.cache.added(path, attr);
}
