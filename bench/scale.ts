/**
 * Scale-out benchmark (issue 13): aggregate throughput of many concurrent clients against one
 * server with in-memory state, one with Redis-backed state, and 1, 2 and 3 servers behind
 * HAProxy (state in Redis, one shared storage folder), on this machine, in interleaved rounds.
 * Also the CPU all server-side processes (rdrive servers, HAProxy, Redis) spend per request,
 * which is what should stay flat as servers are added when the cores are the limit.
 *
 * `npm run bench:scale` (or `node --import tsx bench/scale.ts [--rounds N] [--seconds S] [--connections C]`).
 * Load comes from autocannon in this process (it competes for the same cores: say so with the figures).
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { request } from 'undici';
import { startHaproxy, type TestHaproxy } from '../test/helpers/haproxy-process.js';
import { startRedis, type TestRedis } from '../test/helpers/redis-process.js';
import { startServer, type TestServer, writeUsersFile } from '../test/helpers/server-process.js';
import { makeTempDir } from '../test/helpers/tmp.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

const ROUNDS = option('--rounds', 3);
const SECONDS = option('--seconds', 5);
const CONNECTIONS = option('--connections', 16);
const API = '/api/v1';
const FILE = Buffer.alloc(4096, 7);
/** No limit of the server's should be what is measured. */
const UNLIMITED = ['--requests-per-minute', '100000000', '--max-in-flight', '4096', '--max-clients', '100'];

interface Target {
  name: string;
  url: string;
  token: string;
  /** Server-side processes whose CPU this target's requests cost. */
  pids: () => number[];
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  failed: number;
  /** Non-2xx answers by status, e.g. "503×12", so a failure says what it was. */
  codes: string;
}

const WORKLOADS: Record<string, autocannon.Request[]> = {
  // The cheapest authenticated request: session check (memory or Redis) + one stat.
  stat: [{ method: 'GET', path: `${API}/stat/f.bin` }],
  // What a mount does most: stat, read a small file, replace a small file.
  mixed: [
    { method: 'GET', path: `${API}/stat/f.bin` },
    { method: 'GET', path: `${API}/files/f.bin` },
    { method: 'PUT', path: `${API}/files/w.bin`, headers: { 'content-type': 'application/octet-stream' }, body: FILE },
  ],
};

/** utime + stime of a process, ms (from /proc; clock ticks are 100 Hz on Linux). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

async function login(url: string): Promise<string> {
  const res = await request(`${url}${API}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-pass' }) });
  const body = (await res.body.json()) as { token?: string };
  if (body.token === undefined) throw new Error(`login on ${url} failed: ${res.statusCode}`);
  return body.token;
}

async function put(url: string, token: string, name: string): Promise<void> {
  const res = await request(`${url}${API}/files/${name}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: FILE });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`PUT on ${url}: ${res.statusCode}`);
}

async function run(target: Target, workload: string, seconds: number): Promise<Sample> {
  const pids = target.pids();
  const before = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const result = await autocannon({
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${target.token}` },
    requests: WORKLOADS[workload]!,
  });
  const after = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const ok = result['2xx'];
  const codes = Object.entries(result.statusCodeStats ?? {}).filter(([code]) => !code.startsWith('2')).map(([code, s]) => `${code}×${s.count ?? 0}`);
  if (result.errors > 0) codes.push(`errors×${result.errors}`);
  return {
    rps: ok / result.duration, p50: result.latency.p50, p99: result.latency.p99,
    cpuMsPerRequest: ok === 0 ? Number.NaN : (after - before) / ok, failed: result.non2xx + result.errors, codes: codes.join(' '),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function report(workload: string, targets: Target[], samples: Map<string, Sample[]>): void {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  process.stdout.write(`\n### ${workload} (${CONNECTIONS} connections, ${ROUNDS} × ${SECONDS} s, medians)\n\n`);
  process.stdout.write(`${line(['setup', 'req/s', 'p50 ms', 'p99 ms', 'server-side CPU ms/req', 'failed'])}\n${line(['---', '---:', '---:', '---:', '---:', '---:'])}\n`);
  for (const t of targets) {
    const s = samples.get(`${workload}/${t.name}`)!;
    process.stdout.write(`${line([t.name, median(s.map((x) => x.rps)).toFixed(0), median(s.map((x) => x.p50)).toFixed(1), median(s.map((x) => x.p99)).toFixed(1), median(s.map((x) => x.cpuMsPerRequest)).toFixed(3), String(s.reduce((n, x) => n + x.failed, 0))])}\n`);
  }
  // Ratios are taken within each round (the same minute of machine load), then the median.
  const ratio = (a: string, b: string, field: 'rps' | 'cpuMsPerRequest'): string => {
    const xs = samples.get(`${workload}/${a}`)!;
    const ys = samples.get(`${workload}/${b}`)!;
    const per = xs.map((x, i) => x[field] / ys[i]![field]);
    return `${median(per).toFixed(2)} (rounds: ${per.map((r) => r.toFixed(2)).join(', ')})`;
  };
  process.stdout.write('\n');
  process.stdout.write(`- Redis state vs memory, 1 server: throughput × ${ratio('1 server, Redis', '1 server, memory', 'rps')}, CPU/req × ${ratio('1 server, Redis', '1 server, memory', 'cpuMsPerRequest')}\n`);
  process.stdout.write(`- HAProxy in front of 1 server: throughput × ${ratio('HAProxy + 1', '1 server, Redis', 'rps')}\n`);
  process.stdout.write(`- 2 servers vs 1 (both behind HAProxy): throughput × ${ratio('HAProxy + 2', 'HAProxy + 1', 'rps')}, CPU/req × ${ratio('HAProxy + 2', 'HAProxy + 1', 'cpuMsPerRequest')}\n`);
  process.stdout.write(`- 3 servers vs 1 (both behind HAProxy): throughput × ${ratio('HAProxy + 3', 'HAProxy + 1', 'rps')}, CPU/req × ${ratio('HAProxy + 3', 'HAProxy + 1', 'cpuMsPerRequest')}\n`);
}

const tmp = await makeTempDir('rdrive-bench-scale-');
let redis: TestRedis | undefined;
const servers: TestServer[] = [];
const balancers: TestHaproxy[] = [];
try {
  redis = await startRedis();
  const storage = join(tmp.path, 'storage');
  const usersFile = join(tmp.path, 'users.txt');
  await mkdir(storage);
  await writeUsersFile(usersFile, { alice: 'alice-pass' });
  const memory = await startServer({ args: UNLIMITED });
  servers.push(memory);
  const shared: TestServer[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await startServer({ args: [...UNLIMITED, '--storage', storage, '--users', usersFile, '--redis', redis.url, '--trust-proxy', 'loopback'] });
    servers.push(s);
    shared.push(s);
  }
  for (const n of [1, 2, 3]) balancers.push(await startHaproxy(shared.slice(0, n).map((s) => `127.0.0.1:${s.port}`), tmp.path));
  const memoryToken = await login(memory.url);
  const sharedToken = await login(shared[0]!.url);
  await put(memory.url, memoryToken, 'f.bin');
  await put(shared[0]!.url, sharedToken, 'f.bin');
  const redisPid = (): number[] => (redis?.pid() === undefined ? [] : [redis.pid()!]);
  const pidsOf = (list: TestServer[], lb?: TestHaproxy): number[] => [...list.map((s) => s.process.pid!), ...(lb?.proc.pid === undefined ? [] : [lb.proc.pid])];
  const targets: Target[] = [
    { name: '1 server, memory', url: memory.url, token: memoryToken, pids: () => pidsOf([memory]) },
    { name: '1 server, Redis', url: shared[0]!.url, token: sharedToken, pids: () => [...pidsOf([shared[0]!]), ...redisPid()] },
    ...[1, 2, 3].map((n) => ({ name: `HAProxy + ${n}`, url: balancers[n - 1]!.url, token: sharedToken, pids: () => [...pidsOf(shared.slice(0, n), balancers[n - 1]), ...redisPid()] })),
  ];
  process.stdout.write(`bench:scale on ${cpus().length} cores: ${targets.map((t) => t.name).join(' / ')}\n`);
  for (const t of targets) await run(t, 'mixed', 1); // warm-up: JIT, connections, page cache
  const samples = new Map<string, Sample[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const workload of Object.keys(WORKLOADS)) {
      // Interleaved, and the order rotated each round, so slow minutes spread over every setup.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const t of order) {
        const sample = await run(t, workload, SECONDS);
        const key = `${workload}/${t.name}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        process.stderr.write(`round ${round + 1} ${workload.padEnd(5)} ${t.name.padEnd(18)} ${sample.rps.toFixed(0).padStart(6)} req/s  p50 ${sample.p50.toFixed(1)} ms  ${sample.cpuMsPerRequest.toFixed(3)} CPU ms/req${sample.failed > 0 ? `  failed: ${sample.codes}` : ''}\n`);
      }
    }
  }
  // Samples are pushed per round in the same order for every target, so index i is round i.
  for (const workload of Object.keys(WORKLOADS)) report(workload, targets, samples);
} finally {
  for (const lb of balancers) await lb.stop().catch(() => undefined);
  for (const s of servers) await s.cleanup().catch(() => undefined);
  await redis?.cleanup();
  await tmp.remove();
}
