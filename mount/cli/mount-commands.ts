import type { Command } from 'commander';

/** `rdrive mount` and `rdrive unmount` (the mount issue fills these in). */
export function registerMountCommands(program: Command): void {
  void program;
}
