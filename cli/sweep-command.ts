import type { Command } from 'commander';
import { orphanJudge, sweepTree } from '../mount/daemon/orphans.js';
import { withClient, withConnectionOptions, type ConnectionFlags } from './connection.js';
import { about } from './file-commands.js';

/**
 * `rdrive sweep [dir]`: removes files that were deleted while open and then outlived their
 * mount daemon (killed, machine crashed). A mount does this by itself for a daemon killed on the
 * same machine; this covers the rest.
 */
export function registerSweepCommand(program: Command): void {
  withConnectionOptions(program.command('sweep')
    .description('remove deleted-but-open files (.fuse_hidden*) left on the server by mount daemons that are gone')
    .argument('[dir]', 'remote directory to sweep, with everything below it', '/'))
    .option('--unmarked', 'also remove bare .fuse_hidden* names from older versions (only when no older mount still runs)')
    .action((dir: string, flags: ConnectionFlags & { unmarked?: boolean }) => withClient(flags, async (client) => {
      const judge = await orphanJudge({ unmarked: flags.unmarked === true });
      const { removed, kept } = await about(dir, sweepTree(client, dir, judge));
      for (const path of removed) process.stdout.write(`removed ${path}\n`);
      for (const path of kept) process.stdout.write(`kept ${path} (its mount still runs, or it belongs to a mount on another machine)\n`);
      if (flags.quiet !== true) process.stdout.write(`rdrive: swept ${dir}: ${removed.length} removed, ${kept.length} kept\n`);
    }));
}
