import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { ApiClient } from '../../mount/remote/api-client.js';
import { loggedRequests } from '../helpers/logs.js';
import { DEFAULT_TEST_USERS, startServer, type TestServer } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Folders of 100,000 entries (issue 9): a listing is streamed as its entries are looked at, so a
 * request's memory does not grow with the folder. Before, GET /list built every entry's
 * attributes and the whole JSON text first (~90 MB per request for 100,000 entries): four at
 * once took down a server with a 64 MB heap. The entries are made on the server's storage
 * folder directly (seconds), not through the API.
 */
const ENTRIES = 100_000;
const HEAP_MB = 64;
const T = { timeout: 180_000 };
let server: TestServer;
let alice: ApiClient;
let token: string;
const names: string[] = [];

before(async () => {
  server = await startServer({ nodeArgs: [`--max-old-space-size=${HEAP_MB}`] });
  const big = join(server.storage, 'alice', 'big');
  mkdirSync(big, { recursive: true });
  for (let i = 0; i < ENTRIES; i++) {
    // Made in an order that is not the name order, as a folder's own order is not.
    const name = `f${String((i * 7919) % ENTRIES).padStart(6, '0')}`;
    closeSync(openSync(join(big, name), 'wx'));
    names.push(name);
  }
  names.sort();
  alice = new ApiClient({ server: server.url });
  await alice.login('alice', DEFAULT_TEST_USERS.alice!);
  const res = await request(`${server.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: DEFAULT_TEST_USERS.alice }) });
  token = ((await res.body.json()) as { token: string }).token;
});

after(async () => {
  await alice?.close();
  await server?.cleanup();
});

test(`four listings at once of a ${ENTRIES}-entry folder come whole and in name order from a server with a ${HEAP_MB} MB heap`, T, async () => {
  const listings = await Promise.all([1, 2, 3, 4].map(() => alice.list('big')));
  for (const { entries } of listings) {
    assert.equal(entries.length, ENTRIES);
    assert.deepEqual(entries.map((e) => e.name), names);
    assert.equal(entries[0]!.type, 'file');
  }
  assert.equal(server.process.exitCode, null, server.stderr());
});

/** Descriptors the server process holds on the folder `dir`. */
function heldOn(dir: string): number {
  const fds = `/proc/${server.process.pid}/fd`;
  return readdirSync(fds).filter((fd) => {
    try {
      return readlinkSync(join(fds, fd)) === dir;
    } catch {
      return false;
    }
  }).length;
}

test('a listing whose client stops reading and goes away stops, and lets its folder go', T, async () => {
  const big = join(server.storage, 'alice', 'big');
  const socket = connect(server.port, '127.0.0.1');
  socket.write(`GET /api/v1/list/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  // The answer starts long before the listing is done: it is streamed.
  const [first] = await new Promise<[Buffer]>((resolve) => socket.once('data', (chunk: Buffer) => resolve([chunk])));
  assert.match(first.toString('latin1'), /^HTTP\/1\.1 200/);
  socket.pause();
  // Reading nothing more, the client holds the listing back: its folder stays open meanwhile.
  await waitFor(() => heldOn(big), (n) => n > 0, 5_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.ok(heldOn(big) > 0, 'the listing waits for its reader');
  socket.destroy();
  assert.equal(await waitFor(() => heldOn(big), (n) => n === 0, 10_000), 0, 'the folder is let go once the client has gone');
  const lines = await waitFor(() => loggedRequests(server.logs, 'GET', 'list/big'), (found) => found.some((l) => l.aborted), 5_000);
  assert.deepEqual(lines.filter((l) => l.aborted).map((l) => l.status), [200], 'one line for the cut listing, its answer begun');
  // The server goes on answering.
  assert.equal((await alice.list('big')).entries.length, ENTRIES);
});
