import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { RdriveError } from '../../common/errors.js';

/** How long a probe may take before the server counts as silent, at most. */
const PROBE_TIMEOUT_MS = 2_000;
/** The pause between probes while the server is silent. */
const PROBE_EVERY_MS = 1_000;

/**
 * Tells a server that has stopped answering (stalled, or the network drops packets) from one
 * that is merely slow with one call. Without it, every call waited the whole --timeout in turn:
 * a `for f in *; do cat $f; done` of 100 files during a stall took 100 × 30 s, a file manager
 * froze for as long. Once a call went unanswered and nothing at all was heard from the server
 * for --timeout, a probe (GET /health, on a connection of its own so that it does not queue
 * behind the stuck ones) asks whether it is there; if the probe is not answered either, calls
 * fail at once (ETIMEDOUT) until a probe or any call is answered again.
 */
export class ServerSilence {
  private lastHeard = Date.now();
  private silentSince: number | undefined;
  private probing = false;
  private closed = false;
  /** Calls waiting for an answer, told when the server is found silent so they give up too. */
  private readonly waiting = new Set<(err: RdriveError) => void>();

  constructor(
    private readonly windowMs: number,
    /** One probe: resolves when the server answered (anything), rejects otherwise. */
    private readonly probe: (timeoutMs: number) => Promise<void>,
    private readonly log: Logger | undefined,
  ) {}

  /** Something came back from the server. */
  heard(): void {
    this.lastHeard = Date.now();
    if (this.silentSince === undefined) return;
    this.log?.info({ silentMs: Date.now() - this.silentSince }, 'the server answers again');
    this.silentSince = undefined;
  }

  /**
   * Calls `giveUp` with the error check() throws if the server is found silent before the
   * returned function is called (when the answer came). A listener set of our own, not
   * AbortSignal.any: on Node 20 each dependent signal stays referenced by a long-lived source
   * (~50 bytes a call, for ever).
   */
  whenFoundSilent(giveUp: (err: RdriveError) => void): () => void {
    this.waiting.add(giveUp);
    return () => this.waiting.delete(giveUp);
  }

  /** A call got no answer in time: after a whole window without a word, check on the server. */
  missed(): void {
    if (this.probing || this.closed || Date.now() - this.lastHeard < this.windowMs) return;
    this.probing = true;
    void this.probeUntilHeard().finally(() => { this.probing = false; });
  }

  /** Throws while the server is known to be silent, so a call fails at once. */
  check(): void {
    if (this.silentSince !== undefined) throw this.silentError();
  }

  private silentError(): RdriveError {
    const seconds = Math.round((Date.now() - this.lastHeard) / 1000);
    return new RdriveError('ETIMEDOUT', `The server has not answered for ${seconds} s: calls fail at once until it does (it is asked every second)`);
  }

  close(): void {
    this.closed = true;
  }

  private async probeUntilHeard(): Promise<void> {
    while (!this.closed) {
      const asked = Date.now();
      const answered = await this.probe(Math.min(PROBE_TIMEOUT_MS, this.windowMs)).then(() => true, () => false);
      if (answered) {
        this.heard();
        return;
      }
      // A call answered meanwhile says the server is there (the probe's own connection may be
      // what failed, refused or slow to open): not silent.
      if (this.lastHeard >= asked) return;
      if (this.silentSince === undefined) {
        this.silentSince = this.lastHeard;
        this.log?.warn({ silentMs: Date.now() - this.lastHeard }, 'the server does not answer; calls fail at once until it does');
        const err = this.silentError();
        const waiting = [...this.waiting];
        this.waiting.clear();
        for (const giveUp of waiting) giveUp(err);
      }
      await sleep(PROBE_EVERY_MS, undefined, { ref: false });
    }
  }
}
