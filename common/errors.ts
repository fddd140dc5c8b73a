import { constants } from 'node:os';

/**
 * The one error table shared by server, mount and CLI: a stable code, the HTTP status the
 * server answers with, and the Linux errno the mount returns to the kernel.
 */
export const ERRORS = {
  ENOENT: { http: 404, errno: 'ENOENT', message: 'No such file or directory' },
  EEXIST: { http: 409, errno: 'EEXIST', message: 'File exists' },
  ENOTDIR: { http: 409, errno: 'ENOTDIR', message: 'Not a directory' },
  EISDIR: { http: 409, errno: 'EISDIR', message: 'Is a directory' },
  ENOTEMPTY: { http: 409, errno: 'ENOTEMPTY', message: 'Directory not empty' },
  EBUSY: { http: 409, errno: 'EBUSY', message: 'Device or resource busy' },
  EACCES: { http: 403, errno: 'EACCES', message: 'Permission denied' },
  EPERM: { http: 403, errno: 'EPERM', message: 'Operation not permitted' },
  EROFS: { http: 403, errno: 'EROFS', message: 'Read-only file system' },
  EINVAL: { http: 400, errno: 'EINVAL', message: 'Invalid argument' },
  ENAMETOOLONG: { http: 400, errno: 'ENAMETOOLONG', message: 'File name too long' },
  EILSEQ: { http: 400, errno: 'EILSEQ', message: 'File name is not valid UTF-8' },
  ENOSPC: { http: 507, errno: 'ENOSPC', message: 'No space left on device (disk or quota full)' },
  // After ENOSPC: an answer of 507 without rdrive's JSON reads as ENOSPC (see codeForStatus).
  EDQUOT: { http: 507, errno: 'EDQUOT', message: 'Disk quota exceeded' },
  EFBIG: { http: 413, errno: 'EFBIG', message: 'File too large' },
  ELOOP: { http: 400, errno: 'ELOOP', message: 'Too many levels of symbolic links' },
  ENOSYS: { http: 501, errno: 'ENOSYS', message: 'Function not implemented' },
  EOPNOTSUPP: { http: 501, errno: 'EOPNOTSUPP', message: 'Operation not supported' },
  EBADF: { http: 400, errno: 'EBADF', message: 'Bad file descriptor' },
  BODY_TOO_LARGE: { http: 413, errno: 'EINVAL', message: 'Request body too large' },
  RANGE_NOT_SATISFIABLE: { http: 416, errno: 'EINVAL', message: 'Requested range not satisfiable' },
  UNAUTHORIZED: { http: 401, errno: 'EACCES', message: 'Authentication failed or session expired' },
  RATE_LIMITED: { http: 429, errno: 'EAGAIN', message: 'Too many requests; retry later' },
  // Before TOO_MANY_CLIENTS: a 503 without rdrive's JSON (a load balancer with no server to
  // offer) reads as UNAVAILABLE, which clients retry, not as a full house.
  UNAVAILABLE: { http: 503, errno: 'EAGAIN', message: 'Server temporarily unavailable; retry shortly' },
  TOO_MANY_CLIENTS: { http: 503, errno: 'EAGAIN', message: 'Too many clients connected; retry later' },
  UNREACHABLE: { http: 502, errno: 'EIO', message: 'Server unreachable' },
  TLS_UNTRUSTED: { http: 502, errno: 'EIO', message: 'The server\'s TLS certificate is not trusted: pass --ca FILE (or set RDRIVE_CA) with the certificate that signed it' },
  ETIMEDOUT: { http: 504, errno: 'ETIMEDOUT', message: 'Timed out' },
  EIO: { http: 500, errno: 'EIO', message: 'Input/output error' },
  // If-Match failed: the client's read or partial write was based on an older version.
  CHANGED: { http: 412, errno: 'EIO', message: 'The file changed on the server since it was opened here; open it again' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** A failure with a stable code from the table; the message is for humans only. */
export class RdriveError extends Error {
  readonly code: ErrorCode;
  /** Seconds the server asked to wait (Retry-After), when it sent one. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; retryAfter?: number }) {
    super(message ?? ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RdriveError';
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }

  get http(): number {
    return ERRORS[this.code].http;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * The code for an error answer that carried no JSON body (a proxy's page, say): the table's
 * first code with that status, read from the table so the two cannot drift apart; EIO else.
 */
export function codeForStatus(status: number): ErrorCode {
  return (Object.keys(ERRORS) as ErrorCode[]).find((code) => ERRORS[code].http === status) ?? 'EIO';
}

/** HTTP status for any thrown value; anything unknown is a 500. */
export function toHttpStatus(err: unknown): number {
  return err instanceof RdriveError ? err.http : 500;
}

/** Negative errno, as fuse-native wants it; anything unknown becomes -EIO. */
export function toErrno(err: unknown): number {
  const code = err instanceof RdriveError ? err.code : nodeCode(err);
  const name = code !== undefined && isErrorCode(code) ? ERRORS[code].errno : 'EIO';
  return -(constants.errno[name] ?? constants.errno.EIO);
}

/** The Node/undici error codes that mean "the server could not be reached in time". */
const FOREIGN_CODES: Record<string, ErrorCode> = {
  ECONNREFUSED: 'UNREACHABLE',
  ECONNRESET: 'UNREACHABLE',
  EHOSTUNREACH: 'UNREACHABLE',
  ENETUNREACH: 'UNREACHABLE',
  ENOTFOUND: 'UNREACHABLE',
  EPIPE: 'UNREACHABLE',
  EAI_AGAIN: 'UNREACHABLE',
  UND_ERR_SOCKET: 'UNREACHABLE',
  UND_ERR_CLOSED: 'UNREACHABLE',
  UND_ERR_CONNECT_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_HEADERS_TIMEOUT: 'ETIMEDOUT',
  UND_ERR_BODY_TIMEOUT: 'ETIMEDOUT',
  ETIMEDOUT: 'ETIMEDOUT',
  UND_ERR_ABORTED: 'EIO',
  ENOSPC: 'ENOSPC',
  EDQUOT: 'ENOSPC',
  EFBIG: 'EFBIG',
  ENAMETOOLONG: 'ENAMETOOLONG',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS_UNTRUSTED',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS_UNTRUSTED',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS_UNTRUSTED',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS_UNTRUSTED',
  CERT_HAS_EXPIRED: 'TLS_UNTRUSTED',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS_UNTRUSTED',
};

/**
 * The one boundary where foreign errors (Node fs, undici) become ours. Codes that already are
 * table codes (ENOENT, EEXIST, ...) keep their meaning.
 */
export function fromForeign(err: unknown): RdriveError {
  if (err instanceof RdriveError) return err;
  const code = foreignCode(err);
  if (code !== undefined) {
    const mapped = FOREIGN_CODES[code] ?? (isErrorCode(code) ? code : undefined);
    if (mapped !== undefined) return new RdriveError(mapped, ERRORS[mapped].message, { cause: err });
  }
  return new RdriveError('EIO', ERRORS.EIO.message, { cause: err });
}

/** The Node/undici error code of an error or of its cause (undici wraps socket errors). */
export function foreignCode(err: unknown): string | undefined {
  return nodeCode(err) ?? nodeCode((err as { cause?: unknown } | null)?.cause);
}

function nodeCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
