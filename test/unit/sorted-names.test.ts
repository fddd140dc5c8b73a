import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DIR_FLAGS, TEMP_PREFIX, release } from '../../server/storage/confine.js';
import { byName, firstNames, namesInOrder } from '../../server/storage/sorted-names.js';
import { makeTempDir } from '../helpers/tmp.js';

/** A folder's names in name order, a window at a time (server/storage/sorted-names.ts). */
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let dirFd: number;
const files: string[] = [];

before(async () => {
  tmp = await makeTempDir('rdrive-names-');
  for (let i = 0; i < 300; i++) {
    // Names beyond ASCII too: JavaScript's order (UTF-16), which is not UTF-8's byte order.
    const name = i % 3 === 0 ? `n${(i * 37) % 1000}` : i % 3 === 1 ? `é${i}` : `\u{1F600}${i}\uFF5E`;
    writeFileSync(join(tmp.path, name), '');
    files.push(name);
  }
  files.sort(byName);
  mkdirSync(join(tmp.path, 'a-folder'));
  writeFileSync(join(tmp.path, `${TEMP_PREFIX}upload`), '');
  dirFd = openSync(tmp.path, DIR_FLAGS);
});

after(async () => {
  if (dirFd !== undefined) release(dirFd);
  await tmp?.remove();
});

const onlyFiles = (d: { isFile(): boolean }): boolean => d.isFile();

test('a walk gives every name once, in name order, a window at a time; temp files and what keep refuses left out', async () => {
  for (const count of [1, 7, 299, 300, 1000]) {
    const windows: string[][] = [];
    for await (const names of namesInOrder(dirFd, onlyFiles, { count, bytes: 1e9 })) windows.push(names);
    assert.deepEqual(windows.flat(), files, `window of ${count}`);
    assert.ok(windows.every((w) => w.length <= count));
    assert.equal(windows.length, Math.ceil(files.length / count));
  }
});

test('a window holds no more than its bytes allow', async () => {
  const windows: string[][] = [];
  for await (const names of namesInOrder(dirFd, onlyFiles, { count: 1e9, bytes: 400 })) windows.push(names);
  assert.deepEqual(windows.flat(), files);
  assert.ok(windows.length > 10 && windows.every((w) => w.length >= 1));
});

test('the first names say whether the folder has more', async () => {
  assert.deepEqual(await firstNames(dirFd, onlyFiles, { count: 5, bytes: 1e9 }), { names: files.slice(0, 5), more: true });
  assert.deepEqual(await firstNames(dirFd, onlyFiles, { count: 300, bytes: 1e9 }), { names: files, more: false });
  assert.deepEqual(await firstNames(dirFd, (d) => d.isDirectory(), { count: 5, bytes: 1e9 }), { names: ['a-folder'], more: false });
});

test('a name made during a walk comes at most once', async () => {
  const seen: string[] = [];
  let i = 0;
  for await (const names of namesInOrder(dirFd, onlyFiles, { count: 50, bytes: 1e9 })) {
    seen.push(...names);
    closeSync(openSync(join(tmp.path, `late${i++}`), 'w'));
  }
  assert.equal(new Set(seen).size, seen.length);
  assert.deepEqual(seen.filter((n) => !n.startsWith('late')), files);
});
