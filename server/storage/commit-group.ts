import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long a closed file may wait in the page cache before it reaches stable storage. */
export const COMMIT_INTERVAL_MS = 1000;

/**
 * Group commit: writes are acknowledged once they are in the server's page cache (safe from a
 * crash of any process), and one flush of the whole filesystem, at most COMMIT_INTERVAL_MS after
 * the first write since the last one, makes all of them durable together. One flush for many
 * files costs far less than two fsyncs per file. An explicit `sync()` starts a commit at once
 * and resolves when a commit that began after the call has finished (a commit already running
 * may have started before the caller's write, so it does not count).
 */
export class CommitGroup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** The commit queued behind the running one, shared by every caller that arrives meanwhile. */
  private next: Promise<void> | undefined;
  private dirty = false;

  constructor(
    private readonly flush: () => Promise<void>,
    private readonly intervalMs = COMMIT_INTERVAL_MS,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** Something was written: it will be on stable storage within intervalMs. */
  noteWrite(): void {
    this.dirty = true;
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sync().catch(this.onError);
    }, this.intervalMs);
  }

  /** Resolves once everything written before the call is on stable storage. */
  sync(): Promise<void> {
    if (this.running === undefined) return this.start();
    this.next ??= this.running.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** Flushes what is pending and stops the timer (server shutdown). */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    if (this.dirty) await this.sync();
  }

  private start(): Promise<void> {
    this.dirty = false;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const running = this.flush()
      .catch((err: unknown) => {
        // Nothing was made durable: try again at the next interval.
        this.noteWrite();
        throw err;
      })
      .finally(() => {
        this.running = undefined;
      });
    this.running = running;
    return running;
  }
}

/**
 * Flushes the filesystem holding `path` (syncfs(2), through coreutils' `sync -f`, since Node has
 * no binding for it): data and metadata of every file written there, one journal commit.
 */
export function syncFilesystem(path: string): () => Promise<void> {
  return async () => {
    await run('sync', ['-f', path]);
  };
}
