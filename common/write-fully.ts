import { writeSync } from 'node:fs';

/** Writes all of `data` at `position` with synchronous calls (a short write goes on where it stopped). */
export function writeFullySync(fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
}
