import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * rdrive's folders in the user's XDG base directories (freedesktop.org Base Directory spec).
 * As the spec says, a variable that is unset or empty means its default. The one place these
 * are read, so the session cache, the mount registry, the log and the password files agree.
 */

/** `$XDG_RUNTIME_DIR/rdrive`: per login, private, gone at logout; undefined when there is none. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime !== undefined && runtime !== '' ? join(runtime, 'rdrive') : undefined;
}

/** `$XDG_STATE_HOME/rdrive`, by default `~/.local/state/rdrive`: logs. */
export function stateDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(baseDir(env.XDG_STATE_HOME, join(home, '.local', 'state')), 'rdrive');
}

/** `$XDG_CONFIG_HOME/rdrive`, by default `~/.config/rdrive`: settings such as password files. */
export function configDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  return join(baseDir(env.XDG_CONFIG_HOME, join(home, '.config')), 'rdrive');
}

function baseDir(value: string | undefined, fallback: string): string {
  return value !== undefined && value !== '' ? value : fallback;
}
