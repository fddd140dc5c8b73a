import { readFileSync } from 'node:fs';
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
  const pid = currentCallerPid();
  if (calls === undefined || pid === undefined) return false;
  try {
    return calls.includes(Number(readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ', 1)[0]));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if ((code === 'EACCES' || code === 'EPERM') && !warned) {
      warned = true;
      log.warn({ pid }, 'cannot read /proc/PID/syscall of a caller (kernel.yama.ptrace_scope, or another user\'s process): a rename over a file open here replaces it in two steps on the server');
    }
    return false;
  }
}

let warned = false;
