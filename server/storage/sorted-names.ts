import type { Dirent } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { fdPath, isTempName } from './confine.js';
import { breathe } from './tree-walk.js';

/** Directory entries read per getdents(2) call. */
const READ_BUFFER = 1024;

/** Names in JavaScript string order (UTF-16 code units): the same on every server, in every locale. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What a window of names may hold: this many names, and about this many bytes of memory. */
export interface NamesWindow {
  count: number;
  bytes: number;
}

/** About what a name costs held in an array (measured: 42 bytes for 15 characters; one beyond Latin-1 takes twice its characters). */
const nameBytes = (name: string): number => name.length + 32;

/**
 * The first names, in name order, of the entries in the held folder that `keep` accepts (temp
 * files left out), as many as `window` holds, in one pass over the folder that never holds more
 * than about 1.5 windows of names, whatever the folder's size; `more` when it had others past
 * them. A folder's own order is a hash order: a listing in name order had to hold every name of
 * the folder at once (a 100,000-entry one: ~15 MB per request, for as long as its answer took).
 */
export async function firstNames(dirFd: number, keep: (entry: Dirent) => boolean, window: NamesWindow): Promise<{ names: string[]; more: boolean }> {
  let names: string[] = [];
  let bytes = 0;
  let more = false;
  // Once the window is full, a name after the last one kept cannot be among the first.
  let last: string | undefined;
  const trim = (): void => {
    names.sort(byName);
    let kept = 0;
    let keptBytes = 0;
    while (kept < names.length && kept < window.count && keptBytes + nameBytes(names[kept]!) <= window.bytes) keptBytes += nameBytes(names[kept++]!);
    if (kept < names.length) {
      names = names.slice(0, kept);
      more = true;
      last = names[kept - 1];
    }
    bytes = keptBytes;
  };
  const dir = await opendir(fdPath(dirFd), { bufferSize: READ_BUFFER });
  try {
    // Read on the event loop from Dir's buffer, a getdents of READ_BUFFER entries at a time (as
    // the walk's lstats, see confine.ts): its async iterator costs a promise per entry, 2-3
    // times the whole read.
    for (let i = 1, entry = dir.readSync(); entry !== null; i++, entry = dir.readSync()) {
      if (i % READ_BUFFER === 0) await breathe();
      const name = entry.name;
      if (!keep(entry) || isTempName(name)) continue;
      if (last !== undefined && name >= last) {
        more = true;
        continue;
      }
      names.push(name);
      bytes += nameBytes(name);
      if (names.length >= window.count * 1.5 || bytes >= window.bytes * 1.5) trim();
    }
  } finally {
    dir.closeSync();
  }
  trim();
  return { names, more };
}

/**
 * Every name of the held folder that `keep` accepts, in name order, `window` at a time: a pass
 * over the folder per window (see firstNames), so a walk holds at most a window of names. A name
 * added while the walk is under way may be left out, as readdir(3) may leave it out; none comes twice.
 */
export async function* namesInOrder(dirFd: number, keep: (entry: Dirent) => boolean, window: NamesWindow): AsyncGenerator<string[]> {
  let after: string | undefined;
  for (;;) {
    const from = after;
    const { names, more } = await firstNames(dirFd, from === undefined ? keep : (d) => d.name > from && keep(d), window);
    if (names.length > 0) yield names;
    if (!more || names.length === 0) return;
    after = names[names.length - 1];
  }
}
