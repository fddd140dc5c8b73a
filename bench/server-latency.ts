/**
 * Per-request latency of the server on loopback, through the client the mount uses: the cost
 * every small-file operation pays. `npm run bench:server` (or `node --import tsx bench/server-latency.ts [N]`).
 * Beside the latency, the server process's own CPU time per request (from /proc): on a shared,
 * loaded machine the latency swings with the other processes, its CPU time far less.
 * RDRIVE_BENCH_ARGS adds server options (e.g. "--max-entries 0").
 */
import { readFileSync } from 'node:fs';
import { ApiClient } from '../mount/remote/api-client.js';
import { startServer } from '../test/helpers/server-process.js';

const N = Number(process.argv[2] ?? 1000);

/** CPU ms (user + system) the server process has used so far; /proc counts in 10 ms ticks. */
function serverCpuMs(): number {
  const fields = readFileSync(`/proc/${srv.process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function timed(label: string, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 50; i++) await fn(-1 - i);
  const cpuBefore = serverCpuMs();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn(i);
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / N;
  const cpu = (serverCpuMs() - cpuBefore) / N;
  process.stdout.write(`${label.padEnd(28)} ${ms.toFixed(3)} ms/request  ${(1000 / ms).toFixed(0)} req/s  server CPU ${cpu.toFixed(3)} ms/request\n`);
}

const extra = (process.env.RDRIVE_BENCH_ARGS ?? '').split(' ').filter((a) => a !== '');
const srv = await startServer({ args: ['--requests-per-minute', '100000000', '--log-level', process.env.LOG_LEVEL ?? 'info', ...extra] });
const client = new ApiClient({ server: srv.url });
try {
  await client.login('alice', 'alice-pass');
  const small = Buffer.alloc(4096, 7);
  await timed('GET /health', () => client.health());
  await timed('GET /stat', () => client.stat(''));
  await timed('PUT 4 KiB new file', (i) => client.upload(`f${i}`, () => small, { length: small.length }));
  await timed('PUT 4 KiB, durable (--sync)', (i) => client.upload(`s${i}`, () => small, { length: small.length, sync: true }));
  await timed('POST /sync (group commit)', () => client.sync());
  await timed('GET 4 KiB (open for read)', (i) => client.readFirst(`f${i}`, 262144));
  await timed('GET /list (1050 entries)', () => client.list(''));
  await timed('DELETE file', (i) => client.unlink(`f${i}`));
  await timed('POST /dirs (mkdir)', (i) => client.mkdir(`d${i}`));
  await timed('DELETE /dirs (rmdir)', (i) => client.rmdir(`d${i}`));
} finally {
  await client.close();
  await srv.cleanup();
}
