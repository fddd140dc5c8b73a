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
  reads.touched('/d', 'ra', 1401);
  assert.equal(reads.opened('/d', 'rz', 1405), 64);
  reads.fetched('/d');
  reads.touched('/d', 'rza', 1406);
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
  reads.touched('/d', 'b', 150);
  assert.equal(reads.opened('/d', 'q', 200), 32);
  reads.listed('/e', 0);
  assert.equal(reads.opened('/e', 'a', 5000), 0, 'listed too long ago');
});

test('a batch that served no open stops the walk fetching (rsync opens each file it just wrote)', () => {
  const reads = new FolderReads(256);
  reads.listed('/d', 0);
  assert.equal(reads.opened('/d', '.f1.XyZ', 10), 16, 'listed, then opened: looks like a walk');
  reads.fetched('/d');
  assert.equal(reads.opened('/d', '.f2.AbC', 50), 0, 'the next open missed with no open served: the batch predicted nothing');
  for (let i = 3; i < 300; i++) assert.equal(reads.opened('/d', `.f${i}.Q`, 50 + i * 10), 0, `open ${i} fetches nothing`);
  reads.listed('/d', 3_100);
  assert.equal(reads.opened('/d', 'f1', 3_110), 16, 'a program listing the folder (cat * after rsync) starts a walk anew');
  assert.equal(reads.opened('/d', 'x', 10_000), 0, 'after a pause a new walk starts as usual');
  assert.equal(reads.opened('/d', 'y', 10_010), 16);
});

test('a file too big for any batch, missed, starts no batch, neither stops nor counts for the walk', () => {
  const reads = new FolderReads(256);
  assert.equal(reads.opened('/d', 'a', 0), 0);
  assert.equal(reads.opened('/d', 'b', 10), 16);
  reads.fetched('/d');
  reads.touched('/d', 'c', 15);
  for (let i = 0; i < 50; i++) assert.equal(reads.opened('/d', `big${i}`, 20 + i, true), 0, 'no batch from a big file (cat *.o)');
  assert.equal(reads.opened('/d', 'd', 80), 32, 'the walk goes on at the next small file');
  reads.fetched('/d');
  assert.equal(reads.opened('/d', 'bigger', 90, true), 0);
  assert.equal(reads.opened('/d', 'e', 100), 0, 'no open served by the last batch: stop');
});

test('a batch whose answer was dropped (a change through this mount meanwhile) stops the walk', () => {
  const reads = new FolderReads(256);
  assert.equal(reads.opened('/d', 'a', 0), 0);
  assert.equal(reads.opened('/d', 'b', 10), 16);
  reads.fetched('/d');
  reads.wasted('/d');
  assert.equal(reads.opened('/d', 'c', 20), 0);
});
