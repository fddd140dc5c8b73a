import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The log file's text once `pattern` (global matching is applied) occurs at least `atLeast`
 * times, or whatever is there after `timeoutMs`: pino writes asynchronously, so a line may land
 * a moment after the event. The caller asserts on the result.
 */
export async function waitForLog(file: string, pattern: RegExp, atLeast = 1, timeoutMs = 5_000): Promise<string> {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if ((text.match(global)?.length ?? 0) >= atLeast || Date.now() >= deadline) return text;
    await sleep(100);
  }
}
