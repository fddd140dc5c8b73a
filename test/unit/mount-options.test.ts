import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHelperInvocation, parseHelperArgs, splitOptions, splitSource, toMountArgs } from '../../cli/mount-options.js';
import { mountSource } from '../../mount/daemon/mount-daemon.js';
import { helperScript } from '../../cli/mount-helper.js';

test('mount(8) argument order is recognised, subcommands are not', () => {
  assert.equal(isHelperInvocation(['http://h:1', '/mnt'], '/usr/bin/rdrive'), true);
  assert.equal(isHelperInvocation(['mount', 'http://h:1', '/mnt'], '/usr/bin/rdrive'), false);
  assert.equal(isHelperInvocation(['ls'], '/usr/bin/rdrive'), false);
  assert.equal(isHelperInvocation([], '/sbin/mount.fuse.rdrive'), true);
});

test('every option maps to its rdrive mount flag; generic fstab options are ignored', () => {
  const inv = parseHelperArgs(['https://alice@drive.example:8888/', '/mnt/x', '-n', '-o',
    'rw,noauto,_netdev,x-systemd.automount,nofail,defaults,sync,password_file=/etc/rdrive/a.pw,ca=/etc/rdrive/ca.pem,ro,allow_other,attr_timeout=5,timeout=9,log_level=debug,log_file=/var/log/r.log,log_max_size=1M,log_keep=3']);
  assert.deepEqual(inv, {
    server: 'https://drive.example:8888', mountpoint: '/mnt/x', user: 'alice', passwordFile: '/etc/rdrive/a.pw',
    ca: '/etc/rdrive/ca.pem', readOnly: true, allowOther: true, attrTimeout: '5', timeout: '9', logLevel: 'debug',
    logFile: '/var/log/r.log', logMaxSize: '1M', logKeep: '3', sync: true, fake: false,
  });
  assert.deepEqual(toMountArgs({ ...inv, user: 'alice', logFile: '/l' }), [
    'mount', 'https://drive.example:8888', '/mnt/x', '--daemon', '--user', 'alice', '--log-file', '/l',
    '--password-file', '/etc/rdrive/a.pw', '--ca', '/etc/rdrive/ca.pem', '--attr-timeout', '5', '--timeout', '9',
    '--log-level', 'debug', '--log-max-size', '1M', '--log-keep', '3', '--read-only', '--allow-other', '--sync',
  ]);
  assert.equal(parseHelperArgs(['http://h:1', '/m', '-o', 'username=bob', '-o', 'read_only']).user, 'bob');
  assert.equal(parseHelperArgs(['http://h:1', '/m', '-f']).fake, true);
});

test('bad options are refused with a message that says what to do', () => {
  assert.throws(() => parseHelperArgs(['http://h:1', '/m', '-o', 'colour=blue']), /Unknown mount option "colour=blue"/);
  assert.throws(() => parseHelperArgs(['http://h:1', '/m', '-o', 'password=x']), /password_file=FILE/);
  assert.throws(() => parseHelperArgs(['http://h:1', '/m', '-o', 'username=']), /needs a value/);
  assert.throws(() => parseHelperArgs(['http://h:1', '/m', '-o']), /needs a value/);
  assert.throws(() => parseHelperArgs(['http://h:1']), /Usage: mount -t fuse.rdrive/);
  assert.throws(() => splitSource('http://a:secret@h:1'), /Do not put a password in the URL/);
  assert.throws(() => splitSource('ftp://h'), /only http/);
});

test('option lists split on unescaped commas', () => {
  assert.deepEqual(splitOptions('a,b=c\\,d,,e'), ['a', 'b=c,d', 'e']);
});

test('the mount source names user, host and port', () => {
  assert.equal(mountSource('alice', 'http://127.0.0.1:8888'), 'alice@127.0.0.1:8888');
  assert.equal(mountSource('bob', 'https://drive.example'), 'bob@drive.example:443');
});

test('the helper script names node and the CLI by absolute path and sets a PATH', () => {
  const script = helperScript('/opt/node/bin/node', "/opt/it's/bin/rdrive.js");
  assert.match(script, /^#!\/bin\/sh\n/);
  assert.match(script, /exec '\/opt\/node\/bin\/node' '\/opt\/it'\\''s\/bin\/rdrive.js' "\$@"/);
  assert.match(script, /PATH="\$\{PATH:-/);
});
