import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger, defaultClientLogFile } from '../../common/logging.js';
import { makeTempDir } from '../helpers/tmp.js';

test('the client log goes to the XDG state directory unless --log-file says otherwise', () => {
  assert.equal(defaultClientLogFile({ XDG_STATE_HOME: '/x/state' }, '/home/u'), '/x/state/rdrive/client.log');
  assert.equal(defaultClientLogFile({}, '/home/u'), '/home/u/.local/state/rdrive/client.log');
  assert.equal(defaultClientLogFile({ XDG_STATE_HOME: '' }, '/home/u'), '/home/u/.local/state/rdrive/client.log');
});

test('one logger for both sides: secrets are redacted, each field once', async () => {
  const tmp = await makeTempDir();
  try {
    const file = join(tmp.path, 'sub', 'x.log');
    const log = createLogger('client', file, 'info');
    log.info({ password: 'pw-1', user: { token: 'tok-2' }, headers: { authorization: 'Bearer tok-3' }, reason: 'why' }, 'op failed');
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    const text = await readFile(file, 'utf8');
    assert.doesNotMatch(text, /pw-1|tok-2|tok-3/);
    assert.match(text, /"side":"client"/);
    assert.equal(text.split('"msg"').length - 1, 1, 'one msg field per line');
  } finally {
    await tmp.remove();
  }
});
