import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { test } from 'node:test';
import { waitingOn } from '../../server/http/stall-guard.js';

function exchange(req: { complete: boolean; readableLength: number }, finished = false): { req: IncomingMessage; res: ServerResponse } {
  return { req: req as IncomingMessage, res: { writableFinished: finished } as ServerResponse };
}

test('a quiet connection is cut only when it waits on its client', () => {
  const drained = { writableLength: 0 };
  assert.equal(waitingOn(undefined, drained), 'idle');
  assert.equal(waitingOn(exchange({ complete: true, readableLength: 0 }, true), drained), 'idle', 'answered: a keep-alive');
  assert.equal(waitingOn(exchange({ complete: false, readableLength: 0 }), drained), 'client-send', 'body stopped, nothing unread');
  assert.equal(waitingOn(exchange({ complete: false, readableLength: 65_536 }), drained), 'server', 'body bytes wait for the server (a slow disk)');
  assert.equal(waitingOn(exchange({ complete: true, readableLength: 0 }), drained), 'server', 'whole request in, answer being worked on');
  assert.equal(waitingOn(exchange({ complete: true, readableLength: 0 }), { writableLength: 4096 }), 'client-read', 'answer queued, client not reading');
});
