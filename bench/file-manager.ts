import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { waitForLog } from '../test/helpers/logs.js';
import { makeTempDir } from '../test/helpers/tmp.js';
import { makeFileManagerFolder } from './fm-fixtures.js';
import { FileManagerSession, startXvfb, type FileManagerRun } from './fm-session.js';
import { localTarget, rdriveTarget, sshfsTarget, type Target } from './peers.js';

/**
 * `npm run bench:desktop`: how long a real file manager (pcmanfm under Xvfb) takes to show a
 * folder of 200 mixed files (photos, pictures, text, binaries) on local disk, an rdrive mount and
 * sshfs, each cold (page cache dropped, FUSE filesystems mounted afresh, a fresh home without
 * a thumbnail cache), in interleaved rounds. See docs/benchmark.md, "File manager".
 * Options: --rounds N (5), --files N (200), --quiet MS (2000), --only local,rdrive,sshfs
 * (rdrive-nolease too: rdrive with --read-lease 0, in the same rounds),
 * --debug (rdrive's mount logs every FUSE op with its time: summed per op for each run),
 * --read-lease MS (the server's read lease; 0 compares with every open asking the server).
 */
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string' },
    files: { type: 'string' },
    quiet: { type: 'string' },
    only: { type: 'string' },
    debug: { type: 'boolean', default: false },
    'read-lease': { type: 'string' },
  },
});
const rounds = Number(opts.rounds ?? 5);
const files = Number(opts.files ?? 200);
const quietMs = Number(opts.quiet ?? 2000);
const FOLDER = 'fm-folder';

interface Sample extends FileManagerRun {
  target: string;
  round: number;
  /** rdrive only: what the server sent (bytes, requests by route) while the folder was shown. */
  sentBytes?: number;
  requests?: Record<string, number>;
  /** --debug only: FUSE ops by name: count and summed time in the daemon. */
  ops?: Record<string, { count: number; ms: number }>;
}

/** The server's Prometheus counters (see docs/api.md, metrics): bytes sent, requests by route. */
async function scrape(url: string): Promise<{ sent: number; requests: Record<string, number> }> {
  const text = await (await fetch(url)).text();
  let sent = 0;
  const requests: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('rdrive_http_sent_bytes_total ')) sent = Number(line.split(' ')[1]);
    const m = /^rdrive_http_requests_total\{method="(\w+)",route="(\w+)",status="(\d+)"\} (\S+)$/.exec(line);
    if (m !== null) requests[`${m[1]} ${m[2]} ${m[3]}`] = (requests[`${m[1]} ${m[2]} ${m[3]}`] ?? 0) + Number(m[4]);
  }
  return { sent, requests };
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** FUSE ops in the mount's debug log from `fromLine` on: count and summed ms per op. */
async function opSummary(logFile: string, fromLine: number): Promise<{ ops: Record<string, { count: number; ms: number }>; lines: number }> {
  const lines = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  const ops: Record<string, { count: number; ms: number }> = {};
  for (const line of lines.slice(fromLine)) {
    const entry = JSON.parse(line) as { op?: string; ms?: number; code?: string };
    if (entry.op === undefined) continue;
    const key = entry.code === undefined ? entry.op : `${entry.op} ${entry.code}`;
    const sum = ops[key] ?? { count: 0, ms: 0 };
    ops[key] = sum;
    sum.count++;
    sum.ms += entry.ms ?? 0;
  }
  return { ops, lines: lines.length };
}

async function runOnce(t: Target, display: string, home: string, startDir: string, round: number, metricsUrl: string | undefined): Promise<Sample> {
  await t.coldCache();
  const fm = await FileManagerSession.start(display, home, startDir);
  try {
    // Let the session's helpers settle (gvfsd-trash looks at every mount's trash folder).
    await sleep(1_000);
    const logFile = t.rdrive?.mount().logFile;
    const logFrom = opts.debug && logFile !== undefined ? (await opSummary(logFile, 0)).lines : 0;
    const before = metricsUrl === undefined ? undefined : await scrape(metricsUrl);
    const run = await fm.show(join(t.fixtures, FOLDER), quietMs);
    const sample: Sample = { target: t.name, round, ...run };
    if (metricsUrl !== undefined && before !== undefined) {
      const after = await scrape(metricsUrl);
      sample.sentBytes = after.sent - before.sent;
      sample.requests = diff(after.requests, before.requests);
    }
    if (opts.debug && logFile !== undefined) sample.ops = (await opSummary(logFile, logFrom)).ops;
    const extra = sample.sentBytes === undefined ? '' : `, server sent ${(sample.sentBytes / 1e6).toFixed(1)} MB in ${Object.values(sample.requests ?? {}).reduce((a, b) => a + b, 0)} requests`;
    process.stderr.write(`bench:   ${t.name.padEnd(14)} window ${ms(run.windowMs)}, shown ${ms(run.displayMs)} (${run.filesOpened} files, ${run.opens} opens${extra})\n`);
    return sample;
  } finally {
    await fm.stop();
  }
}

function ms(value: number): string {
  return `${(value / 1000).toFixed(2)} s`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function report(samples: Sample[], names: string[], folderBytes: number): string {
  const lines = [
    `file manager (pcmanfm under Xvfb): a folder of ${files} files (${(folderBytes / 1e6).toFixed(1)} MB), cold, ${rounds} interleaved round(s)`,
    `time from asking for the folder until pcmanfm last touched a file in it (sniffing, thumbnails); quiet ${quietMs} ms`,
    '',
    `${'target'.padEnd(15)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'max'.padStart(8)} ${'window'.padStart(8)}  ratio to local (per round: median, min-max)   server sent (median)`,
  ];
  for (const name of names) {
    const mine = samples.filter((s) => s.target === name);
    const shown = mine.map((s) => s.displayMs);
    const ratios = mine.map((s) => s.displayMs / (samples.find((l) => l.target === 'local' && l.round === s.round)?.displayMs ?? NaN)).filter(Number.isFinite);
    const ratio = name === 'local' || ratios.length === 0 ? '' : `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
    const sent = mine.flatMap((s) => (s.sentBytes === undefined ? [] : [s.sentBytes]));
    const sentText = sent.length === 0 ? '' : `${(median(sent) / 1e6).toFixed(1)} MB = ${((100 * median(sent)) / folderBytes).toFixed(0)}% of the folder`;
    lines.push(`${name.padEnd(15)} ${ms(Math.min(...shown)).padStart(8)} ${ms(median(shown)).padStart(8)} ${ms(Math.max(...shown)).padStart(8)} ${ms(median(mine.map((s) => s.windowMs))).padStart(8)}  ${ratio.padEnd(45)} ${sentText}`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const tmp = await makeTempDir('rdrive-fm-bench-');
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async (): Promise<void> => {
    for (const stop of cleanups.reverse()) await stop().catch(() => undefined);
    cleanups.length = 0;
    await tmp.remove();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      void cleanup().then(() => process.exit(130));
    });
  }
  try {
    const source = join(tmp.path, 'source');
    process.stderr.write(`bench: making a folder of ${files} files (images with ImageMagick)\n`);
    const folderBytes = await makeFileManagerFolder(source, files);
    const only = opts.only?.split(',') ?? ['local', 'rdrive', 'sshfs'];
    const targets: Target[] = [];
    const add = async (t: Target): Promise<void> => {
      targets.push(t);
      cleanups.push(t.stop);
    };
    if (only.includes('local')) await add(await localTarget(tmp.path));
    const metricsUrls = new Map<Target, string | undefined>();
    const addRdrive = async (name: string, readLease: string | undefined): Promise<void> => {
      const leaseArgs = readLease === undefined ? [] : ['--read-lease', readLease];
      const t = await rdriveTarget(false, { serverArgs: ['--metrics-port', '0', '--log-level', 'info', ...leaseArgs], mountArgs: opts.debug ? ['--log-level', 'debug'] : [] });
      t.name = name;
      await add(t);
      const log = await waitForLog(join(t.rdrive!.server.logs, 'server.log'), /"msg":"metrics listening"/, 1, 10_000);
      metricsUrls.set(t, /"url":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(log)?.[1]);
    };
    if (only.includes('rdrive')) await addRdrive('rdrive', opts['read-lease']);
    // The same without read leases: every open asks the server (the behaviour before them).
    if (only.includes('rdrive-nolease')) await addRdrive('rdrive-nolease', '0');
    if (only.includes('sshfs')) await add(await sshfsTarget(tmp.path));
    for (const t of targets) {
      if (t.backing === undefined) continue;
      await mkdir(t.backing, { recursive: true });
      await cp(source, join(t.backing, FOLDER), { recursive: true });
    }
    const x = await startXvfb();
    cleanups.push(x.stop);
    const startDir = join(tmp.path, 'start');
    await mkdir(startDir);
    const samples: Sample[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      process.stderr.write(`bench: round ${round + 1}/${rounds}: ${order.map((t) => t.name).join(', ')}\n`);
      for (const t of order) samples.push(await runOnce(t, x.display, join(tmp.path, 'home'), startDir, round, metricsUrls.get(t)));
    }
    const out = report(samples, targets.map((t) => t.name), folderBytes);
    process.stdout.write(`\n${out}\n`);
    if (opts.debug) {
      for (const s of samples.filter((x) => x.ops !== undefined)) process.stdout.write(`\nround ${s.round + 1} ${s.target} ops: ${JSON.stringify(s.ops)}\nrequests: ${JSON.stringify(s.requests)}\n`);
    }
    await mkdir('bench-results', { recursive: true });
    await writeFile(join('bench-results', `file-manager-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ files, folderBytes, rounds, quietMs, samples }, null, 2));
  } finally {
    await cleanup();
  }
}

await main();
