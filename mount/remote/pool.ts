import { rootCertificates } from 'node:tls';
import { Pool } from 'undici';

/** How to reach the server; the same for the main client and the range worker. */
export interface PoolConfig {
  origin: string;
  connections: number;
  connectTimeoutMs: number;
  /** Longest wait for response headers, and between body chunks. */
  requestTimeoutMs: number;
  /** Extra trusted certificate(s), PEM, added to the system's authorities. */
  ca?: string;
}

/** A keep-alive undici Pool to the server. */
export function createPool(config: PoolConfig): Pool {
  return new Pool(config.origin, {
    connections: config.connections,
    connect: { timeout: config.connectTimeoutMs, ...(config.ca === undefined ? {} : { ca: [...rootCertificates, config.ca] }) },
    headersTimeout: config.requestTimeoutMs,
    bodyTimeout: config.requestTimeoutMs,
    keepAliveTimeout: 30_000,
  });
}
