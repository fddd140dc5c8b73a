import { RdriveError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * "10G", "512k", "1.5T", "10MiB", "4096" (bytes) → bytes, for options that take a size (--quota,
 * --max-file-size, --log-max-size). Units are powers of 1024, as df -h prints them. Pure, with an
 * error naming the option and what it accepts.
 */
export function parseByteSize(text: string | number, option: string, zero = 'no limit'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(String(text));
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  const bytes = m === null || unit === undefined ? Number.NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) {
    throw new RdriveError('EINVAL', `--${option} must be a size such as 10M, 512K, 1G or a number of bytes (0: ${zero}), got "${text}"`);
  }
  return bytes;
}
