import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from './redis-process.js';
import { REPO_ROOT } from './server-process.js';
import { reapChild } from './reaper.js';
import { waitFor } from './wait.js';

export const HAPROXY_CONFIG = join(REPO_ROOT, 'packaging/haproxy/rdrive.cfg');

/** The environment the repo's HAProxy config reads: its port and up to three backends (host:port). */
export function haproxyEnv(port: number, backends: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RDRIVE_LB_PORT: String(port) };
  // The config names three servers; with fewer backends the last one is repeated.
  for (let i = 0; i < 3; i++) env[`RDRIVE_S${i + 1}`] = backends[Math.min(i, backends.length - 1)];
  return env;
}

export interface TestHaproxy {
  url: string;
  proc: ChildProcess;
  stop: () => Promise<void>;
}

/**
 * The repo's config with its three `server` lines replaced by one per backend (written to
 * `dir`), so one or two servers get an equal share each; three use the repo's file as is.
 */
async function configFor(backends: string[], dir: string): Promise<string> {
  if (backends.length === 3) return HAPROXY_CONFIG;
  const text = await readFile(HAPROXY_CONFIG, 'utf8');
  const servers = backends.map((b, i) => `    server s${i + 1} ${b} check`).join('\n');
  const file = join(dir, `haproxy-${backends.length}.cfg`);
  await writeFile(file, text.replace(/(?:^ {4}server s\d .*\n)+/m, `${servers}\n`));
  return file;
}

/** HAProxy from Debian with packaging/haproxy/rdrive.cfg in front of `backends`, once it answers health. */
export async function startHaproxy(backends: string[], dir: string): Promise<TestHaproxy> {
  const port = await freePort();
  const config = await configFor(backends, dir);
  const proc = spawn('haproxy', ['-db', '-f', config], { env: haproxyEnv(port, backends), cwd: dir, stdio: 'ignore' });
  reapChild(proc);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  };
  const up = await waitFor(() => request(`${url}/api/v1/health`).then(async (r) => { await r.body.dump(); return r.statusCode; }, () => 0), (s) => s === 200, 10_000, 100);
  if (up !== 200) await stop();
  assert.equal(up, 200, 'haproxy answers health');
  return { url, proc, stop };
}
