import { Command, CommanderError } from 'commander';
import { RdriveError, fromForeign } from '../../common/errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { registerMountCommands } from './mount-commands.js';
import { registerFileCommands } from './file-commands.js';

/** Builds the `rdrive` program; parsing is separate from running (see the command modules). */
export function buildProgram(): Command {
  const program = new Command('rdrive')
    .description('rdrive: your remote folder as a local drive, plus file commands without mounting')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerMountCommands(program);
  registerFileCommands(program);
  return program;
}

/** One top-level catch: one clear line on stderr and a distinct exit code. */
async function main(argv: string[]): Promise<void> {
  try {
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
