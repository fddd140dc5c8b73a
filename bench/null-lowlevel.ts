/**
 * The floor a binding change would give: the same do-nothing filesystem as bench/null-fs.ts, on
 * the libfuse 3 low-level prototype (bench/lowlevel/fuse-lowlevel.c, built by
 * scripts/build-lowlevel.sh). Inode numbers are indexes into a table built at start. Writes are
 * accepted and dropped (only sizes are kept), so `dd` and `cp` into it measure the write floor.
 * Run as its own process: `node --import tsx bench/null-lowlevel.ts <mountpoint> <smallFiles> <fmBytes>`.
 */
import { loadLowLevel } from './lowlevel/addon.js';
import { buildNullTree } from './null-tree.js';

/** The request codes of fuse-lowlevel.c. */
const Op = { lookup: 0, getattr: 1, readdirplus: 2, open: 3, read: 4, release: 5, opendir: 6, releasedir: 7, readdir: 9, create: 10, write: 11, setattr: 12, unlink: 13, flush: 14 } as const;
const ENOENT = 2;
/** rdrive's attribute and entry lifetime (seconds). */
const TIMEOUT = 1;
/** The smallest a listing entry can take in the kernel's buffer: asking for more is harmless. */
const MIN_DIRENT = 80;

interface Node {
  size: number;
  children: Map<string, number> | undefined;
  list: Array<[string, number]>;
}

function inodes(smallFiles: number, fmBytes: number): Node[] {
  const tree = buildNullTree(smallFiles, fmBytes);
  const table: Node[] = [];
  const add = (size: number): number => table.push({ size, children: size < 0 ? new Map() : undefined, list: [] }) - 1;
  const fill = (path: string, ino: number): void => {
    for (const [name, size] of tree.get(path) ?? []) {
      const child = add(size);
      table[ino]!.children!.set(name, child);
      table[ino]!.list.push([name, child]);
      if (size < 0) fill(path === '/' ? `/${name}` : `${path}/${name}`, child);
    }
  };
  add(-1); // inode 0 is not a valid FUSE inode
  fill('/', add(-1));
  return table;
}

function main(): void {
  const [mnt, smallArg, fmArg] = process.argv.slice(2);
  const ll = loadLowLevel();
  const table = inodes(Number(smallArg ?? 1000), Number(fmArg ?? 65536));
  const now = Math.floor(Date.now() / 1000);
  const data = Buffer.alloc(131072, 0x6e);
  const mode = (n: Node): number => (n.size < 0 ? 0o40755 : 0o100644);
  const size = (n: Node): number => Math.max(0, n.size);
  const nlink = (n: Node): number => (n.size < 0 ? 2 : 1);

  const entries = (ino: number, length: number, offset: number): { names: string[]; attrs: Float64Array } => {
    const slice = table[ino]!.list.slice(offset, offset + Math.max(1, Math.floor(length / MIN_DIRENT)));
    const attrs = new Float64Array(slice.length * 5);
    slice.forEach(([, child], i) => {
      const c = table[child]!;
      attrs.set([child, mode(c), size(c), nlink(c), now], i * 5);
    });
    return { names: slice.map(([n]) => n), attrs };
  };

  const create = (parent: Node, name: string): number => {
    const child = table.push({ size: 0, children: undefined, list: [] }) - 1;
    parent.children?.set(name, child);
    parent.list.push([name, child]);
    return child;
  };

  const change = (op: number, req: bigint, node: Node, name: string, length: number, offset: number): void => {
    if (op === Op.create) {
      const child = create(node, name);
      ll.replyCreate(req, child, 0o100644, 0, 1, now, TIMEOUT, 0);
    } else if (op === Op.write) {
      node.size = Math.max(node.size, offset + length);
      ll.replyWrite(req, length);
    } else if (op === Op.unlink) {
      node.children?.delete(name);
      node.list = node.list.filter(([n]) => n !== name);
      ll.replyErr(req, 0);
    } else ll.replyErr(req, 0);
  };

  const handle = (op: number, req: bigint, ino: number, name: string, length: number, offset: number): void => {
    const node = table[ino];
    if (node !== undefined && (op === Op.create || op === Op.write || op === Op.unlink)) {
      change(op, req, node, name, length, offset);
      return;
    }
    if (node !== undefined && op === Op.setattr && length === 1) node.size = offset;
    if (op === Op.setattr) {
      const n = node ?? table[1]!;
      ll.replyAttr(req, ino, mode(n), size(n), nlink(n), now, TIMEOUT);
      return;
    }
    const child = op === Op.lookup ? node?.children?.get(name) : ino;
    const c = child === undefined ? undefined : table[child];
    if (node === undefined || child === undefined || c === undefined) ll.replyErr(req, ENOENT);
    else if (op === Op.lookup) ll.replyEntry(req, child, mode(c), size(c), nlink(c), now, TIMEOUT);
    else if (op === Op.getattr) ll.replyAttr(req, ino, mode(c), size(c), nlink(c), now, TIMEOUT);
    else if (op === Op.readdirplus || op === Op.readdir) {
      const { names, attrs } = entries(ino, length, offset);
      ll.replyDir(req, length, op === Op.readdirplus ? 1 : 0, offset, names, attrs, TIMEOUT);
    } else if (op === Op.open || op === Op.opendir) ll.replyOpen(req, 0, 0);
    else if (op === Op.read) ll.replyBuf(req, data, Math.max(0, Math.min(length, node.size - offset)));
    else ll.replyErr(req, 0);
  };

  if (!ll.mount(mnt!, 'fsname=rdrive-null-ll,subtype=rdrive,nodev,nosuid', handle)) {
    process.stderr.write(`null-lowlevel: cannot mount ${mnt!}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
  const stop = (): void => {
    ll.unmount();
    setTimeout(() => process.exit(0), 200);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
