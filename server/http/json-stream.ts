import type { Response } from 'express';
import { RdriveError } from '../../common/errors.js';

/**
 * An answer `{"<key>":[...]}` written a batch of items at a time as they are made, the same
 * bytes res.json() would send: a request holds one batch, not the whole array and its text
 * (a 100,000-entry listing built whole cost ~90 MB of server memory per request). A client
 * that reads slowly holds the maker back (res.write() false: wait for 'drain'), and one that
 * has gone stops it. Once the first batch is out, a failure can only cut the connection (see
 * errorHandler): the client sees an answer cut short, never a partial array taken for whole.
 */
export class JsonArrayStream {
  private started = false;
  private closed = false;

  constructor(private readonly res: Response, private readonly key: string) {
    res.once('close', () => {
      this.closed = true;
    });
  }

  /** Sends `items`; resolves once the answer can take more, rejects (ETIMEDOUT) when its client has gone. */
  async write(items: readonly unknown[]): Promise<void> {
    if (this.closed) throw clientGone();
    if (items.length === 0) return;
    let text = items.map((item) => JSON.stringify(item)).join(',');
    if (this.started) text = `,${text}`;
    else {
      this.res.type('json');
      text = `{${JSON.stringify(this.key)}:[${text}`;
      this.started = true;
    }
    if (!this.res.write(text)) await drained(this.res);
  }

  /** Ends the answer (a whole one, with its length, when nothing was written yet). */
  end(): void {
    if (this.started) this.res.end(']}');
    else this.res.json({ [this.key]: [] });
  }
}

function clientGone(): RdriveError {
  return new RdriveError('ETIMEDOUT', 'The client closed the connection before the answer was complete');
}

/** Resolves when `res` can take more, rejects when its connection closes first. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      res.off('drain', onDrain);
      reject(clientGone());
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
