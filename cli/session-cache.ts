import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { runtimeDir } from '../common/user-dirs.js';

export interface CachedSession {
  server: string;
  user: string;
  token: string;
}

/** One file per server and user, readable only by its owner; RDRIVE_SESSION_FILE overrides. */
export function sessionFile(server: string, user: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.RDRIVE_SESSION_FILE !== undefined && env.RDRIVE_SESSION_FILE !== '') return env.RDRIVE_SESSION_FILE;
  // Without a runtime dir, the user's cache folder (0700 inside): not a /tmp others can list.
  const base = runtimeDir(env) ?? join(homedir() || tmpdir(), '.cache', 'rdrive');
  const key = createHash('sha256').update(`${server}\n${user}`).digest('hex').slice(0, 16);
  return join(base, `session-${key}.json`);
}

export async function loadSession(file: string, server: string, user: string): Promise<CachedSession | undefined> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as Partial<CachedSession>;
    if (data.server === server && data.user === user && typeof data.token === 'string') return data as CachedSession;
  } catch {
    // absent or unreadable: no cached session
  }
  return undefined;
}

/** Whole or not at all (write-file-atomic), created 0600 so the token is never readable by others. */
export async function saveSession(file: string, session: CachedSession): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(session), { mode: 0o600 });
}

export async function deleteSession(file: string): Promise<void> {
  await rm(file, { force: true });
}
