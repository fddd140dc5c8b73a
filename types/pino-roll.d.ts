// pino-roll ships no types; this covers the options rdrive uses (see its README).
declare module 'pino-roll' {
  import type { EventEmitter } from 'node:events';

  interface PinoRollOptions {
    file: string;
    /** Bytes as a number are megabytes; strings take b, k, m, g suffixes. */
    size?: string | number;
    frequency?: 'daily' | 'hourly' | number;
    extension?: string;
    limit?: { count: number; removeOtherLogFiles?: boolean };
    mkdir?: boolean;
    sync?: boolean;
    minLength?: number;
    /** sonic-boom's: bytes held while writes fail; a line that would go past it is dropped. */
    maxLength?: number;
    /** sonic-boom's: the mode each new file is created with. */
    mode?: number;
  }

  /** The sonic-boom stream pino-roll returns, as far as rdrive uses it. */
  interface RollingStream extends EventEmitter {
    readonly file: string;
    readonly fd: number;
    write(line: string): boolean;
    flush(cb?: (err?: Error | null) => void): void;
    /** What pino's fatal() calls (replaced: see survivesWriteFailures). */
    flushSync: () => void;
    /** Continues in `file` (after the write in flight); 'ready' once it is open. */
    reopen(file: string): void;
    end(): void;
  }

  export default function pinoRoll(options: PinoRollOptions): Promise<RollingStream>;
}
