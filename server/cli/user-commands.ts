import { askPassword } from '../../common/password-prompt.js';
import { RdriveError } from '../../common/errors.js';
import { hashPassword } from '../auth/password-hash.js';
import { loadUsers, saveUsers, validateUserName } from '../auth/users-file.js';

/** The new password: a masked prompt (twice) on a TTY, else RDRIVE_PASSWORD, else stdin. */
export async function readNewPassword(name: string): Promise<string> {
  const fromEnv = process.env.RDRIVE_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY === true) {
    const first = await askPassword(`New password for ${name}: `);
    const second = await askPassword('Repeat it: ');
    if (first !== second) throw new RdriveError('EINVAL', 'The passwords differ; nothing changed');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

export async function userAdd(file: string, name: string, password: string, replace: boolean): Promise<void> {
  validateUserName(name);
  if (password.length < 4) throw new RdriveError('EINVAL', 'Password too short (at least 4 characters); nothing changed');
  const users = await loadUsers(file);
  if (!replace && users.has(name)) throw new RdriveError('EEXIST', `User ${name} exists; use "user passwd ${name}" to change the password`);
  if (replace && !users.has(name)) throw new RdriveError('ENOENT', `No user ${name}; use "user add ${name}"`);
  users.set(name, { name, secret: await hashPassword(password), legacy: false });
  await saveUsers(file, users.values());
}

export async function userDel(file: string, name: string): Promise<void> {
  const users = await loadUsers(file);
  if (!users.delete(name)) throw new RdriveError('ENOENT', `No user ${name}`);
  await saveUsers(file, users.values());
}

export async function userList(file: string): Promise<string[]> {
  return [...(await loadUsers(file)).values()].map((u) => (u.legacy ? `${u.name} (plaintext password: rehash with "user passwd")` : u.name));
}
