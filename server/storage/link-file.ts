import { close, constants, open, read, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { SYMLINK_MAX } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';

/*
 * How a user's symlink is stored: a regular file, so nothing on the server (this code, the
 * kernel, backup tools) can ever follow it. Its mode is LINK_MODE (sticky + owner-read, which a
 * listing sees in the lstat it makes anyway) and its content is LINK_MAGIC followed by the
 * target's bytes. Only a file with both is a link: a user's file with that mode but other
 * content stays a file, at the cost of one small read per listing.
 */
export const LINK_MODE = 0o1400;
export const LINK_MAGIC = Buffer.from('\u0000rdrive-symlink-v1\n', 'latin1');

const openFd = promisify(open) as (path: string, flags: number) => Promise<number>;
function readFd(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, position, (err, n) => (err === null ? resolve(n) : reject(err))));
}

/** Refuses targets Linux would refuse: empty, over SYMLINK_MAX bytes, or holding NUL. */
export function checkLinkTarget(target: unknown): string {
  if (typeof target !== 'string' || target === '') throw new RdriveError('EINVAL', 'A symlink needs JSON {"target": "..."} with a non-empty target');
  if (target.includes('\u0000')) throw new RdriveError('EINVAL', 'A symlink target cannot hold NUL');
  if (Buffer.byteLength(target) > SYMLINK_MAX) throw new RdriveError('ENAMETOOLONG', `Symlink target longer than ${SYMLINK_MAX} bytes`);
  return target;
}

export function encodeLink(target: string): Buffer {
  return Buffer.concat([LINK_MAGIC, Buffer.from(target, 'utf8')]);
}

/** Whether an lstat result may be a stored link (then its content decides). */
export function isLinkCandidate(st: Stats): boolean {
  return st.isFile() && (st.mode & 0o7777) === LINK_MODE && st.size > LINK_MAGIC.length && st.size <= LINK_MAGIC.length + SYMLINK_MAX;
}

/** The target of the stored link at `path` (opened without following), or undefined when it is not one. */
export async function readLinkTarget(path: string): Promise<string | undefined> {
  let fd: number;
  try {
    fd = await openFd(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return await readLinkTargetFd(fd);
  } finally {
    close(fd, () => undefined);
  }
}

/** Same, from an open descriptor of a candidate file. */
export async function readLinkTargetFd(fd: number): Promise<string | undefined> {
  const buffer = Buffer.allocUnsafe(LINK_MAGIC.length + SYMLINK_MAX + 1);
  let got = 0;
  for (;;) {
    const n = await readFd(fd, buffer, got, buffer.length - got, got);
    if (n === 0) break;
    got += n;
    if (got === buffer.length) return undefined;
  }
  if (got <= LINK_MAGIC.length || !buffer.subarray(0, LINK_MAGIC.length).equals(LINK_MAGIC)) return undefined;
  return buffer.subarray(LINK_MAGIC.length, got).toString('utf8');
}
