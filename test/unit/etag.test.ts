import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etagOf, sameContent } from '../../common/api.js';

const v1 = { size: 3_145_728, ctime: 1_795_819_832_722, mtime: 1_795_819_832_700, id: '2n9c' };

test('sameContent: only a ctime moved (chmod, chown, rename) is the same content; anything else is another version', () => {
  const etag = etagOf(v1);
  assert.equal(sameContent(etag, v1), true);
  assert.equal(sameContent(etag, { ...v1, ctime: v1.ctime + 5_000 }), true, 'chmod');
  assert.equal(sameContent(etag, { ...v1, id: '2n9d' }), false, 'replaced by an upload: another file');
  assert.equal(sameContent(etag, { ...v1, size: v1.size - 1 }), false, 'truncated in place');
  assert.equal(sameContent(etag, { ...v1, mtime: v1.mtime + 1 }), false, 'mtime moved (in-place truncate, touch)');
  assert.equal(sameContent(etagOf({ ...v1, mtime: 1.5 }), { ...v1, mtime: 1.5, ctime: 9 }), true, 'a fractional mtime');
  const noId = { size: 1, ctime: 2, mtime: 3 };
  assert.equal(sameContent(etagOf(noId), { ...noId, ctime: 4 }), false, 'without an id only an exact match');
  assert.equal(sameContent(etagOf({ ...v1, mtime: -86_400_000 }), { ...v1, mtime: -86_400_000, ctime: 9 }), false, 'a time before 1970 does not parse: exact match only');
  assert.equal(sameContent('"garbage"', v1), false);
});
