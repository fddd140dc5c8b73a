import type { Command } from 'commander';

/** `rdrive ls/put/get/preview/rm/mkdir/mv/stat/df/login` (the file-commands issue fills these in). */
export function registerFileCommands(program: Command): void {
  void program;
}
