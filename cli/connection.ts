import { Option, type Command } from 'commander';
import { CLIENT_DEFAULTS } from '../common/config.js';
import { RdriveError } from '../common/errors.js';
import { ApiClient } from '../mount/remote/api-client.js';
import { describeLoginError, describeUnreachable } from '../mount/remote/login-error.js';
import { obtainPassword } from './credentials.js';
import { readCa, warnIfCleartext } from './trust.js';
import { deleteSession, loadSession, saveSession, sessionFile } from './session-cache.js';

export interface ConnectionFlags {
  server?: string;
  user?: string;
  passwordFile?: string;
  quiet?: boolean;
  json?: boolean;
  ca?: string;
}

/** The options every file command shares. */
export function withConnectionOptions(command: Command): Command {
  return command
    .addOption(new Option('-s, --server <url>', `server URL (default ${CLIENT_DEFAULTS.server})`).env('RDRIVE_SERVER'))
    .addOption(userOption())
    .option('--password-file <file>', 'read the password from this file (else RDRIVE_PASSWORD, else a prompt)')
    .addOption(caOption())
    .option('-q, --quiet', 'no progress output');
}

/** --user, or RDRIVE_USER (commander's .env(): the help names the variable). */
export function userOption(): Option {
  return new Option('-u, --user <name>', 'user name').env('RDRIVE_USER');
}

/** --ca FILE, or RDRIVE_CA: extra trusted certificates for an https:// server. */
export function caOption(): Option {
  return new Option('--ca <file>', 'trust this PEM certificate for an https:// server').env('RDRIVE_CA');
}

export function resolveTarget(flags: ConnectionFlags): { server: string; user: string } {
  const server = (flags.server ?? CLIENT_DEFAULTS.server).replace(/\/+$/, '');
  return { server, user: requireUser(flags.user) };
}

/** The --user (or RDRIVE_USER) value, required. */
export function requireUser(user: string | undefined): string {
  if (user === undefined || user === '') throw new RdriveError('EINVAL', 'No user: pass --user NAME or set RDRIVE_USER');
  return user;
}

async function newClient(server: string, flags: ConnectionFlags): Promise<ApiClient> {
  const ca = await readCa(flags.ca);
  return new ApiClient({ server, maxRetryAfterSeconds: 5, connectTimeoutMs: 5_000, requestTimeoutMs: 60_000, ...(ca === undefined ? {} : { ca }) });
}

/**
 * Runs `fn` with a logged-in client (see withSession). A server lost on a kept session, or
 * midway, is said as at login (its URL, what to check), not as a bare "Server unreachable".
 */
export async function withClient<T>(flags: ConnectionFlags, fn: (client: ApiClient) => Promise<T>): Promise<T> {
  const { server } = resolveTarget(flags);
  try {
    return await withSession(flags, fn);
  } catch (err) {
    throw err instanceof RdriveError ? describeUnreachable(err, server) : err;
  }
}

/**
 * The session cached by `rdrive login` when there is one, else a fresh login that is ended
 * (slot freed) when the command is done.
 */
async function withSession<T>(flags: ConnectionFlags, fn: (client: ApiClient) => Promise<T>): Promise<T> {
  const { server, user } = resolveTarget(flags);
  const cacheFile = sessionFile(server, user);
  const cached = await loadSession(cacheFile, server, user);
  if (cached !== undefined) {
    const client = await newClient(server, flags);
    client.useToken(user, cached.token);
    try {
      return await fn(client);
    } catch (err) {
      if (!(err instanceof RdriveError && err.code === 'UNAUTHORIZED')) throw err;
      await deleteSession(cacheFile);
      if (!canGetPassword(flags)) throw new RdriveError('UNAUTHORIZED', 'Session expired: run "rdrive login" again');
    } finally {
      await client.close();
    }
  }
  const client = await newClient(server, flags);
  try {
    await login(client, server, user, flags);
    return await fn(client);
  } finally {
    await client.logout();
    await client.close();
  }
}

function canGetPassword(flags: ConnectionFlags): boolean {
  return flags.passwordFile !== undefined || (process.env.RDRIVE_PASSWORD ?? '') !== '' || process.stdin.isTTY === true;
}

export async function login(client: ApiClient, server: string, user: string, flags: ConnectionFlags): Promise<void> {
  warnIfCleartext(server);
  const password = await obtainPassword(user, { passwordFile: flags.passwordFile });
  try {
    await client.login(user, password);
  } catch (err) {
    throw describeLoginError(err, server);
  }
}

/** `rdrive login`: a session kept in a file only the user can read, until it expires. */
export async function loginAndCache(flags: ConnectionFlags): Promise<string> {
  const { server, user } = resolveTarget(flags);
  const client = await newClient(server, flags);
  try {
    await login(client, server, user, flags);
    const file = sessionFile(server, user);
    await saveSession(file, { server, user, token: client.getToken()! });
    return file;
  } finally {
    await client.close();
  }
}

export async function logoutCached(flags: ConnectionFlags): Promise<boolean> {
  const { server, user } = resolveTarget(flags);
  const file = sessionFile(server, user);
  const cached = await loadSession(file, server, user);
  if (cached === undefined) return false;
  const client = await newClient(server, flags);
  client.useToken(user, cached.token);
  await client.logout();
  await client.close();
  await deleteSession(file);
  return true;
}
