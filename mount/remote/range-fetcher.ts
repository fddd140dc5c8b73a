import { Worker } from 'node:worker_threads';
import type { PoolConfig } from './pool.js';

export interface RangeRequest {
  id: number;
  path: string;
  headers: Record<string, string>;
}

export interface RangeReply {
  id: number;
  status?: number;
  retryAfter?: string;
  body?: ArrayBuffer;
  error?: { code: string; message: string };
}

/** A response fetched by the worker: status, Retry-After and the whole body. */
export interface FetchedRange {
  status: number;
  retryAfter: string | undefined;
  body: Buffer;
}

/**
 * The main thread's side of range-worker.ts: one request per call, answered by message. A
 * transport failure rejects with an Error carrying the network error's code, as undici's would.
 */
export class RangeFetcher {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: FetchedRange) => void; reject: (e: Error) => void }>();
  private nextId = 1;

  constructor(config: PoolConfig) {
    this.worker = new Worker(new URL('./range-worker.js', import.meta.url), { workerData: config });
    this.worker.unref();
    this.worker.on('message', (reply: RangeReply) => this.settle(reply));
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', () => this.failAll(Object.assign(new Error('range worker stopped'), { code: 'UND_ERR_CLOSED' })));
  }

  get(path: string, headers: Record<string, string>): Promise<FetchedRange> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, path, headers } satisfies RangeRequest);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private settle(reply: RangeReply): void {
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if (reply.error !== undefined) {
      waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      return;
    }
    waiter.resolve({ status: reply.status ?? 502, retryAfter: reply.retryAfter, body: Buffer.from(reply.body ?? new ArrayBuffer(0)) });
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
