import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { PATH_MAX, STORED_PATH_MAX, encodeRemotePath, isPathInside, parseRemotePath, splitPlainPath } from '../../common/paths.js';

const hostile: Array<[string, string]> = [
  ['/..', 'EINVAL'],
  ['/a/../../etc/passwd', 'EINVAL'],
  ['/%2e%2e/etc', 'EINVAL'],
  ['/%2E%2E/etc', 'EINVAL'],
  ['/%252e%252e/etc', 'EINVAL'],
  ['/%252E%252e', 'EINVAL'],
  ['/%252e', 'EINVAL'],
  ['/a%252fb', 'EINVAL'],
  ['/a%255cb', 'EINVAL'],
  ['/a%2500b', 'EINVAL'],
  ['/a/%2f/b', 'EINVAL'],
  ['/a%2fb', 'EINVAL'],
  ['/a%5cb', 'EINVAL'],
  ['/a\\..\\b', 'EINVAL'],
  ['/a%00b', 'EINVAL'],
  ['/a%0ab', 'EINVAL'],
  ['/./a', 'EINVAL'],
  ['/a//b', 'EINVAL'],
  ['/%zz', 'EINVAL'],
  [`/${'x'.repeat(256)}`, 'ENAMETOOLONG'],
  [`/${Array.from({ length: 40 }, () => 'y'.repeat(250)).join('/')}`, 'ENAMETOOLONG'],
];

for (const [input, code] of hostile) {
  test(`parseRemotePath refuses ${JSON.stringify(input.slice(0, 40))} with ${code}`, () => {
    assert.throws(() => parseRemotePath(input), (err: unknown) => err instanceof RdriveError && err.code === code);
  });
}

test('parseRemotePath decodes ordinary names once', () => {
  assert.deepEqual(parseRemotePath('/a%20b/c%25d.txt'), ['a b', 'c%d.txt']);
  assert.deepEqual(parseRemotePath('/'), []);
  assert.deepEqual(parseRemotePath(''), []);
  assert.deepEqual(parseRemotePath('/dir/'), ['dir']);
  assert.deepEqual(parseRemotePath('/%C3%A9t%C3%A9'), ['été']);
  assert.deepEqual(parseRemotePath(`/${'n'.repeat(255)}`), ['n'.repeat(255)]);
});

test('encodeRemotePath round-trips through parseRemotePath', () => {
  // Literal percent sequences are ordinary characters in a name once decoded.
  const segments = ['a b', 'c#d?e', 'été', '100%', 'My%20File.pdf', 'report%2eold.txt', '%2e%2e-not-a-dotdot', '%zz'];
  assert.deepEqual(parseRemotePath(`/${encodeRemotePath(segments)}`), segments);
});

test('splitPlainPath applies the same rules to JSON paths', () => {
  assert.deepEqual(splitPlainPath('/a/b'), ['a', 'b']);
  assert.throws(() => splitPlainPath('a/../b'), RdriveError);
  assert.throws(() => splitPlainPath('a\\b'), RdriveError);
  // What a URL could only carry double-encoded, a JSON path cannot carry encoded once (issue 10 item 4).
  for (const path of ['%2e%2e%2fbob%2fx', '%2e%2e', '%2E', 'a/x%2fy', 'x%5cy', 'x%00y']) {
    assert.throws(() => splitPlainPath(path), (err: unknown) => err instanceof RdriveError && err.code === 'EINVAL', path);
  }
  assert.deepEqual(splitPlainPath('report%2eold.txt/100%'), ['report%2eold.txt', '100%']);
});

test('isPathInside compares normalised absolute paths', () => {
  assert.equal(isPathInside('/srv/u1', '/srv/u1'), true);
  assert.equal(isPathInside('/srv/u1', '/srv/u1/a'), true);
  assert.equal(isPathInside('/srv/u1', '/srv/u10'), false);
  assert.equal(isPathInside('/srv/u1', '/srv'), false);
  assert.equal(isPathInside('/srv/u1/', '/srv/u1/x'), true);
});

test('a stored path may be longer than PATH_MAX (up to STORED_PATH_MAX) when every name is valid', () => {
  const long = Array.from({ length: 30 }, () => 'p'.repeat(250));
  assert.equal(Buffer.byteLength(long.join('/')) > PATH_MAX, true);
  assert.deepEqual(parseRemotePath(`/${long.join('/')}`), long);
  assert.throws(() => splitPlainPath(Array.from({ length: 33 }, () => 'p'.repeat(250)).join('/')), (err: unknown) => err instanceof RdriveError && err.code === 'ENAMETOOLONG' && err.message.includes(String(STORED_PATH_MAX)));
});
