/**
 * Runs in a worker thread: fetches byte ranges over its own keep-alive undici Pool and hands
 * each body over without a copy. Receiving megabytes through the HTTP parser costs CPU; here it
 * runs on the second core, while the main thread answers the kernel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RdriveError, foreignCode } from '../../common/errors.js';
import { readBody } from './answers.js';
import { createPool, type PoolConfig } from './pool.js';
import type { RangeReply, RangeRequest } from './range-fetcher.js';

const pool = createPool(workerData as PoolConfig);

parentPort?.on('message', (request: RangeRequest) => {
  void fetchRange(request).then((reply) => parentPort?.postMessage(reply, reply.body === undefined ? [] : [reply.body]));
});

async function fetchRange(request: RangeRequest): Promise<RangeReply> {
  try {
    const res = await pool.request({ method: 'GET', path: request.path, headers: request.headers });
    const { limit, timeoutMs, what } = request.body;
    const data = await readBody(res.body, limit, timeoutMs, what);
    // Handed over without a copy: a buffer of its own, not a view into a pooled one.
    const body = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const headers: Record<string, string> = {};
    for (const [name, key] of [['retry-after', 'retryAfter'], ['content-range', 'contentRange'], ['content-encoding', 'contentEncoding']] as const) {
      const value = res.headers[name];
      if (typeof value === 'string') headers[key] = value;
    }
    return { id: request.id, status: res.statusCode, body: body as ArrayBuffer, ...headers };
  } catch (err) {
    // The foreign code crosses the thread as is: the main thread maps it as for its own requests.
    const message = err instanceof Error ? err.message : String(err);
    return { id: request.id, error: { code: foreignCode(err) ?? 'EIO', message, ...(err instanceof RdriveError ? { ours: true } : {}) } };
  }
}
