import { resolve } from 'node:path';
import express from 'express';
import { SERVER_DEFAULTS } from '../common/config.js';
import { parseByteSize } from '../common/byte-size.js';
import { RdriveError } from '../common/errors.js';
import { type LogRotation, resolveLogRotation } from '../common/log-rotation.js';
import { checkLogLevel } from '../common/logging.js';

export interface ServerConfig {
  host: string;
  port: number;
  storage: string;
  users: string;
  logs: string;
  logLevel: string;
  /** When server.log starts a new file and how many old ones are kept. */
  logRotation: LogRotation;
  /** Seconds. */
  idleTimeout: number;
  maxClients: number;
  maxInFlightPerUser: number;
  requestsPerMinute: number;
  loginAttemptsPer15Min: number;
  quota: number;
  /** Entries (files, folders, links, nodes) per user; 0: no limit. */
  maxEntries: number;
  maxFileSize: number;
  /** PEM certificate and key files; both set means HTTPS. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Redis URL: state shared by several servers; undefined keeps it in this process. */
  redis: string | undefined;
  /**
   * Which proxies to believe about the client's address (X-Forwarded-For), as Express's
   * 'trust proxy': false, or addresses/subnets such as "loopback" or "10.0.0.0/8".
   */
  trustProxy: false | string;
  /** Seconds between sweeps of dead servers' temp files on shared storage (--redis only). */
  tempSweepInterval: number;
  /** Port of the Prometheus endpoint on 127.0.0.1 (0 picks one); undefined: no metrics. */
  metricsPort: number | undefined;
  /** Read lease length in ms (see state/read-leases.ts); 0 grants none. Not with --redis. */
  readLease: number;
  /** Seconds a connection may wait on its client mid-request before it is cut. */
  stallTimeout: number;
  /** Connections at once, as asked (createServer lowers it to what the open-file limit allows). */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Seconds a client has to send a request's whole head before its connection is cut. */
  headersTimeout: number;
}

export type ServerOptions = Partial<Record<Exclude<keyof ServerConfig, 'logRotation'> | 'logMaxSize' | 'logKeep' | 'logRotate', string | number | undefined>>;

type DefaultedKey = Exclude<keyof ServerConfig, 'tlsCert' | 'tlsKey' | 'redis' | 'trustProxy' | 'metricsPort' | 'logRotation'>;

/**
 * Options (from the command line or their RDRIVE_* variable: commander's .env() in server/cli/main.ts)
 * over embedded defaults, validated with clear errors. An empty value means the default.
 */
export function resolveServerConfig(options: ServerOptions): ServerConfig {
  const pick = (key: DefaultedKey): string | number => {
    const value = options[key];
    return value === undefined || value === '' ? SERVER_DEFAULTS[key] : value;
  };
  const config: ServerConfig = {
    host: String(pick('host')),
    port: integer('port', pick('port'), 0, 65535),
    storage: resolve(String(pick('storage'))),
    users: resolve(String(pick('users'))),
    logs: resolve(String(pick('logs'))),
    logLevel: checkLogLevel(String(pick('logLevel'))),
    logRotation: resolveLogRotation({
      maxSize: options.logMaxSize,
      keep: options.logKeep,
      every: optionalText(options.logRotate),
    }),
    idleTimeout: number('idle-timeout', pick('idleTimeout'), 0.05),
    maxClients: integer('max-clients', pick('maxClients'), 1),
    maxInFlightPerUser: integer('max-in-flight', pick('maxInFlightPerUser'), 1),
    requestsPerMinute: integer('requests-per-minute', pick('requestsPerMinute'), 1),
    loginAttemptsPer15Min: integer('login-attempts', pick('loginAttemptsPer15Min'), 1),
    quota: parseByteSize(pick('quota'), 'quota'),
    maxEntries: entryLimit(pick('maxEntries')),
    maxFileSize: parseByteSize(pick('maxFileSize'), 'max-file-size'),
    tlsCert: optionalPath(options.tlsCert),
    tlsKey: optionalPath(options.tlsKey),
    redis: redisUrl(options.redis),
    trustProxy: trustProxy(options.trustProxy),
    metricsPort: optionalPort(options.metricsPort),
    tempSweepInterval: integer('temp-sweep-interval', pick('tempSweepInterval'), 1),
    readLease: integer('read-lease', pick('readLease'), 0),
    stallTimeout: number('stall-timeout', pick('stallTimeout'), 0.05),
    maxConnections: integer('max-connections', pick('maxConnections'), 1),
    maxConnectionsPerAddress: integer('max-connections-per-address', pick('maxConnectionsPerAddress'), 1),
    headersTimeout: number('headers-timeout', pick('headersTimeout'), 1),
  };
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new RdriveError('EINVAL', 'HTTPS needs both --tls-cert FILE and --tls-key FILE');
  }
  return config;
}

function redisUrl(value: string | number | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const url = String(value);
  if (!/^rediss?:\/\/[^\s]+$/.test(url)) throw new RdriveError('EINVAL', `--redis must be a URL such as redis://127.0.0.1:6379/0, got "${url}"`);
  return url;
}

function trustProxy(value: string | number | undefined): false | string {
  if (value === undefined || value === '' || value === 'false') return false;
  const list = String(value);
  try {
    // Express compiles the list when it is set: a typo ("lookback") fails here, named, rather
    // than as a bare "Input/output error" once the server starts (and --check sees it too).
    express().set('trust proxy', list);
  } catch (err) {
    throw new RdriveError('EINVAL', `--trust-proxy must be addresses or subnets, comma-separated (e.g. loopback or 10.0.0.0/8): ${(err as Error).message}`);
  }
  return list;
}

function optionalPort(value: string | number | undefined): number | undefined {
  return value === undefined || value === '' ? undefined : integer('metrics-port', value, 0, 65535);
}

function optionalText(value: string | number | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : String(value);
}

function optionalPath(value: string | number | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : resolve(String(value));
}

/** --max-entries: a whole number, or "unlimited" (as 0) for no limit. */
function entryLimit(value: string | number): number {
  if (String(value).trim().toLowerCase() === 'unlimited') return 0;
  // Digits only: Number() would also take '1e6', '0x10' and '' (as 0, turning the limit off).
  const n = typeof value === 'number' || /^\s*[0-9]+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RdriveError('EINVAL', `--max-entries must be a whole number of entries per user (0 or "unlimited" for no limit), got "${value}"`);
  }
  return n;
}

function number(name: string, value: string | number, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new RdriveError('EINVAL', `--${name} must be a number ≥ ${min}, got "${value}"`);
  return n;
}

function integer(name: string, value: string | number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new RdriveError('EINVAL', `--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}
