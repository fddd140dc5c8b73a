/**
 * Runs in a worker thread: fetches byte ranges over its own keep-alive undici Pool and hands
 * each body over without a copy. Receiving megabytes through the HTTP parser costs CPU; here it
 * runs on the second core, while the main thread answers the kernel.
 */
import { rootCertificates } from 'node:tls';
import { parentPort, workerData } from 'node:worker_threads';
import { Pool } from 'undici';
import type { RangeReply, RangeRequest, RangeWorkerConfig } from './range-fetcher.js';

const config = workerData as RangeWorkerConfig;
const pool = new Pool(config.origin, {
  connections: 4,
  connect: { timeout: config.connectTimeoutMs, ...(config.ca === undefined ? {} : { ca: [...rootCertificates, config.ca] }) },
  headersTimeout: config.requestTimeoutMs,
  bodyTimeout: config.requestTimeoutMs,
  keepAliveTimeout: 30_000,
});

parentPort?.on('message', (request: RangeRequest) => {
  void fetchRange(request).then((reply) => parentPort?.postMessage(reply, reply.body === undefined ? [] : [reply.body]));
});

async function fetchRange(request: RangeRequest): Promise<RangeReply> {
  try {
    const res = await pool.request({ method: 'GET', path: request.path, headers: request.headers });
    const body = await res.body.arrayBuffer();
    const retryAfter = res.headers['retry-after'];
    return { id: request.id, status: res.statusCode, body, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : 'EIO';
    return { id: request.id, error: { code, message: String(e.message ?? err) } };
  }
}
