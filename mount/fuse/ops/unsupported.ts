import { RdriveError } from '../../../common/errors.js';
import { checkNameLengths } from '../names.js';

/**
 * Refused, not faked (see README, "Known limits"). A hard link would need the server to keep
 * one file under two names with a shared link count; FIFOs, sockets and device nodes are local
 * kernel objects that mean nothing on a remote server and cannot be shared through it.
 */
export async function link(to: string): Promise<never> {
  checkNameLengths(to);
  throw new RdriveError('EPERM', 'Hard links are not supported on rdrive');
}

export async function mknod(path: string): Promise<never> {
  checkNameLengths(path);
  throw new RdriveError('EPERM', 'FIFOs, sockets and device nodes are not supported on rdrive');
}
