import { readFile } from 'node:fs/promises';
import { RdriveError } from '../common/errors.js';

/**
 * Extra trusted certificates for an https:// server: --ca FILE (or RDRIVE_CA, see caOption),
 * else none (the system's authorities only); an empty RDRIVE_CA means none.
 */
export async function readCa(file: string | undefined): Promise<string | undefined> {
  if (file === undefined || file === '') return undefined;
  const pem = await readFile(file, 'utf8').catch(() => {
    throw new RdriveError('EINVAL', `Cannot read the CA file ${file}: check the path and its permissions`);
  });
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new RdriveError('EINVAL', `${file} holds no PEM certificate`);
  return pem;
}

/** One line on stderr when a password is about to cross a network in clear. */
export function warnIfCleartext(server: string): void {
  const url = new URL(server);
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || url.hostname.startsWith('127.');
  if (url.protocol === 'http:' && !loopback) {
    process.stderr.write(`rdrive: warning: ${url.host} is reached over plain http, so your password and files cross the network unencrypted; serve https (rdrive-server --tls-cert/--tls-key)\n`);
  }
}
