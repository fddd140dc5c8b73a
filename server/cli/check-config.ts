import { access, constants, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { loadUsers, looseModeProblem } from '../auth/users-file.js';
import type { ServerConfig } from '../config.js';

/** One finding of `rdrive-server --check`: what was checked and, when it failed, what to do. */
export interface CheckResult {
  ok: boolean;
  line: string;
}

/** Validates a configuration without starting: users file, storage, logs, TLS files, port. */
export async function checkConfig(config: ServerConfig): Promise<CheckResult[]> {
  return [
    await checkUsers(config.users),
    await checkWritableDir('storage', config.storage),
    await checkWritableDir('logs', config.logs),
    ...(config.tlsCert === undefined && config.tlsKey === undefined ? [] : [await checkTls(config.tlsCert, config.tlsKey)]),
    await checkPort(config.host, config.port),
  ];
}

async function checkUsers(file: string): Promise<CheckResult> {
  try {
    const users = await loadUsers(file);
    if (users.size === 0) return { ok: false, line: `users file ${file}: no users; add one with "rdrive-server user add NAME --users ${file}"` };
    const loose = await looseModeProblem(file);
    if (loose !== undefined) return { ok: false, line: `users file ${file}: ${loose}` };
    return { ok: true, line: `users file ${file}: ${users.size} user(s)` };
  } catch (err) {
    return { ok: false, line: `users file ${file}: ${(err as Error).message}` };
  }
}

async function checkWritableDir(what: string, dir: string): Promise<CheckResult> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) return checkCreatable(what, dir);
  if (!info.isDirectory()) return { ok: false, line: `${what} ${dir}: is not a directory` };
  if (!(await writable(dir))) return { ok: false, line: `${what} ${dir}: not writable by uid ${process.getuid?.() ?? '?'}; fix its owner or mode` };
  return { ok: true, line: `${what} ${dir}: writable` };
}

/** A start creates a missing folder (mkdir -p): fine when its nearest existing parent lets it. */
async function checkCreatable(what: string, dir: string): Promise<CheckResult> {
  let parent = dirname(resolve(dir));
  let info = await stat(parent).catch(() => undefined);
  while (info === undefined && dirname(parent) !== parent) {
    parent = dirname(parent);
    info = await stat(parent).catch(() => undefined);
  }
  const cannot = `${what} ${dir}: does not exist, and a start cannot create it`;
  if (info?.isDirectory() !== true) return { ok: false, line: `${cannot}: ${parent} is not a directory; pick another place` };
  if (!(await writable(parent))) return { ok: false, line: `${cannot}: ${parent} is not writable by uid ${process.getuid?.() ?? '?'}; create it (mkdir -p ${dir}) for the server's user` };
  return { ok: true, line: `${what} ${dir}: does not exist yet; a start creates it in ${parent}` };
}

function writable(dir: string): Promise<boolean> {
  return access(dir, constants.W_OK | constants.X_OK).then(() => true, () => false);
}

async function checkTls(cert: string | undefined, key: string | undefined): Promise<CheckResult> {
  if (cert === undefined || key === undefined) return { ok: false, line: 'TLS: --tls-cert and --tls-key go together; give both' };
  const files: Buffer[] = [];
  for (const [what, file] of [['certificate', cert], ['key', key]] as const) {
    try {
      files.push(await readFile(file));
    } catch (err) {
      // The same advice a start gives (create-server.ts readTls), with the reason the start hides.
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { ok: false, line: `TLS ${cert} + ${key}: cannot read the ${what} ${file} (${code}): check the path and its permissions` };
    }
  }
  try {
    createSecureContext({ cert: files[0], key: files[1] });
    return { ok: true, line: `TLS ${cert} + ${key}: certificate and key load and match` };
  } catch (err) {
    return { ok: false, line: `TLS ${cert} + ${key}: they do not work together (${(err as Error).message}): check both PEM files` };
  }
}

async function checkPort(host: string, port: number): Promise<CheckResult> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      done({ ok: false, line: `port ${host}:${port}: cannot listen (${err.code ?? err.message}); ${err.code === 'EADDRINUSE' ? 'another process uses it: stop it or pick another --port' : 'check --host/--port'}` });
    });
    probe.listen(port, host, () => probe.close(() => done({ ok: true, line: `port ${host}:${port}: free` })));
  });
}
