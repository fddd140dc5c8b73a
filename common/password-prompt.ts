import { read } from 'read';

/** A masked password prompt on the terminal (stderr, so stdout stays for data). Never echoed. */
export function askPassword(prompt: string): Promise<string> {
  return read({ prompt, silent: true, replace: '*', output: process.stderr });
}
