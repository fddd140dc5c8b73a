import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { RdriveError } from './errors.js';

/**
 * mkdir -p that cannot hang. Node's recursive mkdir loops forever where a filesystem answers
 * ENOENT for a directory whose parent exists (/proc, /sys: "--storage /proc/x" hung the
 * server). Used once at start by both processes for their folders (storage, logs); the one
 * piece of filesystem code in common/, kept here so both sides share the same guard.
 */
export function ensureDirSync(path: string, mode = 0o755): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EEXIST') {
      if (!statSync(path).isDirectory()) throw new RdriveError('ENOTDIR', `${path} exists and is not a folder`);
      return;
    }
    if (code !== 'ENOENT' || dirname(path) === path) throw cannotCreate(path, code);
  }
  ensureDirSync(dirname(path), 0o755);
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'EEXIST') throw cannotCreate(path, code);
  }
}

function cannotCreate(path: string, code: string | undefined): RdriveError {
  return new RdriveError(code === 'ENOSPC' ? 'ENOSPC' : 'EACCES', `Cannot create the folder ${path} (${code ?? 'error'}): pick another place or fix its permissions`);
}
