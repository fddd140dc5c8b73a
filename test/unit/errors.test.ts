import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { VERSION } from '../../common/version.js';
import { EXIT, exitCodeFor } from '../../cli/exit-codes.js';
import { ERRORS, RdriveError, codeForStatus, fromForeign, toErrno, toHttpStatus, type ErrorCode } from '../../common/errors.js';

test('toErrno gives the negative errno fuse-native wants', () => {
  assert.equal(toErrno(new RdriveError('ENOENT')), -2);
  assert.equal(toErrno(new RdriveError('EEXIST')), -17);
  assert.equal(toErrno(new RdriveError('ENOTEMPTY')), -39);
  assert.equal(toErrno(new RdriveError('ENOSPC')), -28);
  assert.equal(toErrno(new RdriveError('UNREACHABLE')), -5);
  assert.equal(toErrno(new RdriveError('ETIMEDOUT')), -110);
});

test('unknown errors become EIO', () => {
  assert.equal(toErrno(new Error('boom')), -constants.errno.EIO);
  assert.equal(toErrno('nonsense'), -constants.errno.EIO);
  assert.equal(toHttpStatus(new Error('boom')), 500);
});

test('every table entry has an HTTP error status and a real errno', () => {
  for (const [code, entry] of Object.entries(ERRORS)) {
    assert.ok(entry.http >= 400 && entry.http < 600, code);
    assert.ok(constants.errno[entry.errno] > 0, code);
    assert.equal(new RdriveError(code as ErrorCode).http, entry.http);
  }
});

test('foreign errors are converted at one boundary without leaking their messages', () => {
  const fsError = Object.assign(new Error("ENOENT: no such file or directory, open '/srv/storage/alice/x'"), { code: 'ENOENT' });
  const converted = fromForeign(fsError);
  assert.equal(converted.code, 'ENOENT');
  assert.doesNotMatch(converted.message, /srv/);
  assert.equal(fromForeign(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).code, 'UNREACHABLE');
  assert.equal(fromForeign(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).code, 'ETIMEDOUT');
  assert.equal(fromForeign(Object.assign(new Error('x'), { code: 'EDQUOT' })).code, 'ENOSPC');
  assert.equal(fromForeign(Object.assign(new Error('x'), { code: 'EWEIRD' })).code, 'EIO');
});

test('a bare status maps back through the table: every code\'s status gives a code with that status', () => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) assert.equal(ERRORS[codeForStatus(ERRORS[code].http)].http, ERRORS[code].http, code);
  assert.equal(codeForStatus(404), 'ENOENT');
  assert.equal(codeForStatus(409), 'EEXIST');
  assert.equal(codeForStatus(412), 'CHANGED');
  assert.equal(codeForStatus(418), 'EIO');
  // A load balancer's 503 page (no server up) means "retry shortly", not "too many clients".
  assert.equal(codeForStatus(503), 'UNAVAILABLE');
});

test('a missing FUSE is its own exit code; the version is package.json\'s', async () => {
  assert.equal(exitCodeFor(new RdriveError('ENOSYS', 'FUSE is not available')), EXIT.NO_FUSE);
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});
