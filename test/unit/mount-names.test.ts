import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { formatListing, formatStat, modeString } from '../../cli/format.js';
import { checkNameLengths, checkNewName, checkServerPathLength, isLockName } from '../../mount/fuse/names.js';
import { toStat } from '../../mount/fuse/ops/attributes.js';

const code = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof RdriveError ? err.code : String(err);
  }
};

test('NAME_MAX is checked per component, in bytes', () => {
  assert.equal(code(() => checkNameLengths(`/a/${'x'.repeat(255)}`)), undefined);
  assert.equal(code(() => checkNameLengths(`/a/${'x'.repeat(256)}`)), 'ENAMETOOLONG');
  assert.equal(code(() => checkNameLengths(`/${'x'.repeat(256)}/b`)), 'ENAMETOOLONG', 'a too-long directory on the way counts too');
  assert.equal(code(() => checkNameLengths(`/${'é'.repeat(128)}`)), 'ENAMETOOLONG', '256 bytes of UTF-8 in 128 characters');
});

test('many valid components pass the name check; the server\'s whole-path limit is its own check', () => {
  const deep = `/${Array.from({ length: 50 }, () => 'y'.repeat(200)).join('/')}`;
  assert.equal(code(() => checkNameLengths(deep)), undefined);
  assert.equal(code(() => checkServerPathLength(deep)), 'ENAMETOOLONG');
  assert.equal(code(() => checkNewName(deep)), 'ENAMETOOLONG');
  // Longer than PATH_MAX (which the kernel applies to what a call receives), up to the server's own limit.
  const fits = `/${Array.from({ length: 40 }, () => 'z'.repeat(199)).join('/')}/${'w'.repeat(191)}`;
  assert.equal(Buffer.byteLength(fits), 8192);
  assert.equal(code(() => checkNewName(fits)), undefined);
  assert.equal(code(() => checkNewName(`${fits}w`)), 'ENAMETOOLONG');
});

test('a link shows as S_IFLNK with 0777, its size the target\'s length', () => {
  const st = toStat({ type: 'symlink', target: '../t', size: 4, mode: 0o644, mtime: 0, atime: 0, ctime: 0 }, 1, 2, 7);
  assert.equal(st.mode, 0o120777);
  assert.equal(st.size, 4);
  assert.equal(st.ino, 7);
});

test('ls -l shows a link as name -> target, stat names it a symbolic link', () => {
  const link = { name: 'l', type: 'symlink' as const, target: '/etc/hosts', size: 10, mtime: 0, atime: 0, ctime: 0, mode: 0o777 };
  assert.equal(modeString(link), 'lrwxrwxrwx');
  assert.match(formatListing([link], true), /^lrwxrwxrwx 10 1970-01-01 00:00:00 l -> \/etc\/hosts\n$/);
  assert.equal(formatListing([link], false), 'l\n');
  assert.match(formatStat('l', link), /File: l -> \/etc\/hosts\n {2}Type: symbolic link/);
});

test('lock names: what git, dot-locking, vim and LibreOffice create with O_EXCL, and nothing else', () => {
  for (const path of ['/repo/.git/index.lock', '/repo/.git/refs/heads/main.lock', '/mail/inbox.lock', '/db/x.lck', '/src/.main.c.swp', '/src/.main.c.swo', '/docs/.~lock.report.odt#']) {
    assert.equal(isLockName(path), true, path);
  }
  for (const path of ['/lock', '/a.lock/file', '/movie.swf', '/main.c.swp', '/data.locked', '/.~lock.x', '/report.odt']) {
    assert.equal(isLockName(path), false, path);
  }
});
