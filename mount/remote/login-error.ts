import { RdriveError } from '../../common/errors.js';

/**
 * A failed login as the person at the keyboard should read it, the same for `rdrive mount` and
 * the file commands: a wrong password and an unreachable server say what to do; other errors
 * (TLS trust, server full) already do and pass through.
 */
export function describeLoginError(err: unknown, server: string): RdriveError {
  if (!(err instanceof RdriveError)) return new RdriveError('EIO', `Login failed: ${(err as Error).message}`);
  switch (err.code) {
    case 'UNAUTHORIZED':
      return new RdriveError('UNAUTHORIZED', 'Login failed: wrong user name or password');
    case 'UNREACHABLE':
    case 'ETIMEDOUT':
      return new RdriveError(err.code, `Cannot reach the server at ${server}: is it running? Check the URL (--server / RDRIVE_SERVER) and "rdrive-server"`);
    default:
      return err;
  }
}
