import { spawn } from 'node:child_process';

export interface TerminalAnswer {
  /** Sent once the output so far matches. */
  after: RegExp;
  /** What to type; a function runs first (e.g. checks while a mount is up) and returns it. */
  send: string | (() => Promise<string>);
}

export interface TerminalResult {
  code: number | null;
  /** Everything the terminal showed, escape sequences included. */
  output: string;
}

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * Runs a command on a pseudo-terminal (util-linux `script`, part of every Debian), typing each
 * answer only after its prompt appeared, as a person would. Killed after `timeoutMs`.
 */
export function inTerminal(argv: string[], options: { env?: NodeJS.ProcessEnv; answers?: TerminalAnswer[]; timeoutMs?: number } = {}): Promise<TerminalResult> {
  const pending = [...(options.answers ?? [])];
  // `exec`: script runs the command through $SHELL, or /bin/sh (dash) when SHELL is unset as in
  // CI; dash stays as the parent, and Ctrl-C would kill it (exit 130) instead of the command.
  const child = spawn('script', ['-qec', `exec ${argv.map(quote).join(' ')}`, '/dev/null'], {
    env: { ...process.env, TERM: 'xterm', COLUMNS: '120', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let answered = 0;
  let failure: unknown;
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    const next = pending[0];
    if (next !== undefined && next.after.test(output.slice(answered))) {
      pending.shift();
      answered = output.length;
      const typed = typeof next.send === 'string' ? Promise.resolve(next.send) : next.send();
      typed.then((text) => child.stdin.write(text), (err: unknown) => {
        failure = err;
        child.kill('SIGINT');
      });
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure !== undefined) reject(failure as Error);
      else resolve({ code, output });
    });
  });
}
