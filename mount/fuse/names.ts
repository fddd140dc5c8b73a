import { RdriveError } from '../../common/errors.js';
import { NAME_MAX, STORED_PATH_MAX, checkName } from '../../common/paths.js';

/**
 * Name limits as Linux applies them on a local disk, checked by the mount before anything
 * exists locally or reaches the server. The kernel already applies PATH_MAX to the string a
 * call receives (relative to the working directory); NAME_MAX is the filesystem's to check, per
 * component, at lookup as at creation (ext4 answers ENAMETOOLONG for a too-long name in every
 * call, never ENOENT).
 */
export function checkNameLengths(path: string): void {
  for (const name of path.split('/')) {
    if (Buffer.byteLength(name) > NAME_MAX) throw new RdriveError('ENAMETOOLONG', `File name longer than ${NAME_MAX} bytes`);
  }
}

/**
 * The server stores a path from its user's root, and refuses one longer than STORED_PATH_MAX
 * bytes (twice PATH_MAX, see common/paths.ts). Linux would accept a longer one on a local disk
 * when the calls reach it by relative paths; on rdrive the call fails with ENAMETOOLONG and says
 * which limit it hit, before the name exists anywhere.
 */
export function checkServerPathLength(path: string): void {
  if (Buffer.byteLength(path) > STORED_PATH_MAX) {
    throw new RdriveError('ENAMETOOLONG', `Path longer than ${STORED_PATH_MAX} bytes from the mount's root: the rdrive server stores none longer`);
  }
}

/**
 * For calls that create a name (create, mkdir, symlink, mknod, rename's target): the length
 * checks, then the server's own rule for the new name (no control characters, backslash or
 * encoded traversal). A file is created here and uploaded only at its close, which must not be
 * where a name the server refuses is found out (the written data would have nowhere to go).
 */
export function checkNewName(path: string): void {
  checkNameLengths(path);
  checkServerPathLength(path);
  const name = path.slice(path.lastIndexOf('/') + 1);
  checkName(name);
  // The binding hands names over as UTF-8 text: bytes that are not UTF-8 (a Latin-1 "caf\xe9")
  // arrive as U+FFFD, so "caf\xe9" and "caf\xeb" would be one file, the second overwriting the
  // first. Refused (as a filesystem with utf8only does, with EILSEQ) rather than merged.
  checkUtf8(name, 'File name');
}

/**
 * Text from the binding that had bytes other than UTF-8 carries U+FFFD in their place: stored so,
 * two different names (or link targets) would become one. EILSEQ, as a utf8only filesystem.
 */
export function checkUtf8(text: string, what: string): void {
  if (text.includes('\uFFFD')) throw new RdriveError('EILSEQ', `${what} is not valid UTF-8 (rdrive stores names as UTF-8; convert it, e.g. with convmv)`);
}

/**
 * Names programs take as locks by creating them with O_EXCL: git's `index.lock` and
 * `refs/…/x.lock`, dot-locks (`mbox.lock`, `.lck`), vim's swap files (`.x.swp`, `.swo`…),
 * LibreOffice's `.~lock.name#`. Such a create is checked on the server at once (one request),
 * so two mounts never both hold one; every other new file reaches the server at its first close.
 */
export function isLockName(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return /\.(?:lock|lck)$/.test(name) || /^\..+\.sw[a-p]$/.test(name) || /^\.~lock\..+#$/.test(name);
}
