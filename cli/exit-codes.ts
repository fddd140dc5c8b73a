import { RdriveError, fromForeign, type ErrorCode } from '../common/errors.js';

/** Distinct exit codes, so scripts can tell failures apart without parsing messages. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  PERMISSION: 4,
  AUTH: 5,
  UNREACHABLE: 6,
  LIMIT: 7,
  EXISTS: 8,
  NO_SPACE: 9,
  NO_FUSE: 10,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const BY_CODE: Partial<Record<ErrorCode, ExitCode>> = {
  ENOENT: EXIT.NOT_FOUND,
  EACCES: EXIT.PERMISSION,
  EPERM: EXIT.PERMISSION,
  EROFS: EXIT.PERMISSION,
  UNAUTHORIZED: EXIT.AUTH,
  UNREACHABLE: EXIT.UNREACHABLE,
  TLS_UNTRUSTED: EXIT.UNREACHABLE,
  ETIMEDOUT: EXIT.UNREACHABLE,
  RATE_LIMITED: EXIT.LIMIT,
  TOO_MANY_CLIENTS: EXIT.LIMIT,
  EEXIST: EXIT.EXISTS,
  ENOTEMPTY: EXIT.EXISTS,
  ENOSPC: EXIT.NO_SPACE,
  EDQUOT: EXIT.NO_SPACE,
  EFBIG: EXIT.NO_SPACE,
  EINVAL: EXIT.USAGE,
  ENAMETOOLONG: EXIT.USAGE,
  // The CLI meets ENOSYS only from the FUSE check before mounting (/dev/fuse or fusermount
  // missing): the file commands call no route a server lacks.
  ENOSYS: EXIT.NO_FUSE,
};

export function exitCodeFor(err: unknown): ExitCode {
  const error = err instanceof RdriveError ? err : fromForeign(err);
  return BY_CODE[error.code] ?? EXIT.FAILURE;
}

/** The error code that stands for an exit code (the first in the table), to pass a child's on. */
export function codeForExit(exit: number | null): ErrorCode | undefined {
  return (Object.keys(BY_CODE) as ErrorCode[]).find((code) => BY_CODE[code] === exit);
}
