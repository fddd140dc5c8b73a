import { RdriveError } from '../common/errors.js';

/**
 * mount(8)'s calling convention for a FUSE helper, turned into `rdrive mount` arguments. Pure:
 * no file is read here (the password file's permissions are checked by the caller).
 *
 * mount(8) runs `/sbin/mount.fuse.rdrive SOURCE MOUNTPOINT [-sfnv] [-N ns] [-o opts] [-t type]`
 * (the sshfs convention). SOURCE is the server URL, optionally carrying the user name:
 * `https://alice@drive.example:8888`.
 */
export interface HelperInvocation {
  server: string;
  mountpoint: string;
  user?: string;
  passwordFile?: string;
  ca?: string;
  readOnly: boolean;
  allowOther: boolean;
  /** `sync`: close() returns once the file is on the server's disk (rdrive mount --sync). */
  sync: boolean;
  attrTimeout?: string;
  timeout?: string;
  logLevel?: string;
  logFile?: string;
  logMaxSize?: string;
  logKeep?: string;
  logRotate?: string;
  pidFile?: string;
  /** `-f`: mount(8)'s "fake" run, do everything but mount. */
  fake: boolean;
}

/**
 * Options mount(8), systemd and fstab conventions pass that mean nothing to rdrive (or that mount
 * itself already acted on): accepted and ignored, as mount.fuse does.
 */
const IGNORED = new Set([
  'rw', 'defaults', 'auto', 'noauto', '_netdev', 'nofail', 'user', 'nouser', 'users', 'owner', 'group',
  'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'relatime', 'norelatime',
  'strictatime', 'diratime', 'nodiratime', 'lazytime', 'nolazytime', 'async', 'dirsync',
  'loud', 'silent', 'mand', 'nomand', 'iversion', 'noiversion',
]);
const IGNORED_PREFIXES = ['x-', 'comment=', 'fsname=', 'subtype='];

const VALUE_OPTIONS: Record<string, keyof HelperInvocation> = {
  username: 'user', password_file: 'passwordFile', ca: 'ca', attr_timeout: 'attrTimeout',
  timeout: 'timeout', log_level: 'logLevel', log_file: 'logFile', pid_file: 'pidFile',
  log_max_size: 'logMaxSize', log_keep: 'logKeep', log_rotate: 'logRotate',
};
const FLAG_OPTIONS: Record<string, 'readOnly' | 'allowOther' | 'sync'> = { ro: 'readOnly', read_only: 'readOnly', allow_other: 'allowOther', sync: 'sync' };

/** True when the arguments follow mount(8)'s order (SOURCE first) rather than a subcommand. */
export function isHelperInvocation(args: string[], invokedAs: string): boolean {
  if (/(^|\/)mount\.(fuse\.)?rdrive$/.test(invokedAs)) return true;
  return args.length >= 2 && /^https?:\/\//i.test(args[0] ?? '');
}

/** Parses `SOURCE MNT [-sfnv] [-N ns] [-o opts] [-t type]`; `-o` may repeat (values are joined). */
export function parseHelperArgs(args: string[]): HelperInvocation {
  const positional: string[] = [];
  const optionLists: string[] = [];
  let fake = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-o' || arg === '-N' || arg === '-t') {
      const value = args[++i];
      if (value === undefined) throw new RdriveError('EINVAL', `${arg} needs a value, e.g. -o username=alice`);
      if (arg === '-o') optionLists.push(value);
    } else if (arg.startsWith('-o') && arg.length > 2) {
      optionLists.push(arg.slice(2));
    } else if (/^-[sfnvw]+$/.test(arg)) {
      if (arg.includes('f')) fake = true;
    } else if (arg.startsWith('-')) {
      throw new RdriveError('EINVAL', `Unknown argument ${arg}: the mount helper takes SOURCE MOUNTPOINT -o OPTIONS`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) {
    throw new RdriveError('EINVAL', 'Usage: mount -t fuse.rdrive URL MOUNTPOINT -o username=NAME[,password_file=FILE,...]');
  }
  const { server, user } = splitSource(positional[0]!);
  const result: HelperInvocation = { server, mountpoint: positional[1]!, readOnly: false, allowOther: false, sync: false, fake };
  if (user !== undefined) result.user = user;
  for (const option of optionLists.flatMap(splitOptions)) applyOption(result, option);
  return result;
}

/** `https://alice@host:8888/` → server `https://host:8888`, user `alice`. */
export function splitSource(source: string): { server: string; user?: string } {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new RdriveError('EINVAL', `Invalid source "${source}": expected a server URL such as https://alice@drive.example:8888`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RdriveError('EINVAL', `Invalid source "${source}": only http:// and https:// are supported`);
  }
  if (url.password !== '') throw new RdriveError('EINVAL', 'Do not put a password in the URL (it shows in /proc/mounts): use -o password_file=FILE');
  const user = decodeURIComponent(url.username);
  return { server: `${url.protocol}//${url.host}`, ...(user === '' ? {} : { user }) };
}

/** Splits `a,b=c,d` on commas; a backslash escapes a comma (as libmount does). */
export function splitOptions(list: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (c === '\\' && i + 1 < list.length) current += list[++i];
    else if (c === ',') { out.push(current); current = ''; }
    else current += c;
  }
  out.push(current);
  return out.filter((o) => o !== '');
}

function applyOption(result: HelperInvocation, option: string): void {
  const eq = option.indexOf('=');
  const key = eq === -1 ? option : option.slice(0, eq);
  const value = eq === -1 ? undefined : option.slice(eq + 1);
  const flag = FLAG_OPTIONS[key];
  if (flag !== undefined && value === undefined) {
    result[flag] = true;
    return;
  }
  const field = VALUE_OPTIONS[key];
  if (field !== undefined) {
    if (value === undefined || value === '') throw new RdriveError('EINVAL', `Mount option ${key} needs a value: ${key}=...`);
    (result as unknown as Record<string, string>)[field] = value;
    return;
  }
  if (IGNORED.has(option) || IGNORED_PREFIXES.some((p) => option.startsWith(p))) return;
  if (key === 'password') throw new RdriveError('EINVAL', 'Mount option password= is refused (fstab and /proc are readable): use password_file=FILE (mode 0600)');
  throw new RdriveError('EINVAL', `Unknown mount option "${option}": see "rdrive mount --help" (e.g. username=, password_file=, ca=, ro, allow_other, attr_timeout=)`);
}

/** The `rdrive mount` arguments for an invocation; it always detaches (mount(8) waits for it). */
export function toMountArgs(inv: HelperInvocation & { user: string; logFile: string }): string[] {
  const value = (flag: string, v: string | undefined): string[] => (v === undefined ? [] : [flag, v]);
  return [
    'mount', inv.server, inv.mountpoint, '--daemon', '--user', inv.user, '--log-file', inv.logFile,
    ...value('--password-file', inv.passwordFile), ...value('--ca', inv.ca),
    ...value('--attr-timeout', inv.attrTimeout), ...value('--timeout', inv.timeout),
    ...value('--log-level', inv.logLevel), ...value('--pid-file', inv.pidFile),
    ...value('--log-max-size', inv.logMaxSize), ...value('--log-keep', inv.logKeep), ...value('--log-rotate', inv.logRotate),
    ...(inv.readOnly ? ['--read-only'] : []), ...(inv.allowOther ? ['--allow-other'] : []), ...(inv.sync ? ['--sync'] : []),
  ];
}
