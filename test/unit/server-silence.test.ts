import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ServerSilence } from '../../mount/remote/server-silence.js';

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
  await sleep(1_200); // the next probe, a second later
  assert.doesNotThrow(() => silence.check(), 'calls made now wait for their answer again');
  silence.close();
});
