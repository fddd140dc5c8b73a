import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import type { Attr } from '../common/api.js';
import { PREVIEW_BYTES } from '../common/config.js';
import { RdriveError } from '../common/errors.js';
import type { ApiClient } from '../mount/remote/api-client.js';
import { loginAndCache, logoutCached, withClient, withConnectionOptions, type ConnectionFlags } from './connection.js';
import { formatDf, formatListing, formatStat, hexdump, isPrintableText } from './format.js';
import { getPath, putPath, removeActiveParts } from './transfer.js';

type Flags = ConnectionFlags & { long?: boolean; recursive?: boolean; parents?: boolean };

const out = (text: string): void => {
  process.stdout.write(text);
};

const showProgress = (flags: Flags): boolean => flags.quiet !== true && process.stderr.isTTY === true;

/** The original tool's menu as commands: ls, put, get, preview, rm, mkdir, mv, stat, df, login. */
export function registerFileCommands(program: Command): void {
  withConnectionOptions(program.command('ls').description('list a remote directory').argument('[dir]', 'remote directory', '/'))
    .option('-l, --long', 'mode, size, modification time')
    .option('--json', 'machine-readable output')
    .action((dir: string, flags: Flags) => withClient(flags, async (client) => {
      const attr = await about(dir, client.stat(dir));
      const entries = attr.type === 'dir' ? (await about(dir, client.list(dir))).entries : [{ name: basename(dir), ...attr }];
      out(flags.json === true ? `${JSON.stringify(entries)}\n` : formatListing(entries, flags.long === true));
    }));

  withConnectionOptions(program.command('stat').description('show a remote file\'s attributes').argument('<path>'))
    .option('--json', 'machine-readable output')
    .action((path: string, flags: Flags) => withClient(flags, async (client) => {
      const attr = await about(path, client.stat(path));
      out(flags.json === true ? `${JSON.stringify({ path, ...attr })}\n` : formatStat(path, attr));
    }));

  withConnectionOptions(program.command('df').description('space used and free for your folder'))
    .option('--json', 'machine-readable output')
    .action((flags: Flags) => withClient(flags, async (client) => {
      const fs = await client.statfs();
      out(flags.json === true ? `${JSON.stringify(fs)}\n` : formatDf(fs));
    }));

  withConnectionOptions(program.command('preview').description(`the first ${PREVIEW_BYTES} bytes of a remote file (binary as a hex dump)`).argument('<path>'))
    .action((path: string, flags: Flags) => withClient(flags, async (client) => {
      const data = await about(path, client.preview(path));
      if (isPrintableText(data)) out(data.toString('utf8'));
      else out(hexdump(data));
    }));

  withConnectionOptions(program.command('put').description('upload files (atomically) to REMOTE').argument('<paths...>', 'LOCAL... REMOTE'))
    .option('-r, --recursive', 'upload directories and their contents')
    .action((paths: string[], flags: Flags) => withClient(flags, async (client) => {
      const { sources, target } = splitTarget(paths);
      const intoDir = sources.length > 1 || target.endsWith('/') || (await about(target, remoteIsDir(client, target)));
      if (sources.length > 1 && !(await about(target, remoteIsDir(client, target)))) throw new RdriveError('ENOTDIR', `${target} is not a remote directory`);
      let count = 0;
      const skipped: Array<{ path: string; reason: string }> = [];
      for (const src of sources) {
        const dest = intoDir ? `${target.replace(/\/+$/, '')}/${basename(src)}` : target;
        const options = { recursive: flags.recursive === true, progress: showProgress(flags), skipped };
        count += await about(dest, putPath(client, src, dest, options));
      }
      if (flags.quiet !== true) process.stderr.write(`rdrive: uploaded ${count} file${count === 1 ? '' : 's'}\n`);
      for (const { path, reason } of skipped) process.stderr.write(`rdrive: skipped ${path}: ${reason}\n`);
      if (skipped.length > 0) throw new RdriveError('EOPNOTSUPP', `${skipped.length} entr${skipped.length === 1 ? 'y' : 'ies'} not uploaded (listed above); everything else was`);
    }));

  withConnectionOptions(program.command('get').description('download remote files to LOCAL').argument('<paths...>', 'REMOTE... LOCAL'))
    .option('-r, --recursive', 'download directories and their contents')
    .action((paths: string[], flags: Flags) => withClient(flags, async (client) => {
      const { sources, target } = splitTarget(paths);
      const localDir = await stat(target).then((s) => s.isDirectory(), () => false);
      if (sources.length > 1 && !localDir) throw new RdriveError('ENOTDIR', `${target} is not a local directory`);
      const stopOnSignal = (): void => {
        void removeActiveParts().finally(() => process.exit(130));
      };
      process.once('SIGINT', stopOnSignal);
      process.once('SIGTERM', stopOnSignal);
      let count = 0;
      for (const src of sources) {
        const dest = localDir ? join(target, basename(src)) : target;
        count += await about(src, getPath(client, src, dest, { recursive: flags.recursive === true, progress: showProgress(flags) }));
      }
      if (flags.quiet !== true) process.stderr.write(`rdrive: downloaded ${count} file${count === 1 ? '' : 's'}\n`);
    }));

  withConnectionOptions(program.command('rm').description('remove remote files (directories with -r)').argument('<paths...>'))
    .option('-r, --recursive', 'remove directories and their contents')
    .action((paths: string[], flags: Flags) => withClient(flags, async (client) => {
      for (const path of paths) {
        const attr = await about(path, client.stat(path));
        if (attr.type === 'dir') {
          if (flags.recursive !== true) throw new RdriveError('EISDIR', `${path} is a directory: use rm -r`);
          await about(path, client.rmdir(path, { recursive: true }));
        } else {
          await about(path, client.unlink(path));
        }
      }
    }));

  withConnectionOptions(program.command('mkdir').description('create a remote directory').argument('<path>'))
    .option('-p, --parents', 'create missing parents; no error if it exists')
    .action((path: string, flags: Flags) => withClient(flags, async (client) => {
      await about(path, client.mkdir(path, { parents: flags.parents === true }));
    }));

  withConnectionOptions(program.command('mv').description('rename or move a remote file or directory').argument('<src>').argument('<dst>'))
    .action((src: string, dst: string, flags: Flags) => withClient(flags, async (client) => {
      const dest = (await about(dst, remoteIsDir(client, dst))) ? `${dst.replace(/\/+$/, '')}/${basename(src)}` : dst;
      await about(`${src} -> ${dest}`, client.rename(src, dest));
    }));

  withConnectionOptions(program.command('login').description('log in once and keep the session for later commands (until it expires)'))
    .action(async (flags: Flags) => {
      const file = await loginAndCache(flags);
      if (flags.quiet !== true) process.stderr.write(`rdrive: logged in; session kept in ${file}\n`);
    });

  withConnectionOptions(program.command('logout').description('end the kept session'))
    .action(async (flags: Flags) => {
      const had = await logoutCached(flags);
      if (flags.quiet !== true) process.stderr.write(had ? 'rdrive: logged out\n' : 'rdrive: no kept session\n');
    });
}

/** Codes about a path: their message names it, as `ls: cannot access 'x': …` does. */
const PATH_CODES = new Set(['ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EACCES', 'EPERM', 'ENAMETOOLONG', 'EINVAL', 'ENOSPC', 'EDQUOT', 'EFBIG']);

export async function about<T>(path: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof RdriveError) || !PATH_CODES.has(err.code) || names(err.message, path)) throw err;
    throw new RdriveError(err.code, `${path}: ${err.message}`, { cause: err, ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }) });
  }
}

/** Whether a message names the path as a word of its own (a path "d" is not named by "directory"). */
function names(message: string, path: string): boolean {
  return new RegExp(`(^|[\\s/])${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s:])`).test(message);
}

function splitTarget(paths: string[]): { sources: string[]; target: string } {
  if (paths.length < 2) throw new RdriveError('EINVAL', 'Give at least one source and a destination');
  return { sources: paths.slice(0, -1), target: paths[paths.length - 1]! };
}

async function remoteIsDir(client: ApiClient, path: string): Promise<boolean> {
  const attr: Attr | undefined = await client.stat(path).catch((err: unknown) => {
    if (err instanceof RdriveError && err.code === 'ENOENT') return undefined;
    throw err;
  });
  return attr?.type === 'dir';
}
