import { ERRORS, RdriveError, foreignCode } from '../../common/errors.js';

/**
 * A failed login as the person at the keyboard should read it, the same for `rdrive mount` and
 * the file commands: a wrong password and an unreachable server say what to do; other errors
 * (TLS trust, server full) already do and pass through.
 */
export function describeLoginError(err: unknown, server: string, urlFrom: string = CLI_URL_FROM): RdriveError {
  if (!(err instanceof RdriveError)) return new RdriveError('EIO', `Login failed: ${(err as Error).message}`);
  const wrongScheme = describeWrongScheme(err, server);
  if (wrongScheme !== undefined) return wrongScheme;
  if (err.code === 'UNAUTHORIZED') return new RdriveError('UNAUTHORIZED', 'Login failed: wrong user name or password');
  return describeUnreachable(err, server, urlFrom);
}

/**
 * Where the file commands take the URL from, said in "Check the URL (...)". `rdrive mount` and
 * mount(8) take it as an argument and pass '' (they have no --server).
 */
const CLI_URL_FROM = '--server / RDRIVE_SERVER';

/**
 * A server that cannot be reached, said with its URL and what to check: at login, and for a
 * command that runs on a kept session (no login) or loses the server midway.
 */
export function describeUnreachable(err: RdriveError, server: string, urlFrom: string = CLI_URL_FROM): RdriveError {
  // A message already more specific than the table's (say, "not an rdrive server") stays.
  if (err.message !== ERRORS[err.code].message) return err;
  const url = urlFrom === '' ? 'the URL' : `the URL (${urlFrom})`;
  switch (err.code) {
    case 'UNREACHABLE': {
      // A name that does not resolve is a typo in the URL, not a server that is down.
      const cause = foreignCode(err.cause);
      if (cause === 'ENOTFOUND' || cause === 'EAI_AGAIN') {
        return new RdriveError(err.code, `Cannot find the host ${new URL(server).hostname} of ${server} (${cause}): check ${url}`, { cause: err });
      }
      return new RdriveError(err.code, `Cannot reach the server at ${server}: is it running? Check ${url} and "rdrive-server"`, { cause: err });
    }
    case 'ETIMEDOUT':
      // A connection that opens but gets no answer is a stalled or overloaded server (or a
      // firewall dropping packets), not a wrong URL.
      return new RdriveError(err.code, `The server at ${server} did not answer in time: it may be stopped, paused or overloaded, or a firewall drops the connection. Check "rdrive-server" there, or raise --timeout`, { cause: err });
    default:
      return err;
  }
}

/**
 * https:// to a plain http server gets a non-TLS answer to its hello (OpenSSL's "wrong version
 * number"); http:// to an https server gets its connection closed without an answer. Either
 * would otherwise read "Input/output error" or "is it running?" while the server runs fine.
 */
function describeWrongScheme(err: RdriveError, server: string): RdriveError | undefined {
  const url = new URL(server);
  const cause = foreignCode(err.cause);
  if (url.protocol === 'https:' && cause === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    url.protocol = 'http:';
    return new RdriveError('UNREACHABLE', `The server at ${server} answers in plain http, not https: use ${url.origin} (or serve https: rdrive-server --tls-cert/--tls-key)`, { cause: err });
  }
  if (url.protocol === 'http:' && err.code === 'UNREACHABLE' && cause === 'UND_ERR_SOCKET') {
    url.protocol = 'https:';
    return new RdriveError('UNREACHABLE', `The server at ${server} closed the connection without answering: if it serves https, use ${url.origin}`, { cause: err });
  }
  return undefined;
}
