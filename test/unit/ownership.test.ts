import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { formatOwner, modeAfterChown, ownerFrom, ownerOfNew, parseOwner } from '../../common/ownership.js';

const einval = (err: unknown) => err instanceof RdriveError && err.code === 'EINVAL';

test('owner ids: whole numbers up to 2^32-2, both or none', () => {
  assert.equal(ownerFrom({}), undefined);
  assert.deepEqual(ownerFrom({ uid: 0, gid: 4294967294 }), { uid: 0, gid: 4294967294 });
  for (const bad of [{ uid: 1 }, { gid: 1 }, { uid: -1, gid: 0 }, { uid: 4294967295, gid: 0 }, { uid: 1.5, gid: 0 }, { uid: '0', gid: 0 }]) {
    assert.throws(() => ownerFrom(bad), einval, JSON.stringify(bad));
  }
});

test('the stored form round-trips and refuses anything else', () => {
  assert.equal(formatOwner({ uid: 65534, gid: 100 }), '65534:100');
  assert.deepEqual(parseOwner('65534:100'), { uid: 65534, gid: 100 });
  for (const bad of ['', '1', '1:', ':1', '-1:0', '1:2:3', ' 1:2', '4294967295:0', '1:2\n']) assert.equal(parseOwner(bad), undefined, JSON.stringify(bad));
});

test('chown drops setuid, and setgid only with group-execute, on non-directories (as Linux)', () => {
  assert.equal(modeAfterChown(0o4755, false), 0o755);
  assert.equal(modeAfterChown(0o6755, false), 0o755);
  assert.equal(modeAfterChown(0o2745, false), 0o2745, 'setgid without g+x is kept');
  assert.equal(modeAfterChown(0o6755, true), 0o6755, 'directories keep theirs');
  assert.equal(modeAfterChown(0o1777, false), 0o1777, 'sticky stays');
});

test('a new entry belongs to its creator, with the group of a setgid parent (and its setgid if a directory)', () => {
  const caller = { uid: 1000, gid: 1000 };
  const parent = { uid: 0, gid: 50 };
  assert.deepEqual(ownerOfNew(caller, parent, 0o755, 0o644, false), { owner: caller, mode: 0o644 });
  assert.deepEqual(ownerOfNew(caller, parent, 0o2775, 0o644, false), { owner: { uid: 1000, gid: 50 }, mode: 0o644 });
  assert.deepEqual(ownerOfNew(caller, parent, 0o2775, 0o755, true), { owner: { uid: 1000, gid: 50 }, mode: 0o2755 });
});
