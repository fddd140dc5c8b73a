import type { Attr, DirEntry, StatFs } from '../common/api.js';

/** Pure formatting for the CLI: no I/O, unit-tested. */

const TYPE_LETTER = { file: '-', dir: 'd', symlink: 'l', fifo: 'p', socket: 's', char: 'c', block: 'b' } as const;
const TYPE_NAME = {
  file: 'regular file', dir: 'directory', symlink: 'symbolic link', fifo: 'fifo', socket: 'socket', char: 'character special file', block: 'block special file',
} as const;

/** How `ls -l` names an entry: a directory with a slash, a link with its target. */
function longName(e: DirEntry): string {
  if (e.type === 'dir') return `${e.name}/`;
  if (e.type === 'symlink') return `${e.name} -> ${e.target ?? '?'}`;
  return e.name;
}

export function modeString(attr: Pick<Attr, 'type' | 'mode'>): string {
  const bits = 'rwxrwxrwx';
  let out = TYPE_LETTER[attr.type];
  for (let i = 0; i < 9; i++) out += (attr.mode & (1 << (8 - i))) !== 0 ? bits[i] : '-';
  return out;
}

export function humanSize(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}${units[0]}` : `${value < 10 ? value.toFixed(1) : Math.round(value)}${units[unit]}`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function sortEntries<T extends { name: string }>(entries: readonly T[]): T[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function formatListing(entries: readonly DirEntry[], long: boolean): string {
  const sorted = sortEntries(entries);
  if (!long) return sorted.map((e) => `${e.name}${e.type === 'dir' ? '/' : ''}\n`).join('');
  const width = Math.max(1, ...sorted.map((e) => String(e.size).length));
  return sorted
    .map((e) => `${modeString(e)} ${String(e.size).padStart(width)} ${formatTime(e.mtime)} ${longName(e)}\n`)
    .join('');
}

export function formatStat(path: string, attr: Attr): string {
  return [
    attr.type === 'symlink' ? `  File: ${path} -> ${attr.target ?? '?'}` : `  File: ${path}`,
    `  Type: ${TYPE_NAME[attr.type]}`,
    `  Size: ${attr.size} (${humanSize(attr.size)})`,
    `  Mode: ${(attr.mode & 0o777).toString(8).padStart(4, '0')} (${modeString(attr)})`,
    `Modify: ${formatTime(attr.mtime)}`,
    `Access: ${formatTime(attr.atime)}`,
    `Change: ${formatTime(attr.ctime)}`,
    '',
  ].join('\n');
}

export function formatDf(fs: StatFs): string {
  // As df computes it: of the space the user can have (used + available), how much is used.
  const pct = fs.used + fs.free > 0 ? Math.ceil((fs.used / (fs.used + fs.free)) * 100) : 0;
  const columns = [['Size', humanSize(fs.total)], ['Used', humanSize(fs.used)], ['Avail', humanSize(fs.free)], ['Use%', `${pct}%`]] as const;
  const table = tableOf(columns);
  if (fs.entriesTotal === undefined || fs.entriesTotal === 0) return table;
  // Entries (files, folders, links), as df -i shows inodes: the user's limit, or the disk's.
  const used = fs.entriesUsed ?? fs.entriesTotal - (fs.entriesFree ?? 0);
  const free = fs.entriesFree ?? 0;
  const entryPct = used + free > 0 ? Math.ceil((used / (used + free)) * 100) : 0;
  return `${table}\n${tableOf([['Entries', String(fs.entriesTotal)], ['Used', String(used)], ['Free', String(free)], ['Use%', `${entryPct}%`]])}`;
}

function tableOf(columns: ReadonlyArray<readonly [string, string]>): string {
  const widths = columns.map(([head, value]) => Math.max(head.length, value.length));
  const row = (i: 0 | 1): string => columns.map((cells, k) => cells[i].padStart(widths[k]!)).join('  ');
  return `${row(0)}\n${row(1)}\n`;
}

/** Text that is valid UTF-8 without control characters other than tab/newline/CR shows as is. */
export function isPrintableText(data: Buffer): boolean {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    // A preview may cut a multi-byte character in half at its end; try without the last 3 bytes.
    if (data.length < 4) return false;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(0, lastCharBoundary(data)));
    } catch {
      return false;
    }
  }
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}

function lastCharBoundary(data: Buffer): number {
  const end = data.length;
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const byte = data[end - i]!;
    if ((byte & 0xc0) === 0xc0) return end - i;
  }
  return end;
}

/** `xxd`-style dump: offset, 16 bytes in hex pairs, printable ASCII. */
export function hexdump(data: Buffer): string {
  const lines: string[] = [];
  for (let offset = 0; offset < data.length; offset += 16) {
    const row = data.subarray(offset, offset + 16);
    const hex: string[] = [];
    for (let i = 0; i < 16; i += 2) {
      const pair = row.subarray(i, i + 2);
      hex.push(pair.length === 0 ? '    ' : pair.toString('hex').padEnd(4, ' '));
    }
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}: ${hex.join(' ')}  ${ascii}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
