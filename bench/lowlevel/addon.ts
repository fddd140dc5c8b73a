import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** Where scripts/build-lowlevel.sh puts the prototype binding (bench/lowlevel/fuse-lowlevel.c). */
const ADDON = join(import.meta.dirname, 'build', 'fuse-lowlevel.node');

/** `size` is the length asked (read, listing), written (write) or the mode (create); `data` comes with a write. */
export type RequestHandler = (op: number, req: bigint, ino: number, name: string, size: number, offset: number, data?: Buffer) => void;

/** What fuse-lowlevel.c exports; `req` is libfuse's request pointer, answered exactly once. */
export interface LowLevel {
  mount(mountpoint: string, options: string, handler: RequestHandler): boolean;
  unmount(): void;
  replyEntry(req: bigint, ino: number, mode: number, size: number, nlink: number, mtime: number, timeout: number): void;
  replyAttr(req: bigint, ino: number, mode: number, size: number, nlink: number, mtime: number, timeout: number): void;
  replyErr(req: bigint, errno: number): void;
  replyOpen(req: bigint, fh: number, keepCache: number): void;
  replyBuf(req: bigint, data: Buffer, length: number): void;
  replyCreate(req: bigint, ino: number, mode: number, size: number, nlink: number, mtime: number, timeout: number, fh: number): void;
  replyWrite(req: bigint, count: number): void;
  /** `attrs` holds [ino, mode, size, nlink, mtime] per name. */
  replyDir(req: bigint, size: number, plus: number, offset: number, names: string[], attrs: Float64Array, timeout: number): void;
}

export function lowLevelBuilt(): boolean {
  return existsSync(ADDON);
}

export function loadLowLevel(): LowLevel {
  return createRequire(import.meta.url)(ADDON) as LowLevel;
}
