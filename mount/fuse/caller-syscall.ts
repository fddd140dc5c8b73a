import { constants, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { currentCallerPid } from './ownership.js';

/** rename(2), renameat(2), renameat2(2) by architecture (arm64 has only the last two). */
const RENAME_CALLS: Partial<Record<string, readonly number[]>> = { x64: [82, 264, 316], arm64: [38, 276] };

/**
 * Whether the process behind the current FUSE request is in a rename system call. libfuse hides
 * a file still open (renames it to .fuse_hidden…) both for an unlink and before a rename onto
 * its name, and tells the filesystem neither; the caller, blocked in its call meanwhile, does.
 * Read synchronously at the start of an op (see currentCaller). False when unknown: no pid (an
 * addon without the patch), another user's process the daemon may not inspect, another arch.
 */
export function callerIsRenaming(log: Logger): boolean {
  const calls = RENAME_CALLS[process.arch];
  const call = calls === undefined ? undefined : callerSyscall(log, 'a rename over a file open here replaces it in two steps on the server');
  return call !== undefined && calls!.includes(call[0] ?? -1);
}

/**
 * open(2) and openat(2) by architecture, with the index of their flags argument (creat(2) and
 * openat2(2) never pass O_EXCL in a register: creat has none, openat2 in a struct).
 */
const OPEN_CALLS: Partial<Record<string, ReadonlyMap<number, number>>> = { x64: new Map([[2, 1], [257, 2]]), arm64: new Map([[56, 2]]) };

/**
 * Whether the process behind the current create() asked for O_EXCL: fuse-native passes create
 * no flags. As callerIsRenaming; false when unknown.
 */
export function callerWantsExclusive(log: Logger): boolean {
  const calls = OPEN_CALLS[process.arch];
  const call = calls === undefined ? undefined : callerSyscall(log, 'a lock file created with O_EXCL is exclusive within this mount only');
  const index = call === undefined ? undefined : calls!.get(call[0] ?? -1);
  return index !== undefined && (Number(call![1 + index]) & constants.O_EXCL) !== 0;
}

/** The caller's system call: its number and arguments (numbers), or undefined when unreadable. */
function callerSyscall(log: Logger, without: string): number[] | undefined {
  const pid = currentCallerPid();
  if (pid === undefined) return undefined;
  try {
    return readFileSync(`/proc/${pid}/syscall`, 'utf8').trim().split(' ').map(Number);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if ((code === 'EACCES' || code === 'EPERM') && !warned) {
      warned = true;
      log.warn({ pid }, `cannot read /proc/PID/syscall of a caller (kernel.yama.ptrace_scope, or another user's process): ${without}`);
    }
    return undefined;
  }
}

let warned = false;
