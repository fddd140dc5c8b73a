import { readFile, stat } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { RdriveError } from '../../common/errors.js';
import { isHashed } from './password-hash.js';

/** One credentials line: `name:scrypt$…` (hashed) or a legacy `name:plaintext`. */
export interface UserRecord {
  name: string;
  secret: string;
  legacy: boolean;
}

const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function validateUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw new RdriveError('EINVAL', 'User names are 1-64 letters, digits, "_", "-" or "." and do not start with "." or "-"');
  }
}

/**
 * Parses the users file strictly: every line is blank, a `#` comment or `name:secret` with a
 * valid name, a secret without control characters and, for `scrypt$…`, a well-formed hash. A
 * file that is anything else (garbage, binary data, a name like `../evil`, a broken hash, a name
 * twice) is refused whole, naming the file and line, so a server never starts on a file it only
 * half understands.
 */
export function parseUsers(text: string, file = 'users file'): Map<string, UserRecord> {
  const users = new Map<string, UserRecord>();
  text.split('\n').forEach((raw, index) => {
    const fail = (why: string): never => {
      throw new RdriveError('EINVAL', `${file}:${index + 1}: ${why}; fix or remove that line (lines are NAME:SECRET, as written by "rdrive-server user add NAME")`);
    };
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.includes('\uFFFD')) fail('not UTF-8 text (binary data?)');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(line)) fail('control character or NUL');
    const colon = line.indexOf(':');
    if (colon < 0) fail('no ":" between name and secret');
    const name = line.slice(0, colon);
    const secret = line.slice(colon + 1);
    if (!USER_NAME.test(name)) fail(`invalid user name ${JSON.stringify(name.slice(0, 40))} (1-64 letters, digits, "_", "-" or ".", not starting with "." or "-")`);
    if (secret === '') fail(`empty secret for ${name}`);
    if (isHashed(secret)) {
      const problem = scryptRecordProblem(secret);
      if (problem !== undefined) fail(`broken scrypt record for ${name}: ${problem}`);
    }
    if (users.has(name)) fail(`user ${name} appears twice`);
    users.set(name, { name, secret, legacy: !isHashed(secret) });
  });
  return users;
}

/** What is wrong with a `scrypt$N$r$p$salt$hash` record, or undefined when it is well formed. */
function scryptRecordProblem(secret: string): string | undefined {
  const parts = secret.split('$');
  if (parts.length !== 6) return `${parts.length - 1} fields after "scrypt", expected 5 (N, r, p, salt, hash)`;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (!Number.isSafeInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 24) return 'N must be a power of two from 2 to 2^24';
  if (!Number.isSafeInteger(r) || r < 1 || r > 64 || !Number.isSafeInteger(p) || p < 1 || p > 64) return 'r and p must be whole numbers from 1 to 64';
  const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
  if (!base64.test(parts[4]!) || Buffer.from(parts[4]!, 'base64').length < 8) return 'the salt is not base64 of at least 8 bytes';
  if (!base64.test(parts[5]!) || Buffer.from(parts[5]!, 'base64').length !== 32) return 'the hash is not base64 of 32 bytes';
  return undefined;
}

export function formatUsers(users: Iterable<UserRecord>): string {
  return [...users].map((u) => `${u.name}:${u.secret}\n`).join('');
}

export async function loadUsers(file: string): Promise<Map<string, UserRecord>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') return new Map();
    throw new RdriveError('EIO', `Cannot read users file ${file} (${code ?? 'error'}): check the path and its permissions`);
  }
  return parseUsers(text, file);
}

/**
 * What is wrong with the users file's mode, or undefined: a file any user may write lets any
 * user add themselves with a password of their choosing. (Group-writable is left to the admin;
 * readable is how a fresh checkout's demo file comes.)
 */
export async function looseModeProblem(file: string): Promise<string | undefined> {
  const mode = (await stat(file).catch(() => undefined))?.mode;
  if (mode === undefined || (mode & 0o002) === 0) return undefined;
  return `writable by any user (mode ${(mode & 0o7777).toString(8).padStart(4, '0')}), so anyone could add a user; chmod 600 ${file}`;
}

/**
 * Rewrites the file atomically, readable only by its owner. write-file-atomic fsyncs the new
 * copy before the rename (a crash never leaves an empty users file) and keeps the file's owner
 * when root edits a file that the server's own user reads.
 */
export async function saveUsers(file: string, users: Iterable<UserRecord>): Promise<void> {
  try {
    await writeFileAtomic(file, formatUsers(users), { mode: 0o600 });
  } catch (err) {
    // Node's bare "ENOENT" would not say which file, nor that the old one is intact.
    const code = (err as { code?: string }).code ?? 'EIO';
    throw new RdriveError('EIO', `Cannot write users file ${file} (${code}): check that its folder exists and is writable; nothing changed`, { cause: err });
  }
}
