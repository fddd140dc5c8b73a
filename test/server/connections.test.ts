import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { waitForLog } from '../helpers/logs.js';
import { startServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

// Slow-loris: connections that send their request head a byte at a time. They used to be cut
// only after ~75 s (Node's 60 s default, looked at every 30 s), with no cap on how many: 600 of
// them took every file descriptor of a server under `ulimit -n 512`, and its own file I/O and
// `sync` failed with EMFILE. Source addresses are loopback aliases (127.0.0.x).
const T = { timeout: 120_000 };

interface Loris {
  socket: Socket;
  opened: number;
  /** ms after opening that it was closed by the server; undefined while open. */
  closedAfter: number | undefined;
  received: string;
}

/** A connection from `address` that sends a request head one byte every 500 ms, never ending it. */
function loris(port: number, address: string): Loris {
  const head = `GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'x'.repeat(200)}\r\n`;
  const socket = connect({ port, host: '127.0.0.1', localAddress: address });
  const l: Loris = { socket, opened: Date.now(), closedAfter: undefined, received: '' };
  let at = 0;
  const drip = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(head[at++ % head.length]!);
  }, 500);
  socket.on('connect', () => socket.write(head[at++]!));
  socket.on('data', (d) => { l.received += d.toString('latin1'); });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    clearInterval(drip);
    l.closedAfter = Date.now() - l.opened;
  });
  return l;
}

const stillOpen = (all: Loris[]): number => all.filter((l) => l.closedAfter === undefined).length;

test('slow request heads: capped per address and in all, cut after --headers-timeout; the server keeps its descriptors', T, async (t) => {
  // `prlimit --nofile=512` as in the review's repro: room for (512 - 64) / 2 = 224 connections.
  const server = await startServer({ wrapper: ['prlimit', '--nofile=512'] });
  const alice = new ApiClient({ server: server.url });
  const all: Loris[] = [];
  const work = async (round: number): Promise<void> => {
    // File I/O and the group commit's `sync` need descriptors of their own.
    for (let i = 0; i < 5; i++) await alice.upload(`f${round}-${i}.txt`, () => `content ${round} ${i}`);
    await alice.sync();
    assert.equal((await alice.list('/')).entries.filter((e) => e.name.startsWith(`f${round}-`)).length, 5);
    assert.equal((await alice.read(`f${round}-4.txt`, 0, 100)).toString(), `content ${round} 4`);
  };
  try {
    await alice.login('alice', 'alice-pass');
    const log = (): Promise<string> => readFile(join(server.logs, 'server.log'), 'utf8');

    // 600 from one address: 128 (the default per address) stay, the rest are closed at once.
    for (let i = 0; i < 600; i++) all.push(loris(server.port, '127.0.0.2'));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await work(1);
    const fresh = new ApiClient({ server: server.url });
    await fresh.login('bob', 'bob-pass');
    assert.deepEqual((await fresh.list('/')).entries, [], 'a new client from another address gets in');
    await fresh.close();
    const one = stillOpen(all);
    t.diagnostic(`from one address, ${one} of 600 open`);
    assert.ok(one <= 128, `${one} connections from one address are open`);

    // 128 more from each of four other addresses: 224 at most in all. Connections already open
    // (alice's keep-alive one) carry on, and the server has descriptors left for its files.
    for (const address of ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6']) {
      for (let i = 0; i < 128; i++) all.push(loris(server.port, address));
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const open = stillOpen(all);
    t.diagnostic(`from five addresses, ${open} of ${all.length} open`);
    assert.ok(open <= 224, `${open} connections are open`);
    await work(2);

    // Every slow head let in is cut once it has had 20 s (the default --headers-timeout), with
    // a 408; the ones refused were closed without a word (later than at once when the server
    // was slow to accept them: the kernel completes the handshake before that).
    await waitFor(() => stillOpen(all), (n) => n === 0, 40_000, 500);
    assert.equal(stillOpen(all), 0, 'all cut');
    const cut = all.filter((l) => l.received !== '').map((l) => l.closedAfter!);
    const refused = all.filter((l) => l.received === '').map((l) => l.closedAfter!);
    t.diagnostic(`${cut.length} cut after ${Math.min(...cut)}-${Math.max(...cut)} ms, ${refused.length} refused within ${Math.max(...refused)} ms`);
    assert.ok(all.every((l) => l.received === '' || l.received.startsWith('HTTP/1.1 408')), 'answered 408 Request Timeout');
    assert.ok(cut.length >= 200, `${cut.length} were let in`);
    assert.ok(cut.every((ms) => ms >= 19_000 && ms < 30_000), `cut after ${Math.min(...cut)}-${Math.max(...cut)} ms`);
    assert.ok(refused.every((ms) => ms < 19_000), 'refused ones were not held');
    await work(3);
    assert.match(await waitForLog(join(server.logs, 'server.log'), /open-file limit/), /"maxConnections":224.*the open-file limit \(ulimit -n 512\)/, 'the cap below --max-connections is told');
    assert.doesNotMatch(await log(), /EMFILE|group commit \(syncfs\) failed/);
    assert.match(await log(), /connection refused: --max-connections-per-address reached/);
    assert.match(await log(), /connection refused: --max-connections reached/);
  } finally {
    for (const l of all) l.socket.destroy();
    await alice.close();
    await server.cleanup();
  }
});

test('--max-connections-per-address, --max-connections and --headers-timeout are options; trusted proxies are exempt per address', T, async () => {
  const server = await startServer({ args: ['--max-connections-per-address', '3', '--headers-timeout', '2'] });
  const all: Loris[] = [];
  try {
    for (let i = 0; i < 6; i++) all.push(loris(server.port, '127.0.0.2'));
    assert.equal(await waitFor(() => stillOpen(all), (n) => n <= 3, 5_000), 3);
    await waitFor(() => stillOpen(all), (n) => n === 0, 10_000, 100);
    const cut = all.filter((l) => l.received.startsWith('HTTP/1.1 408')).map((l) => l.closedAfter!);
    assert.equal(cut.length, 3);
    assert.ok(cut.every((ms) => ms >= 1_500 && ms < 5_000), `cut after ${cut.join(', ')} ms`);
  } finally {
    for (const l of all.splice(0)) l.socket.destroy();
    await server.cleanup();
  }
  const proxied = await startServer({ args: ['--max-connections-per-address', '3', '--max-connections', '10', '--trust-proxy', '127.0.0.2'] });
  try {
    for (let i = 0; i < 12; i++) all.push(loris(proxied.port, '127.0.0.2'));
    assert.equal(await waitFor(() => stillOpen(all), (n) => n <= 10, 5_000), 10, 'a trusted proxy may open up to --max-connections');
  } finally {
    for (const l of all) l.socket.destroy();
    await proxied.cleanup();
  }
});
