import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { ensureDirSync } from '../../common/ensure-dir.js';
import { RdriveError } from '../../common/errors.js';
import type { ApiClient } from '../remote/api-client.js';
import { humanSize } from './format.js';

export interface TransferOptions {
  recursive: boolean;
  progress: boolean;
}

/** Counts bytes through a stream into a progress bar (only drawn on a TTY, unless --quiet). */
function meter(label: string, total: number | undefined, show: boolean): { stream: Transform; stop: () => void } {
  const bar = show
    ? new cliProgress.SingleBar({
      format: `${label} {bar} {percentage}% | {done}/{size} | {speed}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  const started = Date.now();
  let done = 0;
  bar?.start(total ?? 0, 0, { done: '0B', size: total === undefined ? '?' : humanSize(total), speed: '0B' });
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      bar?.update(done, { done: humanSize(done), speed: humanSize(Math.round(done / seconds)) });
      cb(null, chunk);
    },
  });
  return { stream, stop: () => bar?.stop() };
}

/** Uploads a file or (with -r) a tree; the server writes each file atomically. */
export async function putPath(client: ApiClient, local: string, remote: string, options: TransferOptions): Promise<number> {
  const st = await stat(local).catch(() => {
    throw new RdriveError('ENOENT', `Local file ${local} does not exist`);
  });
  if (st.isDirectory()) {
    if (!options.recursive) throw new RdriveError('EISDIR', `${local} is a directory: use put -r`);
    await client.mkdir(remote, { parents: true });
    let count = 0;
    for (const name of (await readdir(local)).sort()) count += await putPath(client, join(local, name), `${remote}/${name}`, options);
    return count;
  }
  if (!st.isFile()) throw new RdriveError('EINVAL', `${local} is not a regular file`);
  let bar: { stop: () => void } | undefined;
  try {
    await client.upload(remote, () => {
      const m = meter(basename(local), st.size, options.progress);
      bar = m;
      return createReadStream(local, { highWaterMark: 1 << 20 }).pipe(m.stream);
    }, { length: st.size, mode: st.mode & 0o777, mtime: st.mtimeMs });
  } finally {
    bar?.stop();
  }
  return 1;
}

/**
 * Downloads a file or (with -r) a tree. Each file streams into a hidden part file beside the
 * target and is renamed only when complete: an interrupted get leaves no file under the final name.
 */
export async function getPath(client: ApiClient, remote: string, local: string, options: TransferOptions): Promise<number> {
  const attr = await client.stat(remote);
  if (attr.type === 'dir') {
    if (!options.recursive) throw new RdriveError('EISDIR', `${remote} is a directory: use get -r`);
    ensureDirSync(local);
    let count = 0;
    for (const entry of (await client.list(remote)).entries.sort((a, b) => a.name.localeCompare(b.name))) {
      count += await getPath(client, `${remote}/${entry.name}`, join(local, entry.name), options);
    }
    return count;
  }
  const part = join(dirname(local), `.${basename(local)}.rdrive-part-${randomBytes(4).toString('hex')}`);
  activeParts.add(part);
  const m = meter(basename(remote), attr.size, options.progress);
  try {
    const { stream } = await client.download(remote);
    await pipeline(stream as Readable, m.stream, createWriteStream(part, { mode: attr.mode & 0o777 }));
    await utimes(part, new Date(attr.atime), new Date(attr.mtime));
    await rename(part, local);
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  } finally {
    m.stop();
    activeParts.delete(part);
  }
  return 1;
}

/** Part files being written now; removed if the command is interrupted. */
export const activeParts = new Set<string>();

export async function removeActiveParts(): Promise<void> {
  await Promise.all([...activeParts].map((p) => rm(p, { force: true })));
}
