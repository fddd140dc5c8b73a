import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOrphan, ownerOf, ownMark, toServerPath } from '../../mount/fuse/hidden-names.js';

const mark = ownMark(4321, 'box.lan', '0badf00d');
const NAME = '.fuse_hidden000000a100000003';

test('only libfuse\'s hidden names get the mark, and only in the last component', () => {
  assert.equal(toServerPath(`/d/${NAME}`, mark), `/d/${NAME}.rdrive.box.lan.4321.0badf00d`);
  assert.equal(toServerPath('/d/notes.txt', mark), '/d/notes.txt');
  assert.equal(toServerPath(`/d/${NAME}x`, mark), `/d/${NAME}x`);
  assert.equal(toServerPath(`/${NAME}/f`, mark), `/${NAME}/f`);
  assert.equal(ownMark(1, 'we!rd host', 'aaaaaaaa').host, 'we-rd-host');
});

test('the owner is read back from the marked name', () => {
  assert.deepEqual(ownerOf(`${NAME}.rdrive.box.lan.4321.0badf00d`), { host: 'box.lan', pid: 4321, instance: '0badf00d' });
  assert.equal(ownerOf(NAME), 'unmarked');
  assert.equal(ownerOf('file.txt'), undefined);
});

test('orphan: this host and its daemon gone, or its pid now another daemon\'s', () => {
  const name = `${NAME}.rdrive.box.lan.4321.0badf00d`;
  const here = (alive: boolean, instance?: string) => ({ host: 'box.lan', alive: () => alive, instanceOf: () => instance });
  assert.equal(isOrphan(name, here(false)), true);
  assert.equal(isOrphan(name, here(true, '0badf00d')), false, 'its daemon runs');
  assert.equal(isOrphan(name, here(true, '11111111')), true, 'the pid was reused by another daemon');
  assert.equal(isOrphan(name, here(true, undefined)), false, 'a live pid without a record is not judged');
  assert.equal(isOrphan(name, { ...here(false), host: 'other' }), false, 'another host\'s');
  assert.equal(isOrphan(NAME, here(false)), false);
  assert.equal(isOrphan(NAME, here(false), { unmarked: true }), true);
  assert.equal(isOrphan('plain.txt', here(false), { unmarked: true }), false);
});
