import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FolderReads } from '../../mount/cache/folder-reads.js';

test('a folder is read in batches only while a reader goes from file to file in it, doubling up to the cap', () => {
  const reads = new FolderReads(64);
  assert.equal(reads.opened('/d', 'a', 0), 0, 'one open is no walk');
  assert.equal(reads.opened('/d', 'a', 10), 0, 'the same file again is no walk');
  assert.equal(reads.opened('/d', 'b', 20), 16);
  reads.fetched('/d');
  reads.touched('/d', 'c', 500);
  assert.equal(reads.opened('/d', 'r', 1400), 32, 'opens answered from the batch keep the walk going');
  reads.fetched('/d');
  reads.fetched('/d');
  assert.equal(reads.opened('/d', 's', 1410), 64, 'capped');
  assert.equal(reads.opened('/e', 'x', 1420), 0, 'folders are counted apart');
  assert.equal(reads.opened('/d', 't', 5000), 0, 'a pause ends the walk');
  assert.equal(reads.opened('/d', 'u', 5010), 16, 'a new walk starts small');
});

test('a folder listed just before starts a walk at its first open; an old listing does not', () => {
  const reads = new FolderReads(64);
  reads.listed('/d', 0);
  assert.equal(reads.opened('/d', 'a', 100), 16);
  reads.fetched('/d');
  assert.equal(reads.opened('/d', 'q', 200), 32);
  reads.listed('/e', 0);
  assert.equal(reads.opened('/e', 'a', 5000), 0, 'listed too long ago');
});
