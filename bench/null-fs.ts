/**
 * The floor of the FUSE binding: a do-nothing fuse-native filesystem with the same mount options
 * as rdrive, answering from memory what the read-only workloads ask (bench/null-tree.ts).
 * Whatever rdrive costs above this row is rdrive's own.
 * Run as its own process: `node --import tsx bench/null-fs.ts <mountpoint> <smallFiles> <fmBytes>`.
 */
import { RdriveFuse } from '../mount/fuse/rdrive-fuse.js';
import { buildNullTree } from './null-tree.js';

const [mnt, smallArg, fmArg] = process.argv.slice(2);
const SMALL = Number(smallArg ?? 1000);
const FM_BYTES = Number(fmArg ?? 65536);
const now = new Date();

const dirs = buildNullTree(SMALL, FM_BYTES);

function lookup(path: string): number | undefined {
  if (path === '/') return -1;
  const cut = path.lastIndexOf('/');
  return dirs.get(path.slice(0, cut) || '/')?.get(path.slice(cut + 1));
}

function stat(size: number): Record<string, unknown> {
  const dir = size < 0;
  return { mtime: now, atime: now, ctime: now, size: dir ? 0 : size, mode: dir ? 0o40755 : 0o100644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, nlink: dir ? 2 : 1 };
}

const ops = {
  getattr: (path: string, cb: (err: number, st?: unknown) => void) => {
    const size = lookup(path);
    if (size === undefined) cb(-2);
    else cb(0, stat(size));
  },
  readdir: (path: string, cb: (err: number, names?: string[], stats?: unknown[]) => void) => {
    const entries = dirs.get(path);
    if (entries === undefined) return cb(-20);
    cb(0, [...entries.keys()], [...entries.values()].map(stat));
  },
  open: (_path: string, _flags: number, cb: (err: number, fd?: number) => void) => cb(0, 42),
  release: (_path: string, _fd: number, cb: (err: number) => void) => cb(0),
  read: (path: string, _fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
    const size = lookup(path) ?? 0;
    const n = Math.max(0, Math.min(len, size - pos));
    buf.fill(0x6e, 0, n);
    cb(n);
  },
};

const fuse = new RdriveFuse(mnt!, ops as never, { timeout: 60_000 }, { readOnly: true, attrTimeout: 1 });
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`null-fs: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
const stop = (): void => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
