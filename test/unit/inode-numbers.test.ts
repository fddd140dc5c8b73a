import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InodeNumbers } from '../../mount/fuse/inode-numbers.js';

const none = (): boolean => false;

test('a listing drops the numbers of names it lacks, with what was below them', () => {
  const inodes = new InodeNumbers();
  const a = inodes.of('/d/a');
  inodes.of('/d/b');
  inodes.of('/d/b/x');
  inodes.of('/d/b/y');
  inodes.of('/d/b/y/z');
  inodes.of('/other/c');
  inodes.listed('/d', new Set(['a']), inodes.ticket(), none);
  assert.equal(inodes.size, 2, 'b and what was below it went; a and /other/c stayed');
  assert.equal(inodes.of('/d/a'), a);
  assert.equal(inodes.size, 2);
});

test('a listing keeps the numbers of open files and of names numbered after it was asked for', () => {
  const inodes = new InodeNumbers();
  const open = inodes.of('/d/open');
  const ticket = inodes.ticket();
  const late = inodes.of('/d/late');
  inodes.of('/d/gone');
  inodes.listed('/d', new Set(), ticket, (path) => path === '/d/open');
  assert.equal(inodes.of('/d/open'), open, 'open here: the kernel still holds its inode');
  assert.equal(inodes.of('/d/late'), late, 'numbered after the listing was asked for');
  assert.equal(inodes.size, 3, '/d/gone went (and came back numbered anew: 3 paths)');
});

test('a folder renamed or removed takes the numbers below it along', () => {
  const inodes = new InodeNumbers();
  const a = inodes.of('/a');
  inodes.of('/a/sub');
  const x = inodes.of('/a/sub/x');
  inodes.of('/b');
  inodes.of('/b/old');
  inodes.renamed('/a', '/b', true);
  assert.equal(inodes.of('/b'), a);
  assert.equal(inodes.of('/b/sub/x'), x);
  assert.equal(inodes.size, 3, 'what /b held was replaced; nothing is left under /a');
  inodes.removed('/b');
  assert.equal(inodes.size, 0);
});
