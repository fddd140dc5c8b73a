import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
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

/** One request as the server's log line records it. */
export interface LoggedRequest {
  method: string;
  route: string;
  /** Absent for a request cut before its answer. */
  status?: number;
  aborted: boolean;
  bytesIn: number;
  durable?: boolean;
}

/**
 * The requests of one method to `/api/v1/<route>` in the server's log (`logs`/server.log); with
 * `prefix`, to every route that starts so (`heads/walk` also counts `heads/walk/sub`).
 */
export async function loggedRequests(logs: string, method: string, route: string, { prefix = false } = {}): Promise<LoggedRequest[]> {
  const text = await readFile(join(logs, 'server.log'), 'utf8').catch(() => '');
  const wanted = `/api/v1/${route}`;
  return text.split('\n')
    .filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l) as LoggedRequest)
    .filter((r) => r.method === method && (prefix ? r.route.startsWith(wanted) : r.route === wanted));
}
