import { RdriveError } from '../../../common/errors.js';

/** Hard links, symlinks and device nodes have no place on an rdrive server: refused, not faked. */
export async function link(): Promise<never> {
  throw new RdriveError('EPERM', 'Hard links are not supported on rdrive');
}

export async function symlink(): Promise<never> {
  throw new RdriveError('EPERM', 'Symbolic links are not supported on rdrive');
}

export async function mknod(): Promise<never> {
  throw new RdriveError('EPERM', 'Device nodes and FIFOs are not supported on rdrive');
}

export async function readlink(): Promise<never> {
  throw new RdriveError('EINVAL', 'Not a symbolic link');
}
