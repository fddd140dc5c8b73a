import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { Attr } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';

/** Starts an upload whose body is the given stream; resolves with the stored file's attributes. */
export type StreamStarter = (body: () => PassThrough) => Promise<Attr>;

const HIGH_WATER = 8 * 1024 * 1024;

/**
 * An upload that runs while a program writes a file front to back: each sequential write is
 * also sent, so at close() only the tail is left to send. The first write that is not at the
 * end abandons it (the server drops its temp file) and the file is uploaded from the local copy
 * at close as usual.
 */
export class StreamingUpload {
  /** Bytes handed to the upload so far. */
  sent = 0;
  private readonly body = new PassThrough({ highWaterMark: HIGH_WATER });
  private readonly result: Promise<Attr | Error>;
  private settled = false;

  constructor(start: StreamStarter) {
    let handedOut = false;
    // A retry inside the client (re-login, reconnect) must not replay a half-consumed stream.
    const source = (): PassThrough => {
      if (handedOut) throw new RdriveError('EIO', 'A streamed upload cannot be replayed');
      handedOut = true;
      return this.body;
    };
    this.result = start(source).then(
      (attr) => attr,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    ).finally(() => {
      this.settled = true;
    });
  }

  /** Sends the next bytes; waits while the connection is behind (bounded memory). */
  async push(data: Buffer): Promise<void> {
    if (this.settled) return;
    this.sent += data.length;
    if (!this.body.write(data)) await Promise.race([once(this.body, 'drain'), this.result]);
  }

  /** Ends the body and waits for the server's answer. */
  async finish(): Promise<Attr | Error> {
    this.body.end();
    return this.result;
  }

  abandon(): void {
    this.body.destroy(new Error('upload abandoned: the file is no longer written front to back'));
  }

  get failed(): boolean {
    return this.settled;
  }
}
