/** Longer than the kernel keeps a name it was told exists (the entry timeout), with room. */
const KEEP_MS = 5_000;
const MAX_NAMES = 1_000;

/**
 * New files this mount made whose first close failed (quota, disk full, server gone): nothing of
 * them reached the server, but the kernel may still hold the name for a moment and send an open
 * instead of a create when a program makes the file again (see file-io.ts attrForWriting).
 */
export class NeverStored {
  private readonly names = new Map<string, { mode: number; at: number }>();

  note(path: string, mode: number): void {
    this.names.delete(path);
    this.names.set(path, { mode, at: Date.now() });
    const now = Date.now();
    // Oldest first (insertion order): stop at the first one still worth keeping.
    for (const [name, entry] of this.names) {
      if (this.names.size <= MAX_NAMES && now - entry.at < KEEP_MS) break;
      this.names.delete(name);
    }
  }

  has(path: string): boolean {
    const entry = this.names.get(path);
    return entry !== undefined && Date.now() - entry.at < KEEP_MS;
  }

  /** The mode the file was made with; forgets it. */
  take(path: string): number | undefined {
    const entry = this.names.get(path);
    this.names.delete(path);
    return entry?.mode;
  }
}
