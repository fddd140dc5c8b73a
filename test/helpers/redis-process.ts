import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { makeTempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops redis-server (the data is not saved: state starts empty again). */
  stop: () => Promise<void>;
  start: () => Promise<void>;
  cleanup: () => Promise<void>;
  /** The running redis-server's pid (for CPU accounting in bench:scale). */
  pid: () => number | undefined;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A private redis-server on a loopback port, its files in a temp dir, nothing persisted. */
export async function startRedis(): Promise<TestRedis> {
  const tmp = await makeTempDir('rdrive-redis-');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}/0`;
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', tmp.path, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const ready = await waitFor(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    }, (ok) => ok, 10_000, 50);
    probe.disconnect();
    if (!ready) throw new Error(`redis-server did not start on port ${port}`);
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    proc.kill('SIGKILL');
    await once(proc, 'exit');
  };
  await start();
  return { url, port, stop, start, cleanup: async () => { await stop(); await tmp.remove(); }, pid: () => child?.pid };
}
