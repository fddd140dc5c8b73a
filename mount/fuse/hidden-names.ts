import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { HIDDEN_PREFIX } from '../../common/api.js';

/**
 * A file deleted while open is renamed by libfuse to `.fuse_hidden<16 hex>` until its last
 * close (hard_remove is unusable, see rdrive-fuse.ts). If the daemon dies first, that file stays
 * on the server. libfuse picks the name, so the mount adds, on the server side only, who owns
 * it: `.fuse_hidden<16 hex>.rdrive.<host>.<pid>.<instance>`. A name whose daemon no longer runs
 * on that host is an orphan and may be removed.
 */
const LIBFUSE_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;
const OWNED_NAME = /^\.fuse_hidden[0-9a-f]{16}\.rdrive\.([A-Za-z0-9.-]+)\.(\d+)\.([0-9a-f]{8})$/;

export interface HiddenOwner {
  host: string;
  pid: number;
  instance: string;
}

/** This daemon's mark; `instance` tells it from a later process that reuses its pid. */
export function ownMark(pid = process.pid, host = hostname(), instance = randomBytes(4).toString('hex')): HiddenOwner {
  return { host: host.replace(/[^A-Za-z0-9.-]/g, '-') || 'localhost', pid, instance };
}

/** The server path for a mount path: libfuse's hidden name gains the owner mark (pure). */
export function toServerPath(path: string, mark: HiddenOwner): string {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  if (!LIBFUSE_NAME.test(name)) return path;
  return `${path}.rdrive.${mark.host}.${mark.pid}.${mark.instance}`;
}

/** The owner of a hidden name; 'unmarked' for a bare libfuse name (from an older version). */
export function ownerOf(name: string): HiddenOwner | 'unmarked' | undefined {
  if (!name.startsWith(HIDDEN_PREFIX)) return undefined;
  const match = OWNED_NAME.exec(name);
  if (match === null) return 'unmarked';
  return { host: match[1]!, pid: Number(match[2]), instance: match[3]! };
}

/**
 * True when the daemon that owns `name` is known to be gone: it ran on this host and its pid
 * is dead or now belongs to another daemon instance (`instanceOf` reads the registry). Names
 * from other hosts cannot be judged from here: false.
 */
export function isOrphan(
  name: string,
  here: { host: string; alive: (pid: number) => boolean; instanceOf: (pid: number) => string | undefined },
  options: { unmarked?: boolean } = {},
): boolean {
  const owner = ownerOf(name);
  if (owner === undefined) return false;
  if (owner === 'unmarked') return options.unmarked === true;
  if (owner.host !== here.host) return false;
  if (!here.alive(owner.pid)) return true;
  // A live pid with no daemon record may be a daemon of another local account: left alone.
  const instance = here.instanceOf(owner.pid);
  return instance !== undefined && instance !== owner.instance;
}
