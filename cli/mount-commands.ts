import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants as osConstants } from 'node:os';
import { readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { CLIENT_DEFAULTS } from '../common/config.js';
import { RdriveError } from '../common/errors.js';
import { createMount, lostUploadsError, type RunningMount, StartAborted } from '../mount/daemon/mount-daemon.js';
import { checkFuseAvailable, checkMountpoint } from '../mount/daemon/preflight.js';
import { unmountOnCrash } from '../mount/daemon/crash-guard.js';
import { readCa, warnIfCleartext } from './trust.js';
import { defaultPidFile, recordLost, registerDaemon, registryDir, removePid, writePid } from '../mount/daemon/pid-registry.js';
import { FORCE_DETACH_AFTER_MS, unmountRdrive } from '../mount/daemon/unmount.js';
import { serveStatsOnSignal } from '../mount/daemon/stats-file.js';
import { checkLogLevel, createLogger, defaultClientLogFile } from '../common/logging.js';
import { LOG_ROTATION_DEFAULTS, type LogRotation, resolveLogRotation } from '../common/log-rotation.js';
import { parseServerUrl } from '../mount/remote/api-client.js';
import { caOption, requireUser, userOption } from './connection.js';
import { obtainPassword } from './credentials.js';
import { codeForExit, EXIT, exitCodeFor } from './exit-codes.js';

const READY_PREFIX = 'rdrive: mounted ';
/** What a foreground mount's stop is told when its mount was removed from outside, not a signal. */
const MOUNT_REMOVED = 'mount removed';

interface MountFlags {
  user?: string;
  passwordFile?: string;
  readOnly?: boolean;
  sync?: boolean;
  allowOther?: boolean;
  attrTimeout: string;
  timeout: string;
  ca?: string;
  logLevel: string;
  logFile?: string;
  logMaxSize?: string;
  logKeep?: string;
  logRotate?: string;
  daemon?: boolean;
  pidFile?: string;
}

/** `rdrive mount` and `rdrive unmount`. */
export function registerMountCommands(program: Command): void {
  program.command('mount')
    .description('mount your remote folder; stays in the foreground until Ctrl-C unless --daemon')
    .argument('<url>', 'server URL, e.g. http://127.0.0.1:8888')
    .argument('<mountpoint>', 'an empty directory')
    .addOption(userOption())
    .option('--password-file <file>', 'read the password from this file (else RDRIVE_PASSWORD, else a prompt)')
    .option('--read-only', 'mount read-only')
    .option('--sync', 'every close() returns only once the file is on the server\'s disk for good (slower; default: within ~1 s)')
    .option('--allow-other', 'let other users (e.g. a file explorer running as another user) see the mount')
    .option('--attr-timeout <seconds>', 'how long attributes and listings are cached', String(CLIENT_DEFAULTS.attrTimeout))
    .addOption(caOption())
    .option('--timeout <seconds>', 'how long a call waits for the server before it fails with ETIMEDOUT', String(CLIENT_DEFAULTS.requestTimeoutMs / 1000))
    .option('--log-level <level>', 'error|warn|info|debug', CLIENT_DEFAULTS.logLevel)
    .option('--log-file <file>', 'client log (default $XDG_STATE_HOME/rdrive/client.log, else ~/.local/state/rdrive/client.log)')
    .option('--log-max-size <size>', `start a new log file at this size, e.g. 10M, 512K, 0 for never (default ${LOG_ROTATION_DEFAULTS.maxSize})`)
    .option('--log-keep <n>', `rotated log files kept besides the current one (default ${LOG_ROTATION_DEFAULTS.keep})`)
    .option('--log-rotate <when>', 'also start a new log file hourly or daily')
    .option('--daemon', 'detach once the mount is ready (writes a pid file)')
    .option('--pid-file <file>', 'where to record the daemon\'s pid')
    .addOption(new Option('--daemon-child').hideHelp())
    .action(async (url: string, mountpoint: string, flags: MountFlags & { daemonChild?: boolean }) => {
      if (flags.daemon === true) await startDaemon(url, mountpoint, flags);
      else await runForeground(url, mountpoint, flags, flags.daemonChild === true);
    });

  program.command('unmount')
    .alias('umount')
    .description('unmount a mount made by "rdrive mount" (foreground or --daemon)')
    .argument('<mountpoint>')
    .option('--pid-file <file>', 'pid file given to "rdrive mount --pid-file" (removed too; the daemon is found without it)')
    .option('-f, --force', 'detach even while processes use the mount (lazy unmount: they then get errors)')
    .action(async (mountpoint: string, flags: { pidFile?: string; force?: boolean }) => {
      // A link to the mount names the folder it points to (rdrive mount mounted there). Links
      // are followed by readlink and the parent by realpath: a stat of the mount itself would
      // hang with a stopped daemon, the case unmount must handle.
      const mnt = await mountPathOf(mountpoint);
      const outcome = await unmountRdrive(mnt, { force: flags.force === true, ...(flags.pidFile === undefined ? {} : { pidFile: flags.pidFile }) });
      process.stdout.write(`rdrive: unmounted ${mnt}\n`);
      if (outcome.stillRunning !== undefined) {
        process.stderr.write(`rdrive: its daemon (pid ${outcome.stillRunning}) did not exit within ${FORCE_DETACH_AFTER_MS / 1000} s and was left running: it uploads what is still open, then exits (see its log; "kill -9 ${outcome.stillRunning}" loses those changes)\n`);
      }
      // Unmounted all the same, but not cleanly: the exit code says why (9 for a full quota).
      if (outcome.lost !== undefined) throw lostUploadsError(outcome.lost);
    });
}

/** What stops a mount (after the start, an ordinary stop: upload, unmount, exit 0). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** A start stopped by a signal exits as the shell reports a process killed by it: 128 + its number. */
function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + osConstants.signals[signal];
}

function stoppedMessage(signal: NodeJS.Signals): string {
  return `rdrive: stopped by ${signal} before the mount was ready; nothing was left mounted\n`;
}

async function runForeground(url: string, mountpoint: string, flags: MountFlags, child: boolean): Promise<void> {
  // Handled from the first moment, so that no signal during the start kills the process with a
  // mount half made (a dead mount, "Transport endpoint is not connected"). Before createMount
  // there is nothing to undo: exit at once. From then on the start undoes what it did (the
  // session, the mount) and throws StartAborted.
  const start = new AbortController();
  let creating = false;
  // Once the mount is up, before it is ready (pid file, record): undone at once, whatever step waits.
  let undoMounted: ((signal: NodeJS.Signals) => void) | undefined;
  let stopRunning: ((signal: string) => void) | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopRunning !== undefined) {
      stopRunning(signal);
    } else if (undoMounted !== undefined) {
      undoMounted(signal);
    } else if (creating) {
      start.abort(signal);
    } else {
      process.stderr.write(stoppedMessage(signal));
      process.exit(signalExitCode(signal));
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  parseServerUrl(url);
  const logLevel = checkLogLevel(flags.logLevel);
  const attrTimeout = Number(flags.attrTimeout);
  if (!Number.isFinite(attrTimeout) || attrTimeout < 0) throw new RdriveError('EINVAL', '--attr-timeout must be a number of seconds ≥ 0');
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new RdriveError('EINVAL', '--timeout must be a number of seconds > 0');
  const user = requireUser(flags.user);
  const rotation = logRotation(flags);
  await checkFuseAvailable();
  const mnt = await checkMountpoint(mountpoint, { allowOther: flags.allowOther === true });
  const ca = await readCa(flags.ca);
  if (!child) warnIfCleartext(url);
  const password = await obtainPassword(user, { passwordFile: flags.passwordFile });
  const log = await createLogger('client', resolve(flags.logFile ?? defaultClientLogFile()), logLevel, rotation);
  const exitAborted = async (signal: NodeJS.Signals): Promise<never> => {
    log.info({ signal }, 'start stopped by a signal; nothing left mounted');
    process.stderr.write(stoppedMessage(signal));
    await new Promise<void>((done) => log.flush(() => done()));
    process.exit(signalExitCode(signal));
  };
  // From here on a crash (an uncaught exception, an unhandled rejection) undoes what the start
  // did, mounted or not yet ready, and exits 70 saying so.
  const crashGuard = unmountOnCrash(mnt, log);
  let mount: RunningMount;
  creating = true;
  try {
    mount = await createMount({
      server: url, mountpoint: mnt, user, password, readOnly: flags.readOnly === true, sync: flags.sync === true,
      allowOther: flags.allowOther === true, attrTimeout, requestTimeoutMs: timeout * 1000, log,
      ...(ca === undefined ? {} : { ca }),
      abort: start.signal,
      progress: crashGuard.progress,
    });
  } catch (err) {
    if (err instanceof StartAborted) return exitAborted(start.signal.reason as NodeJS.Signals);
    throw err;
  }
  const pidFile = flags.pidFile ?? defaultPidFile(mnt);
  let undoing = false;
  undoMounted = (signal) => {
    if (undoing) return;
    undoing = true;
    void mount.unmount().finally(async () => {
      await removePid(pidFile).catch(() => undefined);
      await exitAborted(signal);
    });
  };
  try {
    await writePid(pidFile, process.pid).catch((err: NodeJS.ErrnoException) => {
      throw new RdriveError(err.code === 'EACCES' || err.code === 'EROFS' ? 'EACCES' : err.code === 'ENOSPC' ? 'ENOSPC' : 'EIO',
        `Cannot write the pid file ${pidFile} (${err.code ?? err.message}): give --pid-file a file in a folder you may write; nothing was left mounted`);
    });
    crashGuard.pidFile = pidFile;
    await registerDaemon(mount.own, mount.instance).catch((err: NodeJS.ErrnoException) => {
      throw new RdriveError('EIO', `Cannot record the mount in ${registryDir()} (${err.code ?? err.message}), where "rdrive unmount" finds its daemon: check that folder (XDG_RUNTIME_DIR); nothing was left mounted`);
    });
  } catch (err) {
    if (undoing) return; // a signal is undoing the mount already, and exits
    // The mount is up but could not be recorded: "rdrive unmount" would not find its daemon.
    log.error({ err }, 'could not record the mount; unmounting');
    await mount.unmount();
    await removePid(pidFile).catch(() => undefined);
    throw err;
  }
  if (undoing) return; // the signal's undo exits the process
  undoMounted = undefined;
  serveStatsOnSignal(mnt, log);
  crashGuard.ready = true;
  process.stdout.write(`${READY_PREFIX}${url} at ${mnt}\n`);
  if (child) {
    process.stdout.end();
    // The parent closes its end of our stderr once we are ready: a line written there later (a
    // warning of node's, the log saying it cannot be written) fails with EPIPE, and unheard that
    // error would crash the mount.
    process.stderr.on('error', () => undefined);
  }
  const exitCode = await new Promise<number>((done) => {
    let stopping = false;
    // A second signal must not kill the process mid-unmount.
    stopRunning = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      let code: number = EXIT.OK;
      void mount.unmount().then(async ({ lost }) => {
        if (lost.length === 0) return;
        // Said here (a foreground mount's terminal) and left for "rdrive unmount", which waits for us.
        const error = lostUploadsError(lost);
        code = exitCodeFor(error);
        // SIGTERM is how "rdrive unmount" stops us; after anything else nobody would take the record.
        if (signal === 'SIGTERM') await recordLost(lost).catch((err: unknown) => log.warn({ err }, 'could not record the lost uploads for rdrive unmount'));
        process.stderr.write(`rdrive: ${error.message}\n`);
      }).finally(async () => {
        await removePid(pidFile);
        // A foreground mount's terminal hears that it stopped, and why when it was not asked to.
        if (!child) {
          process.stdout.write(signal === MOUNT_REMOVED
            ? `rdrive: ${mnt} was unmounted from outside (fusermount -u, umount); stopped\n`
            : `rdrive: unmounted ${mnt}\n`);
        }
        log.flush();
        done(code);
      });
    };
    mount.watch(() => stopRunning?.(MOUNT_REMOVED));
  });
  process.exit(exitCode);
}

function logRotation(flags: MountFlags): LogRotation {
  return resolveLogRotation({ maxSize: flags.logMaxSize, keep: flags.logKeep, every: flags.logRotate });
}

/** Starts the mount as a detached child and returns only once it is usable (or failed). */
async function startDaemon(url: string, mountpoint: string, flags: MountFlags): Promise<void> {
  // Usage errors fail here, in the foreground, with the child's message and exit code.
  parseServerUrl(url);
  checkLogLevel(flags.logLevel);
  const user = requireUser(flags.user);
  logRotation(flags); // a bad value fails here, in the foreground
  const mnt = await checkMountpoint(mountpoint, { allowOther: flags.allowOther === true });
  await readCa(flags.ca); // a bad --ca fails here, in the foreground; the daemon reads it again
  warnIfCleartext(url);
  const password = await obtainPassword(user, { passwordFile: flags.passwordFile });
  const args = [process.argv[1]!, 'mount', url, mnt, '--user', user, '--daemon-child',
    '--attr-timeout', flags.attrTimeout, '--timeout', flags.timeout, '--log-level', flags.logLevel, '--log-file', resolve(flags.logFile ?? defaultClientLogFile()),
    ...(flags.readOnly === true ? ['--read-only'] : []), ...(flags.sync === true ? ['--sync'] : []), ...(flags.allowOther === true ? ['--allow-other'] : []),
    ...(flags.pidFile === undefined ? [] : ['--pid-file', resolve(flags.pidFile)]),
    ...(flags.logMaxSize === undefined ? [] : ['--log-max-size', flags.logMaxSize]),
    ...(flags.logKeep === undefined ? [] : ['--log-keep', flags.logKeep]),
    ...(flags.logRotate === undefined ? [] : ['--log-rotate', flags.logRotate]),
    ...(flags.ca === undefined || flags.ca === '' ? [] : ['--ca', resolve(flags.ca)])];
  // The environment of a process is readable only by its owner (/proc/PID/environ is 0400).
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RDRIVE_PASSWORD: password },
  });
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { errors += d; });
  const lines = createInterface({ input: child.stdout });
  // 'close' comes after the child's stdio is drained, so its error message is complete.
  const exited = once(child, 'close');
  // Ctrl-C (or a SIGTERM, SIGHUP) while waiting stops the start, not only this process: the
  // child, in a session of its own, would otherwise mount with nobody left to say so. It is
  // asked to stop (it undoes whatever it did) and waited for.
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    stoppedBy ??= signal;
    child.kill('SIGTERM');
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  const ready = await Promise.race([
    once(lines, 'line').then(([line]) => String(line).startsWith(READY_PREFIX)),
    exited.then(() => false),
  ]);
  for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  if (stoppedBy !== undefined) {
    // Ready meanwhile: the SIGTERM stops it as "rdrive unmount" would.
    await exited;
    process.stderr.write(stoppedMessage(stoppedBy));
    process.exit(signalExitCode(stoppedBy));
  }
  if (!ready) {
    const [code] = (await exited) as [number | null];
    const message = errors.replace(/^rdrive: /, '').trim() || 'the mount process exited';
    // Its exit code passes on (a full server is 7 here too), through the code that stands for it.
    throw new RdriveError(codeForExit(code) ?? 'EIO', message);
  }
  lines.close();
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  process.stdout.write(`${READY_PREFIX}${url} at ${mnt} (daemon pid ${child.pid ?? '?'})\n`);
}

/** The path `path` names with links followed, the mount point itself never stat-ed. */
async function mountPathOf(path: string): Promise<string> {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    const target = await readlink(p).catch(() => undefined);
    if (target === undefined) break;
    p = resolve(dirname(p), target);
  }
  return join(await realpath(dirname(p)).catch(() => dirname(p)), basename(p));
}
