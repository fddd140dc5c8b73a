import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { hashPassword } from '../../server/auth/password-hash.js';
import { TEMP_PREFIX } from '../../server/storage/confine.js';
import { reapChild } from './reaper.js';
import { makeTempDir } from './tmp.js';
import { waitFor } from './wait.js';

export const REPO_ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const SERVER_BIN = join(REPO_ROOT, 'bin', 'rdrive-server.js');
export const CLIENT_BIN = join(REPO_ROOT, 'bin', 'rdrive.js');

/** Cheap scrypt cost for test users: the params live in the hash line, so the server honours them. */
const TEST_SCRYPT = { N: 2 ** 12, r: 8, p: 1 };

export const DEFAULT_TEST_USERS: Record<string, string> = { alice: 'alice-pass', bob: 'bob-pass' };

export interface TestServer {
  url: string;
  port: number;
  /** Temp root holding storage/, logs/ and users.txt. */
  dir: string;
  storage: string;
  logs: string;
  usersFile: string;
  process: ChildProcess;
  /** Everything the server printed on stderr so far (for assertions and failure messages). */
  stderr: () => string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Keeps the temp dir. */
  stop: (signal?: NodeJS.Signals) => Promise<void>;
  /** Starts the server again on the same port and directories. */
  restart: () => Promise<void>;
  /** Stops the server and removes the temp dir. */
  cleanup: () => Promise<void>;
}

export async function writeUsersFile(file: string, users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}:${await hashPassword(p, TEST_SCRYPT)}`));
  await writeFile(file, `${lines.join('\n')}\n`);
}

/**
 * What servers sharing one storage folder and their state in Redis (scale-out) are started
 * with: a storage folder under `dir` holding alice's folder, and a users file of `users`.
 */
export async function sharedStorage(dir: string, redisUrl: string, users: Record<string, string>): Promise<{ storage: string; args: string[] }> {
  const storage = join(dir, 'storage');
  const usersFile = join(dir, 'users.txt');
  await mkdir(join(storage, 'alice'), { recursive: true });
  await writeUsersFile(usersFile, users);
  return { storage, args: ['--storage', storage, '--users', usersFile, '--redis', redisUrl] };
}

/**
 * Starts the real server as its own process on an ephemeral loopback port, with its own storage,
 * users file and logs in a temp dir. `args` are extra CLI options (e.g. ['--idle-timeout', '2']);
 * `wrapper` a command that execs the server (e.g. setpriv dropping a capability).
 */
export async function startServer(
  options: { users?: Record<string, string>; args?: string[]; env?: NodeJS.ProcessEnv; nodeArgs?: string[]; wrapper?: string[] } = {},
): Promise<TestServer> {
  const tmp = await makeTempDir('rdrive-server-');
  const storage = join(tmp.path, 'storage');
  const logs = join(tmp.path, 'logs');
  const usersFile = join(tmp.path, 'users.txt');
  await mkdir(storage);
  await writeUsersFile(usersFile, options.users ?? DEFAULT_TEST_USERS);

  let port = 0;
  let child: ChildProcess | undefined;
  let stderrText = '';

  const launch = async (): Promise<string> => {
    const args = [...(options.nodeArgs ?? []), SERVER_BIN, '--host', '127.0.0.1', '--port', String(port), '--storage', storage,
      '--users', usersFile, '--logs', logs, ...(options.args ?? [])];
    const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
    const proc = spawn(command!, [...prefix, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    child = proc;
    reapChild(proc);
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => { stderrText += d; });
    const lines = createInterface({ input: proc.stdout! });
    const first = await Promise.race([
      once(lines, 'line').then(([line]) => String(line)),
      once(proc, 'exit').then(([code]) => { throw new Error(`server exited with ${String(code)} before listening: ${stderrText}`); }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`server did not start in 15 s: ${stderrText}`)), 15_000).unref()),
    ]);
    lines.on('line', () => undefined);
    const match = /https?:\/\/[^\s]+/.exec(first);
    if (match === null) throw new Error(`server's first line is not its address: ${first}`);
    return match[0].replace(/\/$/, '');
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  let url: string;
  try {
    url = await launch();
  } catch (err) {
    // Tests that expect a refused start still leave nothing behind.
    await stop('SIGKILL');
    await tmp.remove();
    throw err;
  }
  port = Number(new URL(url).port);
  const server: TestServer = {
    url,
    port,
    dir: tmp.path,
    storage,
    logs,
    usersFile,
    get process() { return child!; },
    stderr: () => stderrText,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    cleanup: async () => {
      await stop();
      await tmp.remove();
    },
  };
  return server;
}

/**
 * The server's leftover upload temp files below `dir`, after giving it up to `waitMs` to drop
 * them (a cut upload's temp file goes once the server notices the cut).
 */
export async function strayTempFiles(dir: string, waitMs = 5_000): Promise<string[]> {
  const temps = async (): Promise<string[]> =>
    (await readdir(dir, { recursive: true })).map(String).filter((n) => basename(n).startsWith(TEMP_PREFIX));
  return waitFor(temps, (found) => found.length === 0, waitMs);
}
