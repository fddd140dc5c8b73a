import { access, chmod, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { RdriveError } from '../common/errors.js';
import { ensureDirSync } from '../common/ensure-dir.js';
import { MAX_HEADER_BYTES } from '../common/paths.js';
import { Authenticator } from './auth/authenticator.js';
import { PasswordCheckQueue } from './auth/check-queue.js';
import type { ServerConfig } from './config.js';
import { createApp } from './http/app.js';
import { connectionCap, limitConnections, openFileLimit } from './http/connection-limits.js';
import { createMetrics, listenMetrics } from './http/metrics.js';
import { cutStalledClients } from './http/stall-guard.js';
import { KeyedCounter } from './state/keyed-counter.js';
import { ReadLeases } from './state/read-leases.js';
import type { ServerContext } from './http/context.js';
import { createLogger } from '../common/logging.js';
import { SERVER_INSTANCE } from './instance.js';
import { memoryStores, redactUrl, redisStores, type StateStores } from './state/stores.js';
import type { Usage } from './state/usage-tracker.js';
import { LocalDiskBackend } from './storage/local-disk.js';
import { type SweepRule, scheduleTempSweeps, sweepTempFiles } from './storage/temp-files.js';

/** On shared storage, a dead server's temp file goes once it has not been written for this long. */
const SHARED_TEMP_AGE_MS = 15 * 60_000;
/** Temp files named before names carried their server: only after this long untouched. */
const UNOWNED_TEMP_AGE_MS = 60 * 60_000;

export interface RunningServer {
  url: string;
  port: number;
  log: Logger;
  close: () => Promise<void>;
}

/** Builds everything from a validated config and listens. No argv or env is read here. */
export async function createServer(config: ServerConfig, logger?: Logger): Promise<RunningServer> {
  const log = logger ?? await createLogger('server', join(config.logs, 'server.log'), config.logLevel, config.logRotation);
  await privateStorage(config.storage, log);
  const authLog = log.child({ component: 'auth' });
  // Loaded before the state stores, so a broken users file stops the start first; the first
  // load ends no session (there are no previous users to compare with).
  const auth = new Authenticator(config.users, authLog, async (users) => {
    for (const user of users) {
      const ended = await state.sessions.removeUser(user);
      if (ended > 0) authLog.info({ user, ended }, 'sessions ended: the user was removed from the users file or given a new password');
    }
  });
  await auth.load();
  const limits = { idleMs: config.idleTimeout * 1000, maxClients: config.maxClients, maxInFlightPerUser: config.maxInFlightPerUser, loginAttempts: config.loginAttemptsPer15Min };
  const measure = (user: string): Promise<Usage> => backend.usage(user);
  const state: StateStores = config.redis === undefined
    ? memoryStores(limits, measure)
    : await redisStores(config.redis, limits, measure, log.child({ component: 'state' }));
  // After the state: servers sharing the storage also share its per-user lock (see UserLocks).
  const backend = new LocalDiskBackend(config.storage, (err) => log.error({ err }, 'group commit (syncfs) failed; retrying in a second'), state.userLock);
  const stopSweeps = await sweepLeftovers(config, state, log);
  const ctx: ServerContext = {
    config,
    log: log.child({ component: 'http' }),
    backend,
    auth,
    passwordChecks: new PasswordCheckQueue(),
    sessions: state.sessions,
    inFlight: state.inFlight,
    usage: state.usage,
    loginBackoff: state.loginBackoff,
    writing: new KeyedCounter(),
    ...(state.rateLimitStore === undefined ? {} : { rateLimitStore: state.rateLimitStore }),
    // Leases live in this process: servers that share state through Redis grant none.
    ...(config.redis === undefined && config.readLease > 0 ? { leases: new ReadLeases(config.readLease) } : {}),
  };
  const metrics = config.metricsPort === undefined ? undefined : createMetrics(ctx);
  const app = createApp(ctx, metrics?.middleware);
  app.set('trust proxy', config.trustProxy);
  const sweeper = setInterval(() => {
    state.sessions.sweep().then((dropped) => {
      if (dropped > 0) log.info({ dropped }, 'idle sessions expired');
    }, () => undefined);
  }, Math.min(10_000, config.idleTimeout * 1000)).unref();

  const tls = await readTls(config);
  const headersTimeout = Math.round(config.headersTimeout * 1000);
  const options = {
    // Request lines as long as the longest stored path needs (Node's default is 16 KiB).
    maxHeaderSize: MAX_HEADER_BYTES,
    // Uploads of big files stream for a long time: no request timeout (the stall guard below
    // cuts a body that stops). The head alone must come within headersTimeout of its first byte
    // however slowly it trickles (a new connection that sends nothing is cut after as long);
    // node looks every connectionsCheckingInterval (30 s by default: a slow head lived ~75 s).
    requestTimeout: 0,
    headersTimeout,
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
    keepAliveTimeout: 65_000,
  };
  const server: Server = tls === undefined ? createHttpServer(options, app) : createHttpsServer({ ...tls, ...options }, app);
  const fdLimit = await openFileLimit();
  const maxConnections = connectionCap(config.maxConnections, fdLimit);
  if (maxConnections < config.maxConnections) {
    log.warn({ maxConnections, asked: config.maxConnections, openFileLimit: fdLimit }, `the open-file limit (ulimit -n ${fdLimit}) leaves room for ${maxConnections} connections, not --max-connections ${config.maxConnections}; raise it (LimitNOFILE= in a systemd unit) to allow more`);
  }
  const trusted = app.get('trust proxy fn') as (address: string, hop: number) => boolean;
  limitConnections(server, { max: maxConnections, perAddress: config.maxConnectionsPerAddress, exempt: (address) => trusted(address, 0) }, log.child({ component: 'http' }));
  // Before the main listener: a --metrics-port in use then fails the start with nothing
  // listening (after it, the open main port kept a server that said it failed running).
  const metricsEndpoint = metrics === undefined ? undefined : await listenMetrics(metrics.registry, config.metricsPort ?? 0);
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => {
      void metricsEndpoint?.close();
      reject(err);
    };
    server.once('error', fail);
    server.listen(config.port, config.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  cutStalledClients(server, config.stallTimeout * 1000, ctx.log);
  if (metricsEndpoint !== undefined) log.info({ url: metricsEndpoint.url }, 'metrics listening');
  const { port } = server.address() as AddressInfo;
  const url = `${tls === undefined ? 'http' : 'https'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, instance: SERVER_INSTANCE, storage: config.storage, maxClients: config.maxClients, maxConnections, idleTimeout: config.idleTimeout, quota: config.quota, maxEntries: config.maxEntries, state: config.redis === undefined ? 'memory' : redactUrl(config.redis) }, 'server listening');
  return {
    url,
    port,
    log,
    close: async () => {
      clearInterval(sweeper);
      stopSweeps();
      await metricsEndpoint?.close();
      await state.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await backend.close().catch((err: unknown) => log.error({ err }, 'final commit failed'));
      log.info('server stopped');
      log.flush();
    },
  };
}

/**
 * Temp files of interrupted uploads. Alone on its storage, every temp file at start is a crash's
 * leftover. Sharing it (--redis), a file goes only once the server that wrote it is gone and it
 * has been untouched for a while, and the sweep repeats (a killed server may never come back).
 */
async function sweepLeftovers(config: ServerConfig, state: StateStores, log: Logger): Promise<() => void> {
  const report = (swept: number): void => {
    if (swept > 0) log.info({ swept }, 'removed temp files left by interrupted uploads');
  };
  if (state.isInstanceLive === undefined) {
    report(await sweepTempFiles(config.storage, { olderThanMs: 0 }));
    return () => undefined;
  }
  const rule: SweepRule = { olderThanMs: SHARED_TEMP_AGE_MS, unownedOlderThanMs: UNOWNED_TEMP_AGE_MS, isLive: state.isInstanceLive };
  report(await sweepTempFiles(config.storage, rule));
  return scheduleTempSweeps(config.storage, rule, config.tempSweepInterval * 1000, report, (err) => log.warn({ err }, 'temp file sweep failed; it runs again later'));
}

/**
 * The storage folder is the server's private data, closed to other accounts on the server
 * machine (0700, as PostgreSQL does with its data directory); users' folders inside it are 0755
 * so that a mount shows its root as an ordinary folder (which --allow-other needs).
 */
async function privateStorage(storage: string, log: Logger): Promise<void> {
  ensureDirSync(storage, 0o700);
  // A folder another account made (root, for a service user) fails here, named, rather than
  // as a bare "Operation not permitted" or as every request failing later.
  const fix = 'give it to the user the server runs as (chown), or pick another --storage';
  const mode = (await stat(storage)).mode & 0o777;
  if (mode !== 0o700) {
    await chmod(storage, 0o700).catch((err: NodeJS.ErrnoException) => {
      throw new RdriveError('EACCES', `Cannot make the storage folder ${storage} private (chmod 0700: ${err.code ?? err.message}): ${fix}`, { cause: err });
    });
    log.info({ storage, from: mode.toString(8) }, 'storage folder made private (0700)');
  }
  await access(storage, constants.W_OK | constants.X_OK).catch(() => {
    throw new RdriveError('EACCES', `The storage folder ${storage} is not writable by uid ${process.getuid?.() ?? '?'}: ${fix}`);
  });
}

/** The certificate and key for HTTPS, checked before listening so a bad file is a clear error. */
async function readTls(config: ServerConfig): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const read = (file: string, what: string): Promise<Buffer> =>
    readFile(file).catch(() => {
      throw new RdriveError('EINVAL', `Cannot read the TLS ${what} ${file}: check the path and its permissions`);
    });
  const tls = { cert: await read(config.tlsCert, 'certificate'), key: await read(config.tlsKey, 'key') };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new RdriveError('EINVAL', `The TLS certificate and key do not work together (${(err as Error).message}): check both PEM files`);
  }
  return tls;
}
