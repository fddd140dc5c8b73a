import { readFile, rename, writeFile } from 'node:fs/promises';
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

export function parseUsers(text: string): Map<string, UserRecord> {
  const users = new Map<string, UserRecord>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const secret = line.slice(colon + 1);
    if (!USER_NAME.test(name)) continue;
    users.set(name, { name, secret, legacy: !isHashed(secret) });
  }
  return users;
}

export function formatUsers(users: Iterable<UserRecord>): string {
  return [...users].map((u) => `${u.name}:${u.secret}\n`).join('');
}

export async function loadUsers(file: string): Promise<Map<string, UserRecord>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return new Map();
    throw new RdriveError('EIO', `Cannot read users file ${file}: check its permissions`);
  }
  return parseUsers(text);
}

/** Rewrites the file atomically (temp + rename), readable only by its owner. */
export async function saveUsers(file: string, users: Iterable<UserRecord>): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, formatUsers(users), { mode: 0o600 });
  await rename(temp, file);
}
