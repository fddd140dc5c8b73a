import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMountInfo, sameMount } from '../../mount/daemon/mount-table.js';
import { describeUsers, isUnder } from '../../mount/daemon/mount-users.js';

const INFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '95 22 0:52 / /tmp/with\\040space rw,nosuid,nodev,relatime shared:50 - fuse.rdrive rdrive rw,user_id=0,group_id=0',
  '96 22 0:53 / /tmp/m rw,nosuid,nodev - fuse.rdrive rdrive rw',
  '',
].join('\n');

test('mountinfo lines give id, device, unescaped path and type', () => {
  const mounts = parseMountInfo(INFO);
  assert.equal(mounts.length, 3);
  assert.deepEqual(mounts[1], { mountId: 95, dev: '0:52', mountpoint: '/tmp/with space', fstype: 'fuse.rdrive' });
});

test('two mounts at one path are told apart by id and device', () => {
  const [, a, b] = parseMountInfo(INFO);
  assert.equal(sameMount(a, a), true);
  assert.equal(sameMount(a, { ...b!, mountpoint: a!.mountpoint }), false);
  assert.equal(sameMount(a, undefined), false);
});

test('a path is on a mount only below its mountpoint, not beside it', () => {
  assert.equal(isUnder('/tmp/m', '/tmp/m'), true);
  assert.equal(isUnder('/tmp/m/a/b', '/tmp/m'), true);
  assert.equal(isUnder('/tmp/mx', '/tmp/m'), false);
  assert.equal(describeUsers([{ pid: 7, command: 'bash', uses: ['working directory', 'open file'] }]), '7 (bash: working directory, open file)');
});
