import type { Logger } from 'pino';
import type { Attr } from '../../common/api.js';
import type { AttrCache } from '../cache/attr-cache.js';
import type { OpenFile, UploadPlan } from '../cache/open-file.js';
import type { ApiClient } from '../remote/api-client.js';
import { RdriveError } from '../../common/errors.js';

/**
 * Getting an open file's local changes to the server: finishing a streamed upload, or sending the
 * whole file or its changed extents, then applying late times and mode; one upload per file at a
 * time (OpenFile.locked), in the durability mode of the mount (`--sync`: fsynced before the answer).
 * The file records the outcome itself (uploaded / markUploadFailed); this module only decides
 * what to send and sends it.
 */
export class Uploads {
  constructor(
    private readonly client: ApiClient,
    private readonly cache: AttrCache,
    private readonly options: { sync: boolean },
    private readonly log: Logger,
  ) {}

  /**
   * Sends a dirty file to the server; the error reaches the caller (flush/fsync → close()).
   * `durable` (fsync(), or every upload with --sync) asks the server to put it on stable storage
   * before answering; true when the content the server now holds was sent that way.
   */
  async upload(file: OpenFile, durable = this.options.sync): Promise<boolean> {
    return file.locked(async () => {
      if (file.unlinked) return false;
      // A streamed upload's request went out before anyone asked for durability.
      if (await this.finishStreamed(file)) return this.options.sync;
      const plan = await file.plan();
      if (plan.kind === 'none') return false;
      const started = Date.now();
      const sent = await this.sendOrWhole(file, plan, durable).catch((err: unknown) => {
        file.markUploadFailed();
        throw err;
      });
      this.log.debug({ path: file.path, kind: sent.kind, size: sent.size, ms: Date.now() - started }, 'uploaded');
      return durable;
    });
  }

  /**
   * Sends the plan. Another client replaced the file since this copy's base when a patch meets
   * CHANGED: patching that version would mix the two. A copy held whole then goes whole (the
   * last close wins, whole); else the error stands and close() fails. Returns the plan sent.
   */
  private async sendOrWhole(file: OpenFile, plan: Exclude<UploadPlan, { kind: 'none' }>, durable: boolean): Promise<Exclude<UploadPlan, { kind: 'none' }>> {
    try {
      await this.send(file, plan, durable);
      return plan;
    } catch (err) {
      if (!(err instanceof RdriveError && err.code === 'CHANGED' && plan.kind === 'patch')) throw err;
      // The version the server holds may be our own patch whose answer was lost (a timeout):
      // then this one still applies to it. Anyone else's change goes the way below.
      if (file.adoptOwnVersion(await this.client.stat(file.path))) {
        this.log.info({ path: file.path }, 'an earlier patch whose answer was lost had landed; patching on from it');
        // Planned again against that version (its size decides which truncated bytes go as zeros).
        const again = await file.plan();
        if (again.kind === 'none') return plan;
        await this.send(file, again, durable);
        return again;
      }
      const whole = await file.plan({ whole: true });
      if (whole.kind !== 'whole') throw err;
      this.log.warn({ path: file.path }, 'changed on the server since it was opened; storing this copy whole over it');
      await this.send(file, whole, durable);
      return whole;
    }
  }

  /** True when a streamed upload already stored everything (pending times/mode applied after). */
  private async finishStreamed(file: OpenFile): Promise<boolean> {
    let attr = await file.finishStream().catch((err: unknown) => {
      file.markUploadFailed();
      throw err;
    });
    if (attr === undefined) return false;
    // Times and a mode changed while the bytes were streaming are applied afterwards; so is
    // the mount's mtime, which the server must keep (see toStat).
    const mtime = file.mtimeToSend;
    const late = {
      ...(mtime === attr.mtime ? {} : { mtime }),
      ...(file.pendingMode === undefined || file.pendingMode === attr.mode ? {} : { mode: file.pendingMode }),
    };
    if (Object.keys(late).length > 0) {
      attr = await this.client.setAttr(file.path, late);
      if (this.options.sync) await this.client.sync();
    }
    this.stored(file, attr, true);
    return true;
  }

  private async send(file: OpenFile, plan: Exclude<UploadPlan, { kind: 'none' }>, durable: boolean): Promise<void> {
    let attr: Attr;
    if (plan.kind === 'whole' || plan.kind === 'sparse') {
      attr = await this.client.upload(file.path, plan.body, {
        ...(plan.kind === 'whole' ? { length: plan.size } : { sparseSize: plan.size }),
        ...(file.pendingMode === undefined && !file.created ? {} : { mode: file.modeToSend }),
        // The mtime this mount has been reporting becomes the server's (see toStat).
        mtime: file.mtimeToSend,
        sync: durable,
      });
    } else {
      file.notePatchSent(plan.size, file.mtimeToSend);
      attr = await this.client.patch(file.path, plan.body, { size: plan.size, mtime: file.mtimeToSend, sync: durable, version: file.baseVersion }).catch((err: unknown) => {
        // Refused before any change: had it stayed noted, another client's version of the
        // same size and an mtime in the same millisecond passed for this patch's, landed, and
        // the next patch mixed this copy's change into it.
        if (err instanceof RdriveError && err.code === 'CHANGED') file.patchRefused();
        throw err;
      });
      if (file.pendingMode !== undefined) {
        attr = await this.client.setAttr(file.path, { mode: file.pendingMode });
        if (durable) await this.client.sync();
      }
    }
    this.stored(file, attr, plan.kind !== 'patch');
  }

  /**
   * The server holds the file now. A chmod or utimens deferred to this upload was answered with
   * a local ctime, which the kernel keeps: this mount goes on showing that one for as long as
   * the server's is the one this upload set (see AttrCache.showCtime).
   */
  private stored(file: OpenFile, attr: Attr, whole: boolean): void {
    const answered = file.takeAnsweredCtime();
    file.uploaded(attr, whole);
    this.cache.added(file.path, attr);
    if (answered !== undefined) this.cache.showCtime(file.path, attr.ctime, answered);
  }
}
