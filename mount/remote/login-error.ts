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
      return new RdriveError(err.code, `Cannot reach the server at ${server}: is it running? Check the URL (--server / RDRIVE_SERVER) and "rdrive-server"`);
    case 'ETIMEDOUT':
      // A connection that opens but gets no answer is a stalled or overloaded server (or a
      // firewall dropping packets), not a wrong URL.
      return new RdriveError(err.code, `The server at ${server} did not answer in time: it may be stopped, paused or overloaded, or a firewall drops the connection. Check "rdrive-server" there, or raise --timeout`);
    default:
      return err;
  }
}
