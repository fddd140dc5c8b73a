import { Worker } from 'node:worker_threads';
import { RdriveError, isErrorCode } from '../../common/errors.js';
import type { PoolConfig } from './pool.js';

export interface RangeRequest {
  id: number;
  path: string;
  headers: Record<string, string>;
  /** How the body is read (see answers.ts readBody): at most `limit` bytes, within `timeoutMs` and its rate. */
  body: BodyLimits;
}

export interface BodyLimits {
  limit: number;
  timeoutMs: number;
  /** The call, as errors name it. */
  what: string;
}

export interface RangeReply {
  id: number;
  status?: number;
  retryAfter?: string;
  contentRange?: string;
  contentEncoding?: string;
  body?: ArrayBuffer;
  /** `ours`: an RdriveError (a check of the answer failed), whose message is kept. */
  error?: { code: string; message: string; ours?: boolean };
}

/** A response fetched by the worker: status, the headers the checks need and the whole body. */
export interface FetchedRange {
  status: number;
  retryAfter: string | undefined;
  contentRange: string | undefined;
  contentEncoding: string | undefined;
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

  get(path: string, headers: Record<string, string>, body: BodyLimits): Promise<FetchedRange> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, path, headers, body } satisfies RangeRequest);
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
      const { code, message, ours } = reply.error;
      waiter.reject(ours === true && isErrorCode(code) ? new RdriveError(code, message) : Object.assign(new Error(message), { code }));
      return;
    }
    waiter.resolve({
      status: reply.status ?? 502,
      retryAfter: reply.retryAfter,
      contentRange: reply.contentRange,
      contentEncoding: reply.contentEncoding,
      body: Buffer.from(reply.body ?? new ArrayBuffer(0)),
    });
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }
}
