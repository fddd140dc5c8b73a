import { readFile } from 'node:fs/promises';
import { askPassword } from '../common/password-prompt.js';
import { RdriveError } from '../common/errors.js';

export interface PasswordSource {
  passwordFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Whether a masked prompt may be shown (stdin is a TTY). */
  interactive?: boolean;
}

/**
 * The password, from --password-file, else RDRIVE_PASSWORD, else a masked prompt on a TTY.
 * Never logged, never echoed.
 */
export async function obtainPassword(user: string, source: PasswordSource = {}): Promise<string> {
  const env = source.env ?? process.env;
  if (source.passwordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(source.passwordFile, 'utf8');
    } catch {
      throw new RdriveError('EINVAL', `Cannot read password file ${source.passwordFile}: check the path and its permissions`);
    }
    const password = text.replace(/\r?\n$/, '');
    // Sent, an empty password would only be a failed login (counted against this address).
    if (password === '') throw new RdriveError('EINVAL', `The password file ${source.passwordFile} is empty: put the password on its first line`);
    return password;
  }
  const fromEnv = env.RDRIVE_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (source.interactive ?? process.stdin.isTTY === true) {
    return askPassword(`Password for ${user}: `);
  }
  throw new RdriveError(
    'UNAUTHORIZED',
    'No password: set RDRIVE_PASSWORD, pass --password-file FILE, or run in a terminal to be prompted',
  );
}
