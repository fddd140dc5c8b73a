/**
 * Runs in a worker thread: fetches byte ranges over its own keep-alive undici Pool and hands
 * each body over without a copy. Receiving megabytes through the HTTP parser costs CPU; here it
 * runs on the second core, while the main thread answers the kernel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { foreignCode } from '../../common/errors.js';
import { createPool, type PoolConfig } from './pool.js';
import type { RangeReply, RangeRequest } from './range-fetcher.js';

const pool = createPool(workerData as PoolConfig);

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
    // The foreign code crosses the thread as is: the main thread maps it as for its own requests.
    const message = err instanceof Error ? err.message : String(err);
    return { id: request.id, error: { code: foreignCode(err) ?? 'EIO', message } };
  }
}
