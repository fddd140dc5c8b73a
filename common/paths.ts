import { RdriveError } from './errors.js';

/** Linux limits, enforced by the server before any filesystem call. */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;
/**
 * The longest path the server stores, in bytes from the user's root. Linux applies PATH_MAX to
 * the string a call receives, not to where a file sits: a file may lie deeper, reached by
 * relative paths. The server walks a path one held directory at a time (no system call of its
 * gets the whole path), so it allows twice PATH_MAX; beyond, ENAMETOOLONG names this limit.
 */
export const STORED_PATH_MAX = 2 * PATH_MAX;
/** What a request line may carry: the longest stored path, every byte percent-encoded, and more. */
export const MAX_HEADER_BYTES = STORED_PATH_MAX * 3 + 16 * 1024;

/**
 * Turns the raw (still percent-encoded) path of a request into the list of its segments inside
 * the user's folder. `''` or `'/'` is the root, `[]`. Everything that could name something
 * outside the folder, or that a client could only send by mistake or malice, is refused:
 * `.`/`..` segments (also encoded, also double encoded), backslashes, NUL, control characters,
 * encoded separators, over-long names and paths.
 */
export function parseRemotePath(raw: string): string[] {
  if (raw.length > STORED_PATH_MAX * 3) throw new RdriveError('ENAMETOOLONG', pathTooLong());
  const trimmed = raw.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  const segments = trimmed.split('/').map(decodeSegment);
  checkSegments(segments);
  return segments;
}

/**
 * Validates already-decoded segments with the one rule every path obeys, whether it came in a
 * URL (decoded once) or in a JSON body (taken as is): a name the API accepts anywhere is a name
 * every route can reach.
 */
export function checkSegments(segments: readonly string[]): void {
  let length = 0;
  for (const segment of segments) {
    checkName(segment);
    length += Buffer.byteLength(segment) + 1;
  }
  if (length > STORED_PATH_MAX) throw new RdriveError('ENAMETOOLONG', pathTooLong());
}

function pathTooLong(): string {
  return `Path longer than ${STORED_PATH_MAX} bytes from your folder's root: the rdrive server stores none longer`;
}

/** A plain path string from a JSON body or the CLI ("a/b/c", leading slash optional). */
export function splitPlainPath(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  const segments = trimmed.split('/');
  checkSegments(segments);
  return segments;
}

function decodeSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new RdriveError('EINVAL', 'Malformed percent-encoding in path');
  }
  return decoded;
}

function hidesTraversal(name: string): boolean {
  if (!name.includes('%')) return false;
  let again: string;
  try {
    again = decodeURIComponent(name);
  } catch {
    return false;
  }
  return again === '.' || again === '..' || /[/\\\u0000]/.test(again);
}

/** The server's rule for one name: what it refuses, a mount refuses before the name exists. */
export function checkName(name: string): void {
  if (name === '') throw new RdriveError('EINVAL', 'Empty path segment');
  // A name is taken literally ("report%2e.txt" is a fine name). One that a further decode would
  // turn into a traversal or a separator is how payloads hide from naive filters ("%2e%2e%2f"
  // in JSON, "%252e%252e" in a URL): refused, in every route alike.
  if (hidesTraversal(name)) throw new RdriveError('EINVAL', 'Encoded separator or dot in a file name');
  if (name === '.' || name === '..') throw new RdriveError('EINVAL', 'Path segments "." and ".." are not allowed');
  if (name.includes('/') || name.includes('\\')) throw new RdriveError('EINVAL', 'Separator inside a file name');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new RdriveError('EINVAL', 'Control character or NUL in file name');
  // A lone UTF-16 surrogate (JSON's "\ud800") has no UTF-8 form: stored, it would become U+FFFD,
  // one name for many. A URL can carry none (its bytes must be valid UTF-8).
  if (/\p{Cs}/u.test(name)) throw new RdriveError('EINVAL', 'File name is not valid Unicode (a lone surrogate)');
  if (Buffer.byteLength(name) > NAME_MAX) throw new RdriveError('ENAMETOOLONG', `File name longer than ${NAME_MAX} bytes`);
}

/** The URL form of segments: each percent-encoded, joined by '/'. */
export function encodeRemotePath(segments: readonly string[]): string {
  return segments.map((s) => encodeURIComponent(s)).join('/');
}

/** Segments of a FUSE or CLI path such as "/a/b" (no validation: the server validates). */
export function toSegments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/**
 * True when `candidate` is `root` or inside it. Both must be absolute and normalised
 * (e.g. from path.resolve / fs.realpath); this only compares strings.
 */
export function isPathInside(root: string, candidate: string): boolean {
  const base = root.endsWith('/') ? root : `${root}/`;
  return candidate === root || candidate.startsWith(base);
}
