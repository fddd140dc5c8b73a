import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configDir, runtimeDir, stateDir } from '../../common/user-dirs.js';

test('XDG folders: the variable when set, the spec default when unset or empty', () => {
  assert.equal(runtimeDir({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/rdrive');
  assert.equal(runtimeDir({}), undefined);
  assert.equal(runtimeDir({ XDG_RUNTIME_DIR: '' }), undefined);
  assert.equal(stateDir({ XDG_STATE_HOME: '/x/state' }, '/home/u'), '/x/state/rdrive');
  assert.equal(stateDir({ XDG_STATE_HOME: '' }, '/home/u'), '/home/u/.local/state/rdrive');
  assert.equal(configDir({ XDG_CONFIG_HOME: '/x/config' }, '/home/u'), '/x/config/rdrive');
  // An empty XDG_CONFIG_HOME once gave a path relative to wherever mount(8) ran the helper.
  assert.equal(configDir({ XDG_CONFIG_HOME: '' }, '/home/u'), '/home/u/.config/rdrive');
  assert.equal(configDir({}, '/home/u'), '/home/u/.config/rdrive');
});
