import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sh } from '../helpers/mount-process.js';
import { CLIENT_BIN, REPO_ROOT, SERVER_BIN } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/tmp.js';

/**
 * The shipped unit files pass `systemd-analyze verify` (Debian's systemd package; no running
 * systemd needed). verify insists that ExecStart's program exists, so the test checks copies in
 * which the installed path (/usr/local/bin/...) is replaced by this checkout's bin/ scripts.
 */
const UNITS = join(REPO_ROOT, 'packaging', 'systemd');
const T = { timeout: 60_000 };
let tmp: { path: string; remove: () => Promise<void> };

before(async () => {
  tmp = await makeTempDir('rdrive-units-');
  for (const name of await readdir(UNITS)) {
    const text = await readFile(join(UNITS, name), 'utf8');
    await writeFile(join(tmp.path, name), text
      .replaceAll('/usr/local/bin/rdrive-server ', `${SERVER_BIN} `)
      .replaceAll('/usr/local/bin/rdrive ', `${CLIENT_BIN} `));
  }
  await mkdir(join(tmp.path, 'run'), { mode: 0o700 });
});

after(async () => {
  await tmp?.remove();
});

/** verify's findings go to stderr; some (unknown keys) still exit 0, so both must be clean. */
async function verify(units: string[], user = false): Promise<{ code: number; stderr: string }> {
  const res = await sh(`systemd-analyze ${user ? '--user ' : ''}verify --man=no ${units.join(' ')}`, {
    cwd: tmp.path, timeoutMs: 30_000, env: { XDG_RUNTIME_DIR: join(tmp.path, 'run') },
  });
  return { code: res.code, stderr: res.stderr.trim() };
}

test('the server unit, the .mount and the .automount verify without a finding', T, async () => {
  assert.deepEqual(await verify(['rdrive-server.service', 'mnt-rdrive.mount', 'mnt-rdrive.automount']), { code: 0, stderr: '' });
});

test('the user mount unit verifies for a user manager', T, async () => {
  assert.deepEqual(await verify(['rdrive-mount.service'], true), { code: 0, stderr: '' });
});

test('the check can fail: a misspelt key is reported', T, async () => {
  const text = await readFile(join(tmp.path, 'rdrive-server.service'), 'utf8');
  await writeFile(join(tmp.path, 'typo.service'), text.replace('ProtectSystem=strict', 'ProtectSystm=strict'));
  const res = await verify(['typo.service']);
  assert.match(res.stderr, /Unknown key 'ProtectSystm'/);
});

test('the server unit is hardened: systemd-analyze security rates its exposure low', T, async () => {
  const res = await sh('systemd-analyze security --offline=yes rdrive-server.service', { cwd: tmp.path, timeoutMs: 30_000 });
  const match = /Overall exposure level for rdrive-server\.service: ([\d.]+)/.exec(res.stdout);
  assert.ok(match !== null, `no exposure level in: ${res.stdout.slice(-300)} ${res.stderr}`);
  assert.ok(Number(match[1]) <= 2, `exposure ${match[1]} (0 = fully locked down, 10 = none)`);
  for (const setting of ['ProtectSystem=strict', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectHome=yes', 'User=rdrive']) {
    assert.ok((await readFile(join(tmp.path, 'rdrive-server.service'), 'utf8')).includes(setting), setting);
  }
});
