import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseByteSize } from '../../common/byte-size.js';
import { RdriveError } from '../../common/errors.js';
import { resolveServerConfig } from '../../server/config.js';

test('sizes take units in powers of 1024, as df -h prints them, or plain bytes', () => {
  assert.equal(parseByteSize('10G', 'quota'), 10 * 1024 ** 3);
  assert.equal(parseByteSize('1.5T', 'quota'), 1.5 * 1024 ** 4);
  assert.equal(parseByteSize('500 MiB', 'quota'), 500 * 1024 ** 2);
  assert.equal(parseByteSize('512k', 'quota'), 512 * 1024);
  assert.equal(parseByteSize('10000000000', 'quota'), 10_000_000_000);
  assert.equal(parseByteSize(0, 'quota'), 0);
  for (const bad of ['ten', '-1', '10X', '', '1e9', '99999999999T']) {
    assert.throws(() => parseByteSize(bad, 'quota'), (err: unknown) => err instanceof RdriveError && /^--quota must be a size such as 10M/.test(err.message), bad);
  }
});

test('--quota and --max-file-size take sizes such as 10G', () => {
  const config = resolveServerConfig({ quota: '10G', maxFileSize: '4G' });
  assert.equal(config.quota, 10 * 1024 ** 3);
  assert.equal(config.maxFileSize, 4 * 1024 ** 3);
  assert.throws(() => resolveServerConfig({ quota: '10 gigs' }), /--quota must be a size such as 10M, 512K, 1G or a number of bytes \(0: no limit\), got "10 gigs"/);
});
