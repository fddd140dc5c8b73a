/** A half-open byte range [start, end). */
export interface Extent {
  start: number;
  end: number;
}

/**
 * The dirty ranges of a file, kept sorted and merged so that a sequential write of a large file
 * is one extent however many 128 KiB writes it took.
 */
export class ExtentSet {
  private ranges: Extent[] = [];

  get list(): readonly Extent[] {
    return this.ranges;
  }

  /** Dirty bytes in all. */
  get bytes(): number {
    return this.ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const out: Extent[] = [];
    let merged: Extent = { start, end };
    let placed = false;
    for (const r of this.ranges) {
      if (r.end < merged.start) {
        out.push(r);
      } else if (r.start > merged.end) {
        if (!placed) {
          out.push(merged);
          placed = true;
        }
        out.push(r);
      } else {
        merged = { start: Math.min(r.start, merged.start), end: Math.max(r.end, merged.end) };
      }
    }
    if (!placed) out.push(merged);
    this.ranges = out;
  }

  /** Drops everything at or beyond `size` (a truncate). */
  clip(size: number): void {
    this.ranges = this.ranges
      .filter((r) => r.start < size)
      .map((r) => ({ start: r.start, end: Math.min(r.end, size) }));
  }

  clear(): void {
    this.ranges = [];
  }

  /** True when [0, size) is one dirty extent: the whole content is local. */
  coversWhole(size: number): boolean {
    if (size === 0) return true;
    const first = this.ranges[0];
    return this.ranges.length === 1 && first !== undefined && first.start === 0 && first.end >= size;
  }

  /** Splits [start, end) into pieces that are dirty (local) or clean (from the server). */
  split(start: number, end: number): Array<Extent & { dirty: boolean }> {
    const pieces: Array<Extent & { dirty: boolean }> = [];
    let cursor = start;
    for (const r of this.ranges) {
      if (r.end <= cursor) continue;
      if (r.start >= end) break;
      if (r.start > cursor) pieces.push({ start: cursor, end: r.start, dirty: false });
      const to = Math.min(r.end, end);
      pieces.push({ start: Math.max(r.start, cursor), end: to, dirty: true });
      cursor = to;
    }
    if (cursor < end) pieces.push({ start: cursor, end, dirty: false });
    return pieces;
  }
}
