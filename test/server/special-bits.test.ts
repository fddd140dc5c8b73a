import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeExtentHeader } from '../../common/api.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { startServer } from '../helpers/server-process.js';

// A server that is not root lacks CAP_FSETID, and the kernel then clears setuid/setgid at every
// write or truncate of the file. The server runs here as root with that one capability dropped
// (setpriv, util-linux): the same kernel rule applies, with no second user account needed.

const T = { timeout: 60_000 };
const WITHOUT_FSETID = ['setpriv', '--bounding-set=-fsetid', '--inh-caps=-fsetid'];

test('setuid and setgid survive PUT, PATCH and truncate on a server without CAP_FSETID', T, async () => {
  const server = await startServer({ wrapper: WITHOUT_FSETID });
  const client = new ApiClient({ server: server.url });
  const onDisk = async (name: string): Promise<number> => (await stat(join(server.storage, 'alice', name))).mode & 0o7777;
  try {
    await client.login('alice', 'alice-pass');
    // Several write batches (the server writes in 1 MiB pieces), each able to clear the bits.
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    assert.equal((await client.upload('suid', () => body, { mode: 0o4755 })).mode, 0o4755);
    assert.equal(await onDisk('suid'), 0o4755, 'PUT with mode 4755 keeps setuid');
    assert.equal((await client.upload('sgid', () => 'x', { mode: 0o2775 })).mode, 0o2775);
    assert.equal(await onDisk('sgid'), 0o2775, 'PUT with mode 2775 keeps setgid');
    // Overwrite without a mode: the existing mode, special bits included, stays.
    await client.upload('suid', () => 'new content');
    assert.equal(await onDisk('suid'), 0o4755, 'an overwrite keeps the file\'s setuid');
    // PATCH writes into a copy of the file: the copy keeps the bits too.
    const extent = Buffer.concat([encodeExtentHeader(0, 3), Buffer.from('NEW')]);
    assert.equal((await client.patch('suid', () => extent)).mode, 0o4755);
    assert.equal(await onDisk('suid'), 0o4755, 'PATCH keeps setuid');
    // A truncate alone (no mode given) keeps them; a mode given with it wins.
    assert.equal((await client.setAttr('suid', { size: 2 })).mode, 0o4755);
    assert.equal((await client.setAttr('suid', { size: 1, mode: 0o755 })).mode, 0o755);
  } finally {
    await client.close();
    await server.cleanup();
  }
});
