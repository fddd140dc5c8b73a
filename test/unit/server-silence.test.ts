import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ApiClient } from '../../mount/remote/api-client.js';
import { ServerSilence } from '../../mount/remote/server-silence.js';
import { waitFor } from '../helpers/wait.js';

test('a missed answer with the server still answering probes never makes calls fail at once', async () => {
  let probes = 0;
  const silence = new ServerSilence(50, async () => { probes++; }, undefined);
  await sleep(60);
  silence.missed();
  await sleep(20);
  assert.equal(probes, 1);
  assert.doesNotThrow(() => silence.check());
  silence.close();
});

test('a missed answer within the window of the last one heard asks nothing', async () => {
  let probes = 0;
  const silence = new ServerSilence(10_000, async () => { probes++; }, undefined);
  silence.heard();
  silence.missed();
  await sleep(20);
  assert.equal(probes, 0);
  silence.close();
});

test('a silent server: calls fail at once and waiting ones are aborted, until it is heard again', async () => {
  let answering = false;
  const silence = new ServerSilence(30, async () => { if (!answering) throw new Error('no answer'); }, undefined);
  let gaveUp: Error | undefined;
  silence.whenFoundSilent((err) => { gaveUp = err; });
  let answered: Error | undefined;
  const forget = silence.whenFoundSilent((err) => { answered = err; });
  forget(); // this call's answer came
  await sleep(40);
  silence.missed();
  await sleep(20);
  assert.throws(() => silence.check(), (err: Error & { code?: string }) => err.code === 'ETIMEDOUT' && /has not answered/.test(err.message));
  assert.match(String(gaveUp), /has not answered/, 'a call waiting for an answer gives up too');
  assert.equal(answered, undefined, 'a call that had its answer is not told');
  answering = true;
  // The next probe comes a second later.
  const back = await waitFor(async () => { try { silence.check(); return true; } catch { return false; } }, (ok) => ok, 10_000);
  assert.equal(back, true, 'calls made now wait for their answer again');
  silence.close();
});

test('calls answered while the server is heard leave nothing waiting on the silence', async () => {
  // Node 20 keeps every AbortSignal.any made from a long-lived signal referenced by it: calls
  // that combined their deadline with a silence signal leaked about 50 bytes each, for good.
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new ApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  try {
    for (let i = 0; i < 200; i++) await client.health();
    const silence = (client as unknown as { silence: { waiting: Set<unknown> } }).silence;
    assert.equal(silence.waiting.size, 0, 'no call left waiting once answered');
  } finally {
    await client.close();
    server.close();
  }
});

test('a call answered while the probe is out: the server is not taken for silent when the probe fails', async () => {
  let heardDuringProbe: (() => void) | undefined;
  const silence = new ServerSilence(30, async () => {
    heardDuringProbe?.();
    await sleep(50);
    throw new Error('the probe got no answer');
  }, undefined);
  heardDuringProbe = () => setTimeout(() => silence.heard(), 10);
  let gaveUp: Error | undefined;
  silence.whenFoundSilent((err) => { gaveUp = err; });
  await sleep(40);
  silence.missed();
  await sleep(100);
  assert.doesNotThrow(() => silence.check(), 'a call was answered 40 ms before the probe gave up');
  assert.equal(gaveUp, undefined);
  silence.close();
});
