import { readFile } from 'node:fs/promises';
import { waitFor } from './wait.js';

/**
 * The log file's text once `pattern` (global matching is applied) occurs at least `atLeast`
 * times, or whatever is there after `timeoutMs`: pino writes asynchronously, so a line may land
 * a moment after the event. The caller asserts on the result.
 */
export async function waitForLog(file: string, pattern: RegExp, atLeast = 1, timeoutMs = 5_000): Promise<string> {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  return waitFor(() => readFile(file, 'utf8').catch(() => ''), (text) => (text.match(global)?.length ?? 0) >= atLeast, timeoutMs);
}
