import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import writeFileAtomic from 'write-file-atomic';
import { defaultClientLogFile } from '../common/logging.js';
import { configDir } from '../common/user-dirs.js';
import { RdriveError } from '../common/errors.js';
import { mountSource } from '../mount/daemon/mount-daemon.js';
import { parseHelperArgs, toMountArgs } from './mount-options.js';

/** Where mount(8) looks for the helper of type fuse.rdrive. */
export const HELPER_PATH = '/sbin/mount.fuse.rdrive';
/** This installation's CLI entry point (dist/cli/ → the package root's bin/). */
const CLI_BIN = fileURLToPath(new URL('../../bin/rdrive.js', import.meta.url));

/**
 * The helper script. mount(8) runs helpers with a minimal environment (no PATH under some
 * callers), so it names node and the CLI by absolute path and gives a PATH for fusermount.
 */
export function helperScript(nodePath: string, cliBin: string): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    '# mount(8) helper for "mount -t fuse.rdrive URL MOUNTPOINT -o OPTIONS" and fstab lines.',
    '# Installed by "rdrive install-helper"; remove with "rdrive install-helper --remove".',
    // Shell syntax, not a template: the script keeps the caller's PATH when it has one.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    'PATH="${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"',
    'export PATH',
    `exec ${quote(nodePath)} ${quote(cliBin)} "$@"`,
    '',
  ].join('\n');
}

export function registerInstallHelperCommand(program: Command): void {
  program.command('install-helper')
    .description(`as root: install ${HELPER_PATH} so "mount -t fuse.rdrive" and /etc/fstab lines use this installation`)
    .option('--remove', `remove ${HELPER_PATH} instead`)
    .action(async (flags: { remove?: boolean }) => {
      process.stdout.write(`${await installHelper(flags.remove === true)}\n`);
    });
}

async function installHelper(remove: boolean): Promise<string> {
  if (process.getuid?.() !== 0) throw new RdriveError('EACCES', `Installing ${HELPER_PATH} needs root: run "sudo rdrive install-helper"`);
  const existing = await readFile(HELPER_PATH, 'utf8').catch(() => undefined);
  if (remove) {
    if (existing === undefined) return `rdrive: ${HELPER_PATH} is not installed; nothing to do`;
    await rm(HELPER_PATH);
    return `rdrive: removed ${HELPER_PATH}`;
  }
  const script = helperScript(process.execPath, CLI_BIN);
  if (existing === script) return `rdrive: ${HELPER_PATH} already runs ${CLI_BIN} with ${process.execPath}; nothing changed`;
  // Written aside then renamed (write-file-atomic): a mount running meanwhile never sees half a script.
  await writeFileAtomic(HELPER_PATH, script, { mode: 0o755 });
  return `rdrive: ${existing === undefined ? 'installed' : 'replaced'} ${HELPER_PATH} -> ${process.execPath} ${CLI_BIN}\n` +
    'rdrive: now "mount -t fuse.rdrive URL MOUNTPOINT -o username=NAME,password_file=FILE" and fstab lines work';
}

/** `~/.config/rdrive/passwords/USER@HOST:PORT`: the password used when no other is given. */
export function defaultPasswordFile(user: string, server: string): string {
  return join(configDir(), 'passwords', mountSource(user, server));
}

/** A password file others can read is refused, as ssh does for keys: fstab lines are public. */
export async function assertPrivateFile(file: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch {
    throw new RdriveError('EINVAL', `Cannot read password file ${file}: check the path`);
  }
  if (!info.isFile()) throw new RdriveError('EINVAL', `Password file ${file} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    throw new RdriveError('EACCES', `Password file ${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}): run "chmod 600 ${file}"`);
  }
}

/**
 * Turns mount(8)'s `SOURCE MNT -o opts` into the `rdrive mount --daemon ...` argument list, or
 * undefined for a fake (-f) run. The password comes from password_file=, else RDRIVE_PASSWORD,
 * else the user's default password file.
 */
export async function helperToMountArgs(args: string[]): Promise<string[] | undefined> {
  const inv = parseHelperArgs(args);
  const user = inv.user ?? process.env.RDRIVE_USER;
  if (user === undefined || user === '') throw new RdriveError('EINVAL', `No user for ${inv.server}: add -o username=NAME (or put it in the URL: http://NAME@host:port)`);
  if (inv.passwordFile !== undefined) {
    await assertPrivateFile(inv.passwordFile);
  } else if ((process.env.RDRIVE_PASSWORD ?? '') === '') {
    const fallback = defaultPasswordFile(user, inv.server);
    const exists = await stat(fallback).then(() => true, () => false);
    if (!exists) throw new RdriveError('UNAUTHORIZED', `No password for ${user}: add -o password_file=FILE (mode 0600) or create ${fallback} (mode 0600)`);
    await assertPrivateFile(fallback);
    inv.passwordFile = fallback;
  }
  // The working directory of a mount(8) helper is arbitrary: the log goes to the user's state dir.
  const logFile = inv.logFile ?? defaultClientLogFile();
  return inv.fake ? undefined : toMountArgs({ ...inv, user, logFile });
}
