import { Command, CommanderError } from 'commander';
import { RdriveError, fromForeign } from '../common/errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { registerMountCommands } from './mount-commands.js';
import { registerFileCommands } from './file-commands.js';
import { helperToMountArgs, registerInstallHelperCommand } from './mount-helper.js';
import { isHelperInvocation } from './mount-options.js';
import { registerSweepCommand } from './sweep-command.js';
import { VERSION } from '../common/version.js';
import { registerStatsCommand } from './stats-command.js';

/** Builds the `rdrive` program; parsing is separate from running (see the command modules). */
export function buildProgram(): Command {
  const program = new Command('rdrive')
    .description('rdrive: your remote folder as a local drive, plus file commands without mounting')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();
  registerMountCommands(program);
  registerFileCommands(program);
  registerInstallHelperCommand(program);
  registerSweepCommand(program);
  registerStatsCommand(program);
  return program;
}

/** One top-level catch: one clear line on stderr and a distinct exit code. */
async function main(argv: string[]): Promise<void> {
  try {
    // mount(8) and fstab call `mount.fuse.rdrive SOURCE MOUNTPOINT -o OPTIONS`.
    if (isHelperInvocation(argv.slice(2), argv[1] ?? '')) {
      const mountArgs = await helperToMountArgs(argv.slice(2));
      if (mountArgs === undefined) return;
      argv = [argv[0]!, argv[1]!, ...mountArgs];
    }
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    const error = err instanceof RdriveError ? err : fromForeign(err);
    process.stderr.write(`rdrive: ${error.message}\n`);
    process.exitCode = exitCodeFor(error);
  }
}

await main(process.argv);
