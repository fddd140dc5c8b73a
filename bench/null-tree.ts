/**
 * The fixtures the null filesystems serve from memory: a folder of N files of 4 KiB, a "file
 * manager" folder, folders of 1,000 / 10,000 / 100,000 empty files and a 10,000-file tree.
 * Directory path → (name → size); a size of -1 is a subdirectory.
 */
export type NullTree = Map<string, Map<string, number>>;

export function buildNullTree(smallFiles: number, fmBytes: number): NullTree {
  const dirs: NullTree = new Map();
  const folder = (path: string, count: number, size: number, prefix = 'f'): void => {
    dirs.set(path, new Map(Array.from({ length: count }, (_, i) => [`${prefix}${i + 1}`, size])));
  };
  dirs.set('/', new Map([['small', -1], ['fm', -1], ['ls1000', -1], ['ls10000', -1], ['ls100000', -1], ['find', -1]]));
  folder('/small', smallFiles, 4096);
  folder('/fm', 200, fmBytes);
  for (const n of [1000, 10_000, 100_000]) folder(`/ls${n}`, n, 0);
  folder('/find', 100, -1, 'd');
  for (let d = 1; d <= 100; d++) folder(`/find/d${d}`, 100, 0);
  return dirs;
}
