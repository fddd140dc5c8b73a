import { EXTENT_HEADER_BYTES, decodeExtentHeader } from '../../common/api.js';
import { RdriveError } from '../../common/errors.js';

/**
 * Reads exact byte counts from a chunked async source without copying more than needed. Used
 * to parse the PATCH extents framing while the body streams in.
 */
export class ExactReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(source: AsyncIterable<Buffer | string>) {
    this.iterator = (async function* () {
      for await (const chunk of source) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    })();
  }

  /** Next chunk of at most `max` bytes, or undefined at end of input. */
  async next(max: number): Promise<Buffer | undefined> {
    if (this.pending.length === 0) {
      if (this.done) return undefined;
      const { value, done } = await this.iterator.next();
      if (done === true) {
        this.done = true;
        return undefined;
      }
      this.pending = value;
    }
    const out = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes; undefined when the input ended cleanly before the first byte. */
  async exactly(n: number): Promise<Buffer | undefined> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const chunk = await this.next(n - got);
      if (chunk === undefined) {
        if (got === 0) return undefined;
        throw new RdriveError('EINVAL', 'Truncated extents body');
      }
      parts.push(chunk);
      got += chunk.length;
    }
    return Buffer.concat(parts, n);
  }
}

/** Yields each extent's offset and its data, chunk by chunk, as the body streams in. */
export async function* readExtents(
  source: AsyncIterable<Buffer | string>,
): AsyncGenerator<{ offset: number; data: Buffer }> {
  const reader = new ExactReader(source);
  for (;;) {
    const header = await reader.exactly(EXTENT_HEADER_BYTES);
    if (header === undefined) return;
    const { offset, length } = decodeExtentHeader(header);
    if (!Number.isSafeInteger(offset + length)) throw new RdriveError('EFBIG');
    let position = offset;
    let left = length;
    while (left > 0) {
      const chunk = await reader.next(left);
      if (chunk === undefined) throw new RdriveError('EINVAL', 'Truncated extents body');
      yield { offset: position, data: chunk };
      position += chunk.length;
      left -= chunk.length;
    }
  }
}
