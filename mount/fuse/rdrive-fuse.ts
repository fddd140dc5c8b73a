import Fuse, { type FuseOptions, type Operations } from 'fuse-native';

/**
 * fuse-native has no flag for libfuse 2's `big_writes` (without it every write is 4 KiB): it is
 * appended to the option string fuse-native builds. `hard_remove` is deliberately absent: with
 * it libfuse passes a NULL path for ops on an unlinked open file, which fuse-native turns into
 * garbage arguments and a crash. libfuse then renames such a file to .fuse_hidden* until its
 * last close; readdir hides those names.
 */
export class RdriveFuse extends Fuse {
  private readonly extraOptions: string[];

  constructor(mnt: string, ops: Operations, opts: FuseOptions, extra: { readOnly: boolean; attrTimeout: number; fsname?: string }) {
    super(mnt, ops, opts);
    this.extraOptions = [
      'big_writes',
      // O_TRUNC reaches open() instead of a separate truncate: the server keeps the old content
      // until the new one is uploaded at close (a failed upload loses nothing).
      'atomic_o_trunc',
      'max_write=131072',
      'max_read=131072',
      'max_readahead=1048576',
      // The kernel keeps a file's cached pages across opens while its size and mtime, fetched
      // fresh by every open (close-to-open), are unchanged. ac_attr_timeout=0: libfuse compares
      // at every open, never on the strength of a recent lookup.
      'auto_cache',
      'ac_attr_timeout=0',
      // The source column of mount, df and /proc/mounts (user@host:port), so two mounts can be
      // told apart; libfuse splits options on commas, so they are escaped.
      `fsname=${(extra.fsname ?? 'rdrive').replace(/[\\,]/g, (c) => `\\${c}`)}`,
      'subtype=rdrive',
      `entry_timeout=${extra.attrTimeout}`,
      `attr_timeout=${extra.attrTimeout}`,
      'negative_timeout=0',
      // st_ino is the mount's own, stable while it runs (mount/fuse/inode-numbers.ts): libfuse
      // 2's numbers change when the kernel forgets an entry, and its remember option, which
      // kept them, aborts the daemon on a rename onto a name removed behind its back.
      'use_ino',
      // Always, whoever mounts: a device node on the mount must never reach a real device, and
      // a setuid file must never run with its (virtual, server-stored) owner's rights.
      'nodev',
      'nosuid',
      ...(extra.readOnly ? ['ro'] : []),
    ];
  }

  /**
   * Request records the addon holds for libfuse's threads. libfuse 2 starts a thread whenever
   * all are busy and ends it when more than ten are idle; a record is made for each new thread
   * and kept for good, so this is the most threads at once, unless records leak (see
   * scripts/patch-fuse-native.py, step 6).
   */
  get threadRecords(): number {
    return this._threads.size;
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const extra = this.extraOptions.join(',');
    return base === '' ? `-o${extra}` : `${base},${extra}`;
  }
}
