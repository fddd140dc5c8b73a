import { existsSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { SERVER_DEFAULTS } from '../../common/config.js';
import { RdriveError, fromForeign } from '../../common/errors.js';
import { exitOnCrash } from '../../common/logging.js';
import { LOG_ROTATION_DEFAULTS } from '../../common/log-rotation.js';
import { resolveServerConfig } from '../config.js';
import { createServer } from '../create-server.js';
import { checkConfig } from './check-config.js';
import { readNewPassword, userAdd, userDel, userList } from './user-commands.js';
import { VERSION } from '../../common/version.js';

function buildProgram(): Command {
  const program = new Command('rdrive-server')
    .description('rdrive storage server: serves each user\'s folder over HTTP')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError()
    // Server options go before a subcommand, so `user add NAME --users FILE` reaches the subcommand.
    .enablePositionalOptions()
    .addOption(new Option('--host <host>', `address to listen on (default ${SERVER_DEFAULTS.host})`).env('RDRIVE_HOST'))
    .addOption(new Option('--port <port>', `port, 0 picks a free one (default ${SERVER_DEFAULTS.port})`).env('RDRIVE_PORT'))
    .addOption(new Option('--storage <dir>', `folder holding every user's folder (default ${SERVER_DEFAULTS.storage})`).env('RDRIVE_STORAGE'))
    .addOption(new Option('--users <file>', `credentials file (default ${SERVER_DEFAULTS.users})`).env('RDRIVE_USERS'))
    .addOption(new Option('--logs <dir>', `log folder, server.log inside (default ${SERVER_DEFAULTS.logs})`).env('RDRIVE_LOGS'))
    .addOption(new Option('--log-level <level>', 'fatal|error|warn|info|debug|trace (default info)').env('RDRIVE_LOG_LEVEL'))
    .addOption(new Option('--log-max-size <size>', `start a new server log file at this size, e.g. 10M, 512K, 0 for never (default ${LOG_ROTATION_DEFAULTS.maxSize})`).env('RDRIVE_LOG_MAX_SIZE'))
    .addOption(new Option('--log-keep <n>', `rotated log files kept besides the current one (default ${LOG_ROTATION_DEFAULTS.keep})`).env('RDRIVE_LOG_KEEP'))
    .addOption(new Option('--log-rotate <when>', 'also start a new log file hourly or daily').env('RDRIVE_LOG_ROTATE'))
    .addOption(new Option('--idle-timeout <seconds>', `sessions expire after this long without a request (default ${SERVER_DEFAULTS.idleTimeout})`).env('RDRIVE_IDLE_TIMEOUT'))
    .addOption(new Option('--stall-timeout <seconds>', `cut a connection whose client stops sending a request body or reading an answer for this long (default ${SERVER_DEFAULTS.stallTimeout})`).env('RDRIVE_STALL_TIMEOUT'))
    .addOption(new Option('--headers-timeout <seconds>', `answer 408 and cut a connection whose request head (request line and headers) is not all in this long after its first byte (default ${SERVER_DEFAULTS.headersTimeout})`).env('RDRIVE_HEADERS_TIMEOUT'))
    .addOption(new Option('--max-connections <n>', `connections at once, idle keep-alive ones included; lowered to fit the open-file limit (default ${SERVER_DEFAULTS.maxConnections})`).env('RDRIVE_MAX_CONNECTIONS'))
    .addOption(new Option('--max-connections-per-address <n>', `connections at once from one address; --trust-proxy addresses are exempt (default ${SERVER_DEFAULTS.maxConnectionsPerAddress})`).env('RDRIVE_MAX_CONNECTIONS_PER_ADDRESS'))
    .addOption(new Option('--max-clients <n>', `concurrent sessions (default ${SERVER_DEFAULTS.maxClients})`).env('RDRIVE_MAX_CLIENTS'))
    .addOption(new Option('--max-in-flight <n>', `requests one user may have in flight (default ${SERVER_DEFAULTS.maxInFlightPerUser})`).env('RDRIVE_MAX_IN_FLIGHT'))
    .addOption(new Option('--requests-per-minute <n>', `requests per user per minute (default ${SERVER_DEFAULTS.requestsPerMinute})`).env('RDRIVE_REQUESTS_PER_MINUTE'))
    .addOption(new Option('--login-attempts <n>', `failed logins per address and per user per 15 min (default ${SERVER_DEFAULTS.loginAttemptsPer15Min})`).env('RDRIVE_LOGIN_ATTEMPTS'))
    .addOption(new Option('--quota <size>', 'per-user quota: bytes, or a size such as 10G or 500M (powers of 1024); 0 for none (default 0)').env('RDRIVE_QUOTA'))
    .addOption(new Option('--max-entries <n>', `per-user limit on files, folders, symlinks and nodes, 0 or "unlimited" for none (default ${SERVER_DEFAULTS.maxEntries})`).env('RDRIVE_MAX_ENTRIES'))
    .addOption(new Option('--max-file-size <size>', 'largest file accepted: bytes, or a size such as 4G; 0 for no limit (default 0)').env('RDRIVE_MAX_FILE_SIZE'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve HTTPS (with --tls-key)').env('RDRIVE_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('RDRIVE_TLS_KEY'))
    .addOption(new Option('--redis <url>', 'share sessions and limits with other servers through Redis, e.g. redis://127.0.0.1:6379/0').env('RDRIVE_REDIS'))
    .addOption(new Option('--temp-sweep-interval <seconds>', `with --redis: how often to remove temp files of servers that are gone (default ${SERVER_DEFAULTS.tempSweepInterval})`).env('RDRIVE_TEMP_SWEEP_INTERVAL'))
    .addOption(new Option('--trust-proxy <list>', 'believe X-Forwarded-For from these proxies, e.g. loopback or 10.0.0.0/8').env('RDRIVE_TRUST_PROXY'))
    .addOption(new Option('--read-lease <ms>', `a mount may reuse a file's first bytes this long after reading them; a change by another client waits for it (default ${SERVER_DEFAULTS.readLease}, 0 for none; ignored with --redis)`).env('RDRIVE_READ_LEASE'))
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics at http://127.0.0.1:PORT/metrics (loopback only; off by default)').env('RDRIVE_METRICS_PORT'))
    .option('--check', 'validate the configuration (users file, storage, logs, TLS files, port) and exit: 0 when all is well, 78 otherwise')
    .action(async (opts: Record<string, string | undefined>) => {
      const config = resolveServerConfig({
        host: opts.host, port: opts.port, storage: opts.storage, users: opts.users, logs: opts.logs,
        logLevel: opts.logLevel, logMaxSize: opts.logMaxSize, logKeep: opts.logKeep, logRotate: opts.logRotate, idleTimeout: opts.idleTimeout, stallTimeout: opts.stallTimeout,
        headersTimeout: opts.headersTimeout, maxConnections: opts.maxConnections, maxConnectionsPerAddress: opts.maxConnectionsPerAddress, maxClients: opts.maxClients,
        maxInFlightPerUser: opts.maxInFlight, requestsPerMinute: opts.requestsPerMinute,
        loginAttemptsPer15Min: opts.loginAttempts, quota: opts.quota, maxEntries: opts.maxEntries, maxFileSize: opts.maxFileSize,
        tlsCert: opts.tlsCert, tlsKey: opts.tlsKey, redis: opts.redis, trustProxy: opts.trustProxy,
        metricsPort: opts.metricsPort, tempSweepInterval: opts.tempSweepInterval, readLease: opts.readLease,
      });
      if (opts.check !== undefined) {
        const results = await checkConfig(config);
        for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.line}\n`);
        process.exitCode = results.every((r) => r.ok) ? 0 : 78; // EX_CONFIG
        return;
      }
      const server = await createServer(config);
      exitOnCrash(server.log, { what: 'server', tell: (reason) => `rdrive-server: crashed (${reason}); details in the log\n` });
      if (!existsSync(config.users)) {
        process.stderr.write(`rdrive-server: warning: no users file at ${config.users}; nobody can log in until you add a user ("rdrive-server user add NAME --users ${config.users}")\n`);
      }
      process.stdout.write(`rdrive-server listening on ${server.url}\n`);
      const stop = (): void => {
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  const usersOption = new Option('--users <file>', `credentials file (default ${SERVER_DEFAULTS.users})`).env('RDRIVE_USERS');
  // `rdrive-server --users FILE user add NAME` (the server's option, before the subcommand)
  // must change FILE too, not silently the default file in the current folder.
  const usersFile = (sub: Command): string => {
    const own = sub.getOptionValueSource('users') === 'cli' ? sub.opts<{ users?: string }>().users : undefined;
    return own ?? program.opts<{ users?: string }>().users ?? SERVER_DEFAULTS.users;
  };
  const user = program.command('user').description('manage the credentials file (passwords stored as salted scrypt hashes)');
  user.command('add <name>').description('add a user (password from a masked prompt, RDRIVE_PASSWORD or stdin)').addOption(usersOption)
    .action(async (name: string, _o: unknown, sub: Command) => {
      await userAdd(usersFile(sub), name, await readNewPassword(name), false);
      process.stdout.write(`user ${name} added to ${usersFile(sub)}\n`);
    });
  user.command('passwd <name>').description('change a user\'s password').addOption(usersOption)
    .action(async (name: string, _o: unknown, sub: Command) => {
      await userAdd(usersFile(sub), name, await readNewPassword(name), true);
      process.stdout.write(`password of ${name} changed\n`);
    });
  user.command('del <name>').description('remove a user (their files stay in storage)').addOption(usersOption)
    .action(async (name: string, _o: unknown, sub: Command) => {
      await userDel(usersFile(sub), name);
      process.stdout.write(`user ${name} removed\n`);
    });
  user.command('list').description('list user names').addOption(usersOption)
    .action(async (_o: unknown, sub: Command) => {
      for (const line of await userList(usersFile(sub))) process.stdout.write(`${line}\n`);
    });
  return program;
}

/**
 * A bug that escapes every handler ends the process (its state can no longer be trusted) but
 * leaves its reason in the server log first. Uploads in flight lose only their temp files,
 * which the next start sweeps.
 */

/** What a failed listen means for the person starting the server. */
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'Address already in use: pick another --port or stop the other server',
  EADDRNOTAVAIL: 'That --host is not an address of this machine: use 127.0.0.1, 0.0.0.0 or one of its own addresses',
  EACCES: 'Not allowed to listen on that port (below 1024 needs root): pick a --port from 1024 up',
};

/** A --host that DNS does not know: listen() looked it up and failed, so nothing was reached. */
function unresolvableHost(host: string | undefined): string {
  return `--host ${host ?? ''} is not a name this machine can resolve: give an IP address (127.0.0.1, 0.0.0.0 or one of its own) or a known host name`;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    const error = err instanceof RdriveError ? err : fromForeign(err);
    const sys = err as { code?: string; syscall?: string; hostname?: string };
    const detail = (sys.syscall === 'listen' ? LISTEN_ERRORS[sys.code ?? ''] : undefined)
      ?? (sys.syscall === 'getaddrinfo' ? unresolvableHost(sys.hostname) : undefined)
      ?? error.message;
    process.stderr.write(`rdrive-server: ${detail}\n`);
    process.exitCode = error.code === 'EINVAL' ? 2 : 1;
  }
}
