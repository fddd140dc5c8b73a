import { close, constants, open, read, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { checkMode, NODE_TYPES, SYMLINK_MAX, type NodeType } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';

/*
 * How a user's symlinks and special files (FIFOs, sockets, character and block device nodes)
 * are stored: as regular files, so nothing on the server (this code, the kernel, backup tools)
 * can ever follow a link or open a device. Such a file has mode SPECIAL_MODE (sticky +
 * owner-read, which a listing sees in the lstat it makes anyway) and its content starts with a
 * magic line saying what it stands for:
 *   LINK_MAGIC + the target's bytes                                  a symbolic link
 *   NODE_MAGIC + "<p|s|c|b> <mode, 4 octal digits> <rdev, 16 hex digits>\n"   a special file
 * Only a file with both the mode and a well-formed content is special: a user's file with that
 * mode but other content stays a file, at the cost of one small read per listing.
 */
export const SPECIAL_MODE = 0o1400;
export const LINK_MAGIC = Buffer.from('\u0000rdrive-symlink-v1\n', 'latin1');
export const NODE_MAGIC = Buffer.from('\u0000rdrive-node-v1\n', 'latin1');

/** What a stored special file stands for. */
export type Special = { type: 'symlink'; target: string } | { type: NodeType; mode: number; rdev: number };

const NODE_LETTER: Record<NodeType, string> = { fifo: 'p', socket: 's', char: 'c', block: 'b' };
const NODE_RECORD = /^([pscb]) ([0-7]{4}) ([0-9a-f]{16})\n$/;
const NODE_BYTES = NODE_MAGIC.length + 24;
const MAX_BYTES = LINK_MAGIC.length + SYMLINK_MAX;
/** The largest rdev stored exactly (a JavaScript number; Linux's dev_t values fit). */
const RDEV_MAX = Number.MAX_SAFE_INTEGER;

const openFd = promisify(open) as (path: string, flags: number) => Promise<number>;
function readFd(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buffer, offset, length, position, (err, n) => (err === null ? resolve(n) : reject(err))));
}

/** Refuses targets Linux would refuse (empty, over SYMLINK_MAX bytes, holding NUL) and ones UTF-8 cannot hold. */
export function checkLinkTarget(target: unknown): string {
  if (typeof target !== 'string' || target === '') throw new RdriveError('EINVAL', 'A symlink needs JSON {"target": "..."} with a non-empty target');
  if (target.includes('\u0000')) throw new RdriveError('EINVAL', 'A symlink target cannot hold NUL');
  // JSON can carry a lone surrogate (\ud800) that no UTF-8 byte sequence stands for: stored, it
  // would come back as U+FFFD, another target than the one created.
  if (/\p{Cs}/u.test(target)) throw new RdriveError('EINVAL', 'A symlink target must be valid Unicode (it holds a lone surrogate)');
  if (Buffer.byteLength(target) > SYMLINK_MAX) throw new RdriveError('ENAMETOOLONG', `Symlink target longer than ${SYMLINK_MAX} bytes`);
  return target;
}

/** A special-file request as the API receives it: a known type, permission bits, a device number. */
export function checkNode(body: unknown): { type: NodeType; mode: number; rdev: number } {
  const input = (body ?? {}) as Record<string, unknown>;
  const type = input.type;
  if (typeof type !== 'string' || !(NODE_TYPES as readonly string[]).includes(type)) {
    throw new RdriveError('EINVAL', `A special file needs JSON {"type": one of ${NODE_TYPES.join(', ')}}`);
  }
  const mode = input.mode ?? 0o644;
  const rdev = input.rdev ?? 0;

  if (typeof rdev !== 'number' || !Number.isInteger(rdev) || rdev < 0 || rdev > RDEV_MAX) throw new RdriveError('EINVAL', 'rdev must be a non-negative whole number');
  return { type: type as NodeType, mode: checkMode(mode), rdev: type === 'char' || type === 'block' ? rdev : 0 };
}

export function encodeSpecial(special: Special): Buffer {
  if (special.type === 'symlink') return Buffer.concat([LINK_MAGIC, Buffer.from(special.target, 'utf8')]);
  const mode = (special.mode & 0o7777).toString(8).padStart(4, '0');
  const rdev = special.rdev.toString(16).padStart(16, '0');
  return Buffer.concat([NODE_MAGIC, Buffer.from(`${NODE_LETTER[special.type]} ${mode} ${rdev}\n`, 'latin1')]);
}

/** What `content` stands for, or undefined when it is no well-formed special file. */
export function decodeSpecial(content: Buffer): Special | undefined {
  if (content.length > LINK_MAGIC.length && content.subarray(0, LINK_MAGIC.length).equals(LINK_MAGIC)) {
    if (content.length > MAX_BYTES) return undefined;
    return { type: 'symlink', target: content.subarray(LINK_MAGIC.length).toString('utf8') };
  }
  if (content.length !== NODE_BYTES || !content.subarray(0, NODE_MAGIC.length).equals(NODE_MAGIC)) return undefined;
  const match = NODE_RECORD.exec(content.subarray(NODE_MAGIC.length).toString('latin1'));
  if (match === null) return undefined;
  const type = (Object.keys(NODE_LETTER) as NodeType[]).find((t) => NODE_LETTER[t] === match[1])!;
  const rdev = Number.parseInt(match[3]!, 16);
  if (rdev > RDEV_MAX) return undefined;
  return { type, mode: Number.parseInt(match[2]!, 8), rdev };
}

/** Whether an lstat result may be a stored special file (then its content decides). */
export function isSpecialCandidate(st: Stats): boolean {
  return st.isFile() && (st.mode & 0o7777) === SPECIAL_MODE && st.size > LINK_MAGIC.length && st.size <= MAX_BYTES;
}

/** What the stored file at `path` stands for (opened without following), or undefined when it is a plain file. */
export async function readSpecial(path: string): Promise<Special | undefined> {
  let fd: number;
  try {
    fd = await openFd(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return await readSpecialFd(fd);
  } finally {
    close(fd, () => undefined);
  }
}

/** Same, from an open descriptor of a candidate file. */
export async function readSpecialFd(fd: number): Promise<Special | undefined> {
  const buffer = Buffer.allocUnsafe(MAX_BYTES + 1);
  let got = 0;
  for (;;) {
    const n = await readFd(fd, buffer, got, buffer.length - got, got);
    if (n === 0) break;
    got += n;
    if (got === buffer.length) return undefined;
  }
  return decodeSpecial(buffer.subarray(0, got));
}

/** Bytes a stored special file holds on disk (what quotas count). */
export function specialBytes(special: Special): number {
  return encodeSpecial(special).length;
}
