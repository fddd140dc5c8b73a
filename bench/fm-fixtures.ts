import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** What a typical folder of documents and photos holds, in these shares of the whole. */
const MIX = { jpeg: 0.25, png: 0.25, text: 0.3, unnamed: 0.1, binary: 0.1 };
const TEXT_EXTENSIONS = ['txt', 'md', 'json', 'c', 'html', 'csv'];

/**
 * ImageMagick's command: `magick` (version 7) or Debian 12's `convert` (6) by its full path, so
 * that no other `convert` earlier in PATH is picked.
 */
function imageMagick(): { bin: string; args: string[] } {
  if (existsSync('/usr/bin/magick')) return { bin: '/usr/bin/magick', args: [] };
  if (existsSync('/usr/bin/convert')) return { bin: '/usr/bin/convert', args: [] };
  throw new Error('ImageMagick is missing: run `npm run bench:desktop` (it installs imagemagick) or apt-get install imagemagick');
}

/**
 * A folder of `count` files as a file manager meets them: JPEG photos and PNG pictures (distinct
 * images, so thumbnails are real work), text files of several kinds, files without an extension
 * (their type is only known by sniffing their first bytes) and larger binaries (256 KiB to
 * 4 MiB). Deterministic names and sizes; content random. Returns the folder's total bytes.
 */
export async function makeFileManagerFolder(dir: string, count: number): Promise<number> {
  await mkdir(dir, { recursive: true });
  const im = imageMagick();
  const n = (share: number): number => Math.round(count * share);
  const jpegs = n(MIX.jpeg);
  const pngs = n(MIX.png);
  const texts = n(MIX.text);
  const unnamed = n(MIX.unnamed);
  const binaries = count - jpegs - pngs - texts - unnamed;
  const convert = (args: string[]): Promise<unknown> => execFileP(im.bin, [...im.args, ...args]);
  // Images in small parallel batches: each convert is a process, and the machine may be busy.
  const images: Array<() => Promise<unknown>> = [];
  for (let i = 1; i <= jpegs; i++) images.push(() => convert(['-size', '640x480', '-seed', String(i), 'plasma:fractal', '-quality', '85', join(dir, `photo-${pad(i)}.jpg`)]));
  for (let i = 1; i <= pngs; i++) {
    images.push(() => convert(['-size', '400x300', `gradient:hsb(${(i * 37) % 360},80%,90%)-hsb(${(i * 91) % 360},60%,40%)`, '-swirl', String(i * 7), join(dir, `picture-${pad(i)}.png`)]));
  }
  for (let i = 0; i < images.length; i += 4) await Promise.all(images.slice(i, i + 4).map((make) => make()));
  for (let i = 1; i <= texts; i++) {
    const ext = TEXT_EXTENSIONS[i % TEXT_EXTENSIONS.length]!;
    const lines = Array.from({ length: 20 + ((i * 53) % 800) }, (_, k) => `line ${k} of note ${i}: ${randomBytes(12).toString('hex')}`);
    await writeFile(join(dir, `note-${pad(i)}.${ext}`), `${lines.join('\n')}\n`);
  }
  for (let i = 1; i <= unnamed; i++) {
    // Half plain text, half binary: a file manager can only tell them apart by their content.
    const body = i % 2 === 0 ? Buffer.from(`README ${i}\n${'plain words and more words\n'.repeat(40 + i)}`) : randomBytes(8192 + i * 512);
    await writeFile(join(dir, `NOEXT${pad(i)}`), body);
  }
  for (let i = 1; i <= binaries; i++) await writeFile(join(dir, `data-${pad(i)}.bin`), randomBytes(256 * 1024 + ((i * 211_111) % (4 * 1024 * 1024 - 256 * 1024))));
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size;
  return total;
}

function pad(i: number): string {
  return String(i).padStart(3, '0');
}
