import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher, Pool } from 'undici';
import type { Logger } from 'pino';
import { mountStats } from '../daemon/mount-stats.js';
import {
  API_PREFIX,
  CLIENT_DEFAULTS,
  PREVIEW_BYTES,
} from '../../common/config.js';
import {
  EXTENTS_CONTENT_TYPE,
  HEADS_BYTES_MAX,
  HEADER_ATIME,
  HEADER_FOLDER_TIMES,
  HEADER_FROM_FOLDER_TIMES,
  HEADER_CTIME,
  HEADER_ID,
  HEADER_LEASE_MS,
  HEADER_LEASE_REQUEST,
  HEADER_MODE,
  HEADER_OWNER,
  HEADER_SIZE,
  HEADER_SYNC,
  HEADER_MTIME,
  type Attr,
  type FolderTimes,
  type Health,
  type Listing,
  type LoginResponse,
  type SetAttrRequest,
  type StatFs,
  type MkdirRequest,
  type NodeRequest,
  type OwnerFields,
  type SymlinkRequest,
  parseFolderTimes,
} from '../../common/api.js';
import {
  ERROR_BODY_MAX,
  LISTING_MAX,
  SMALL_JSON_MAX,
  checkAttr,
  checkHeads,
  checkHealth,
  checkIdentity,
  checkListing,
  checkLogin,
  checkRange,
  checkStatFs,
  isVersion,
  leaseMs as checkedLeaseMs,
  malformed,
  parseJson,
  readBody,
} from './answers.js';
import { RdriveError, codeForStatus, foreignCode, fromForeign, isErrorCode, type ErrorCode } from '../../common/errors.js';
import { parseOwner } from '../../common/ownership.js';
import { encodeRemotePath, toSegments } from '../../common/paths.js';
import { ServerSilence } from './server-silence.js';
import { createPool, type PoolConfig } from './pool.js';
import { RangeFetcher } from './range-fetcher.js';
import { unavailableRetryDelayMs } from './retry-policy.js';

export interface ApiClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8888 */
  server: string;
  connections?: number;
  connectTimeoutMs?: number;
  /** Longest wait for response headers (and between body chunks), ms. */
  requestTimeoutMs?: number;
  /** How long to keep retrying an idempotent request while the server is unreachable, ms. */
  reconnectWindowMs?: number;
  /** Honour one Retry-After of at most this many seconds before reporting the limit. */
  maxRetryAfterSeconds?: number;
  /** How long to keep retrying an idempotent request the server answers 503 UNAVAILABLE, ms. */
  unavailableWindowMs?: number;
  /** Extra trusted certificate(s), PEM, for an https:// server with its own CA or a self-signed one. */
  ca?: string;
  /** Receive large ranges in a worker thread (the mount: the main thread answers the kernel). */
  rangeWorker?: boolean;
  logger?: Logger;
}

/** Bounds of the pause between logins when the server refuses fresh sessions (see refusedTooSoon). */
const LOGIN_PAUSE_MIN_MS = 2_000;
const LOGIN_PAUSE_MAX_MS = 60_000;

/** Ranges at least this long go through the worker when there is one. */
const WORKER_MIN_RANGE = 1024 * 1024;

/** A request body that can be produced again, so a request can be replayed after re-login. */
export type BodySource = () => Readable | Buffer | string;

/** The headers and body of a call that sends `payload` as JSON. */
function jsonBody(payload: unknown): Pick<Call, 'headers' | 'body'> {
  return { headers: { 'content-type': 'application/json' }, body: () => JSON.stringify(payload) };
}

interface Call {
  method: Dispatcher.HttpMethod;
  path: string;
  headers?: Record<string, string>;
  body?: BodySource;
  /** Safe to send again after a connection failure (no side effect happened twice). */
  idempotent: boolean;
  /** Maximum time for the whole body to stream (uploads/downloads can be long). */
  bodyTimeoutMs?: number;
  auth?: boolean;
  /** false: a 401 is the answer, not a reason to log in again (logout of an expired session). */
  renew?: boolean;
  /** false: an unreachable server is the answer at once, not ridden out (logout at unmount). */
  reconnect?: boolean;
  /** The path whose name the call adds, replaces or removes: its folder's times come back. */
  changes?: string;
  /** A rename's source path, likewise. */
  changesFrom?: string;
}

/**
 * The HTTP client for the rdrive API, shared by the mount daemon and the CLI. One keep-alive
 * undici Pool; errors arrive as RdriveError with a code from the shared table; an expired
 * session is renewed with the credentials held in memory; a short server outage is ridden out
 * for idempotent calls; one Retry-After is honoured.
 */
export class ApiClient {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly poolConfig: PoolConfig;
  /** A connection of its own for probing a silent server (see ServerSilence). */
  private probePool: Pool | undefined;
  private readonly silence: ServerSilence;
  private readonly opts: Required<Omit<ApiClientOptions, 'logger' | 'server' | 'ca' | 'rangeWorker'>>;
  private readonly ranges: RangeFetcher | undefined;
  private readonly log: Logger | undefined;
  private credentials: { user: string; password: string } | undefined;
  private token: string | undefined;
  private relogin: Promise<void> | undefined;
  /** When the current token was granted (Date.now()). */
  private tokenSince = 0;
  /** A token refused within this long of its login is not renewed at once (see refusedTooSoon). */
  private loginPauseMs = LOGIN_PAUSE_MIN_MS;
  private pausedToken: string | undefined;
  /** Some call was answered with the current token. */
  private tokenAccepted = false;
  /** The session's idle timeout as the login said: a token older than this may have expired. */
  private idleTimeoutMs = Number.POSITIVE_INFINITY;
  /**
   * Told the server's times of a folder after each change made in it through this client
   * (undefined: the answer did not say, so what is cached of the folder is unknown).
   */
  onFolderTimes: ((folder: string, times: FolderTimes | undefined) => void) | undefined;

  constructor(options: ApiClientOptions) {
    const url = parseServerUrl(options.server);
    this.origin = url.origin;
    const requestTimeoutMs = options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs;
    this.opts = {
      connections: options.connections ?? 8,
      connectTimeoutMs: options.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
      requestTimeoutMs,
      reconnectWindowMs: options.reconnectWindowMs ?? 0,
      maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? 5,
      // One bound per user-visible call: never longer than a single request may take.
      unavailableWindowMs: options.unavailableWindowMs ?? Math.min(15_000, requestTimeoutMs),
    };
    this.log = options.logger;
    const poolConfig: PoolConfig = {
      origin: this.origin,
      connections: this.opts.connections,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    };
    this.pool = createPool(poolConfig);
    this.poolConfig = poolConfig;
    this.silence = new ServerSilence(requestTimeoutMs, (ms) => this.probe(ms), this.log);
    this.ranges = options.rangeWorker === true ? new RangeFetcher({ ...poolConfig, connections: 4 }) : undefined;
  }

  get user(): string | undefined {
    return this.credentials?.user;
  }

  /** Uses an existing token (e.g. cached by `rdrive login`) instead of logging in. */
  useToken(user: string, token: string): void {
    this.token = token;
    this.credentials ??= { user, password: '' };
  }

  getToken(): string | undefined {
    return this.token;
  }

  async close(): Promise<void> {
    this.silence.close();
    await this.probePool?.close().catch(() => undefined);
    await this.pool.close().catch(() => undefined);
    await this.ranges?.close();
  }

  /** Like close, but requests in flight fail at once instead of being waited for (a start stopped midway). */
  async destroy(): Promise<void> {
    this.silence.close();
    await this.probePool?.destroy().catch(() => undefined);
    await this.pool.destroy().catch(() => undefined);
    await this.ranges?.close();
  }

  async health(): Promise<Health> {
    return this.json({ method: 'GET', path: '/health', idempotent: true, auth: false }, checkHealth);
  }

  /** Logs in and keeps the credentials in memory for transparent re-login. */
  async login(user: string, password: string): Promise<LoginResponse> {
    // The session's age is counted from the asking: the server made it later, so a session that
    // idled out there is never younger here than its idle timeout (see refusedTooSoon).
    const asked = Date.now();
    const res: LoginResponse = await this.json({
      method: 'POST',
      path: '/session',
      ...jsonBody({ user, password }),
      // Not idempotent: a login the server took but whose answer was lost holds a client
      // slot; sending it again would take a second one. Retried only when it never left.
      idempotent: false,
      auth: false,
    }, checkLogin).catch((err: unknown) => {
      throw notRdrive(err, this.origin) ?? err;
    });
    this.credentials = { user, password };
    this.token = res.token;
    this.tokenSince = asked;
    this.tokenAccepted = false;
    this.idleTimeoutMs = res.idleTimeout > 0 ? res.idleTimeout * 1000 : Number.POSITIVE_INFINITY;
    return res;
  }

  async logout(): Promise<void> {
    if (this.token === undefined) return;
    // An expired session (401) is already gone: logging in again (a full scrypt on the server)
    // only to log out would be waste.
    // A session the server cannot be told about expires there by itself: not worth a wait.
    await this.empty({ method: 'DELETE', path: '/session', idempotent: true, renew: false, reconnect: false }).catch(() => undefined);
    this.token = undefined;
  }

  /** Entries that no filesystem can show (a '/' in a name, bad attributes) are left out, and logged. */
  async list(path: string): Promise<Listing> {
    const { entries, dropped } = await this.json({ method: 'GET', path: `/list/${enc(path)}`, idempotent: true }, checkListing, LISTING_MAX);
    if (dropped.size > 0) {
      this.log?.warn({ path, left_out: Object.fromEntries(dropped) }, 'the server listed names the mount cannot show (a "/" or NUL, "." or "..", too long, twice) or entries with impossible attributes; they are left out');
    }
    return { entries };
  }

  stat(path: string): Promise<Attr> {
    return this.json({ method: 'GET', path: `/stat/${enc(path)}`, idempotent: true }, checkAttr);
  }

  statfs(): Promise<StatFs> {
    return this.json({ method: 'GET', path: '/statfs', idempotent: true }, checkStatFs);
  }

  /** Reads up to `length` bytes at `offset`; fewer at end of file, none past it. */
  /** `version` (an etag): the server answers CHANGED rather than bytes of another version. */
  async read(path: string, offset: number, length: number, version?: string): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    const call: Call = {
      method: 'GET',
      path: `/files/${enc(path)}`,
      headers: { range: `bytes=${offset}-${offset + length - 1}`, ...(version === undefined ? {} : { 'if-match': version }) },
      idempotent: true,
    };
    const what = describe(call);
    try {
      const ranges = this.ranges;
      if (ranges !== undefined && length >= WORKER_MIN_RANGE) return await this.withRetries(call, () => this.viaWorker(ranges, call, offset, length));
      const res = await this.send(call);
      const body = await readBody(res.body, length, this.opts.requestTimeoutMs, what);
      checkIdentity(res.headers['content-encoding'], what);
      return checkRange(res.statusCode, res.headers['content-range'], offset, length, body, what);
    } catch (err) {
      if (err instanceof RdriveError && err.code === 'RANGE_NOT_SATISFIABLE') return Buffer.alloc(0);
      throw err;
    }
  }

  /** One GET through the worker; an error answer becomes the same RdriveError as on this thread. */
  private async viaWorker(ranges: RangeFetcher, call: Call, offset: number, length: number): Promise<Buffer> {
    const what = describe(call);
    const res = await ranges.get(`${API_PREFIX}${call.path}`, this.headersFor(call), { limit: Math.max(length, ERROR_BODY_MAX), timeoutMs: this.opts.requestTimeoutMs, what });
    this.silence.heard();
    if (res.status >= 400) throw errorFromParts(res.status, res.retryAfter, res.body.toString('utf8'));
    checkIdentity(res.contentEncoding, what);
    return checkRange(res.status, res.contentRange, offset, length, res.body, what);
  }

  /**
   * The first `length` bytes of a file together with its attributes, in one request: what an
   * open() for reading needs (fresh attributes, close-to-open) plus the first read-ahead window.
   * With `etag` (a version the caller holds), an unchanged file answers with attributes only
   * (`data` undefined): the caller uses its own copy.
   */
  /** `leaseMs`: how long the answer may be reused without asking again (see HEADER_LEASE_MS). */
  async readFirst(path: string, length: number, etag?: string): Promise<{ data: Buffer | undefined; attr: Attr; etag: string | undefined; leaseMs: number }> {
    const headers: Record<string, string> = { range: `bytes=0-${length - 1}`, [HEADER_LEASE_REQUEST]: '1' };
    if (etag !== undefined) headers['if-none-match'] = etag;
    const call: Call = { method: 'GET', path: `/files/${enc(path)}`, headers, idempotent: true };
    const what = describe(call);
    const res = await this.send(call);
    if (res.statusCode === 304 && etag === undefined) {
      await res.body.dump().catch(() => undefined);
      throw malformed(what, 'Not Modified to a request that named no version');
    }
    const body = res.statusCode === 304 ? undefined : await readBody(res.body, length, this.opts.requestTimeoutMs, what);
    if (body === undefined) await res.body.dump();
    checkIdentity(res.headers['content-encoding'], what);
    const data = body === undefined ? undefined : checkRange(res.statusCode, res.headers['content-range'], 0, length, body, what);
    const range = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    const sizeHeader = res.headers[HEADER_SIZE];
    const size = typeof sizeHeader === 'string' ? decimal(sizeHeader) : range !== null ? Number(range[1]) : (data?.length ?? 0);
    // The bytes are the file's first ones: all of it, or as many as asked.
    if (data !== undefined && data.length !== Math.min(size, length)) throw malformed(what, `${data.length} bytes of a file of ${size}`);
    const mtime = decimal(res.headers[HEADER_MTIME] ?? String(Date.now()));
    const atime = decimal(res.headers[HEADER_ATIME] ?? String(mtime));
    const ctime = decimal(res.headers[HEADER_CTIME] ?? String(mtime));
    const modeHeader = String(res.headers[HEADER_MODE] ?? '644');
    const mode = /^[0-7]{1,6}$/.test(modeHeader) ? Number.parseInt(modeHeader, 8) : Number.NaN;
    const tag = res.headers.etag;
    if (tag !== undefined && !isVersion(tag)) throw malformed(what, 'version (ETag)');
    const owner = parseOwner(String(res.headers[HEADER_OWNER] ?? ''));
    const id = res.headers[HEADER_ID];
    const attr = checkAttr({ type: 'file', size, mtime, atime, ctime, mode, ...owner, ...(id === undefined ? {} : { id }) }, what);
    return { data, attr, etag: tag, leaseMs: checkedLeaseMs(res.headers[HEADER_LEASE_MS]) };
  }

  /**
   * Up to `count` small files of the folder `dir`, whole, from the name `from` on, with their
   * attributes, versions and read lease (GET /heads; see common/api.ts).
   */
  async readHeads(dir: string, from: string, count: number): Promise<{ leaseMs: number; more: boolean; files: Array<{ name: string; attr: Attr; etag: string; data: Buffer }> }> {
    const query = `?from=${encodeURIComponent(from)}&count=${count}`;
    const call: Call = { method: 'GET', path: `/heads/${enc(dir)}${query}`, idempotent: true };
    const what = describe(call);
    const res = await this.send(call);
    expectStatus(res, [200], what);
    // The JSON line of HEADS_COUNT_MAX entries, and the contents.
    const body = await readBody(res.body, HEADS_BYTES_MAX + SMALL_JSON_MAX, this.opts.requestTimeoutMs, what);
    checkIdentity(res.headers['content-encoding'], what);
    return checkHeads(body, from, count, what);
  }

  /** The whole file as a stream (for downloads); `size` from the Content-Length. */
  async download(path: string, offset = 0): Promise<{ stream: Readable; size: number | undefined }> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.send({
      method: 'GET',
      path: `/files/${enc(path)}`,
      headers,
      idempotent: true,
      bodyTimeoutMs: this.opts.requestTimeoutMs,
    });
    const length = res.headers['content-length'];
    return { stream: res.body, size: typeof length === 'string' ? Number(length) : undefined };
  }

  async preview(path: string): Promise<Buffer> {
    const call: Call = { method: 'GET', path: `/preview/${enc(path)}`, idempotent: true };
    const res = await this.send(call);
    expectStatus(res, [200, 206], describe(call));
    return (await readBody(res.body, SMALL_JSON_MAX, this.opts.requestTimeoutMs, describe(call))).subarray(0, PREVIEW_BYTES);
  }

  /** Replaces (or creates) a whole file atomically with the streamed body. */
  upload(
    path: string,
    body: BodySource,
    options: { exclusive?: boolean; mode?: number; mtime?: number; length?: number; sync?: boolean; owner?: { uid: number; gid: number }; sparseSize?: number } = {},
  ): Promise<Attr> {
    // sparseSize: the body is extent records of a file that long; the rest is holes.
    const headers: Record<string, string> = { 'content-type': options.sparseSize === undefined ? 'application/octet-stream' : EXTENTS_CONTENT_TYPE };
    if (options.sync === true) headers[HEADER_SYNC] = '1';
    if (options.exclusive === true) headers['if-none-match'] = '*';
    if (options.mode !== undefined) headers[HEADER_MODE] = (options.mode & 0o7777).toString(8);
    if (options.mtime !== undefined) headers[HEADER_MTIME] = String(Math.round(options.mtime));
    if (options.owner !== undefined) headers[HEADER_OWNER] = `${options.owner.uid}:${options.owner.gid}`;
    if (options.length !== undefined) headers['content-length'] = String(options.length);
    return this.json({
      method: 'PUT',
      path: `/files/${enc(path)}${options.sparseSize === undefined ? '' : `?size=${options.sparseSize}`}`,
      headers,
      body,
      changes: path,
      idempotent: options.exclusive !== true,
      bodyTimeoutMs: this.opts.requestTimeoutMs,
    }, checkAttr);
  }

  /** Applies extents (see common/api.ts) atomically, then truncates to `size` when given. */
  /** `version` (an etag): the extents apply to that version only; another one is CHANGED. */
  patch(path: string, body: BodySource, options: { size?: number; mtime?: number; sync?: boolean; version?: string | undefined } = {}): Promise<Attr> {
    const { size, mtime, sync = false, version } = options;
    const query = size === undefined ? '' : `?size=${size}`;
    const headers: Record<string, string> = { 'content-type': EXTENTS_CONTENT_TYPE };
    if (version !== undefined) headers['if-match'] = version;
    if (sync) headers[HEADER_SYNC] = '1';
    if (mtime !== undefined) headers[HEADER_MTIME] = String(Math.round(mtime));
    return this.json({
      method: 'PATCH',
      path: `/files/${enc(path)}${query}`,
      headers,
      body,
      changes: path,
      idempotent: true,
      bodyTimeoutMs: this.opts.requestTimeoutMs,
    }, checkAttr);
  }

  /** Without a path: every change acknowledged so far is durable; with one: that file is. */
  sync(path?: string): Promise<void> {
    return this.empty({ method: 'POST', path: path === undefined ? '/sync' : `/sync/${enc(path)}`, idempotent: true });
  }

  unlink(path: string): Promise<void> {
    return this.empty({ method: 'DELETE', path: `/files/${enc(path)}`, idempotent: false, changes: path });
  }

  mkdir(path: string, options: MkdirRequest = {}): Promise<Attr> {
    return this.sendJson('POST', `/dirs/${enc(path)}`, options, false, { changes: path });
  }

  rmdir(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const query = options.recursive === true ? '?recursive=1' : '';
    return this.empty({ method: 'DELETE', path: `/dirs/${enc(path)}${query}`, idempotent: false, changes: path });
  }

  /** Returns the moved entry's attributes (a rename changes its ctime). */
  rename(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<Attr> {
    return this.sendJson('POST', '/rename', { from: plain(from), to: plain(to), noReplace: options.noReplace === true }, false, { changes: to, changesFrom: from });
  }

  /** A hidden second name `to` for the file at `from`, which keeps its name (see RenameRequest.keepSource). */
  linkHidden(from: string, to: string): Promise<Attr> {
    return this.sendJson('POST', '/rename', { from: plain(from), to: plain(to), keepSource: true }, false, { changes: to });
  }

  /** Creates a symlink at `path` holding `target` (data for the server; EEXIST if taken). */
  symlink(path: string, target: string, owner: OwnerFields = {}): Promise<Attr> {
    const body: SymlinkRequest = { target, ...owner };
    return this.sendJson('POST', `/symlinks/${enc(path)}`, body, false, { changes: path });
  }

  /** Creates a FIFO, socket or device node at `path` (data for the server; EEXIST if taken). */
  mknod(path: string, node: NodeRequest): Promise<Attr> {
    return this.sendJson('POST', `/nodes/${enc(path)}`, node, false, { changes: path });
  }

  setAttr(path: string, attrs: SetAttrRequest): Promise<Attr> {
    return this.sendJson('PATCH', `/attrs/${enc(path)}`, attrs, true, { changes: path });
  }

  /** A change with a JSON body whose answer is the entry's attributes. */
  private sendJson(method: 'POST' | 'PATCH', path: string, payload: unknown, idempotent: boolean, changes: Pick<Call, 'changes' | 'changesFrom'> = {}): Promise<Attr> {
    return this.json({ method, path, ...jsonBody(payload), idempotent, ...changes }, checkAttr);
  }

  /** A JSON answer, read within the limits and checked by `check` before anyone sees it. */
  private async json<T>(call: Call, check: (value: unknown, what: string) => T, limit = SMALL_JSON_MAX): Promise<T> {
    const res = await this.send(call);
    const what = describe(call);
    expectStatus(res, [200, 201], what);
    const body = await readBody(res.body, limit, this.opts.requestTimeoutMs, what);
    checkIdentity(res.headers['content-encoding'], what);
    return check(parseJson(body, what), what);
  }

  private async empty(call: Call): Promise<void> {
    const res = await this.send(call);
    expectStatus(res, [200, 204], describe(call));
    await res.body.dump();
  }

  /** Sends a call; renews the session once on 401; retries what is safe to retry. */
  private async send(call: Call): Promise<Dispatcher.ResponseData> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.withRetries(call, () => this.sendOnce(call));
    } catch (err) {
      // A failed change may still have touched the folder (a temp file made and removed, a
      // change made but its answer lost): what is cached of it is unknown.
      this.reportFolderTimes(call, undefined);
      throw err;
    }
    this.reportFolderTimes(call, res.headers);
    return res;
  }

  private reportFolderTimes(call: Call, headers: Dispatcher.ResponseData['headers'] | undefined): void {
    if (call.changes !== undefined) this.onFolderTimes?.(parentOf(call.changes), parseFolderTimes(headers?.[HEADER_FOLDER_TIMES]));
    if (call.changesFrom !== undefined) this.onFolderTimes?.(parentOf(call.changesFrom), parseFolderTimes(headers?.[HEADER_FROM_FOLDER_TIMES]));
  }

  /**
   * Our own loop, not undici's RetryAgent: the policy depends on the JSON error code (a 503 is
   * UNAVAILABLE, retried, or TOO_MANY_CLIENTS, waited once), bodies are re-created per attempt
   * (a streamed upload can be replayed), a re-login must change the headers between attempts,
   * and reads through the range worker thread take the same path.
   */
  private async withRetries<T>(call: Call, once: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let renewed = false;
    let waitedForLimit = false;
    let unavailable = 0;
    for (let attempt = 0; ; attempt++) {
      const sentWith = this.token;
      try {
        this.silence.check();
        const result = await once();
        if (call.auth !== false && sentWith === this.token && !this.tokenAccepted) {
          this.tokenAccepted = true;
          this.loginPauseMs = LOGIN_PAUSE_MIN_MS;
        }
        return result;
      } catch (err) {
        const error = fromForeign(err);
        if (error.code === 'ETIMEDOUT') this.silence.missed();
        if (error.code === 'UNAUTHORIZED' && call.auth !== false && call.renew !== false && !renewed && this.canRelogin()) {
          renewed = true;
          // Another call logged in again meanwhile: its session is the one to try.
          if (sentWith !== this.token && this.token !== undefined) continue;
          if (this.refusedTooSoon()) throw error;
          await this.renewSession();
          continue;
        }
        if ((error.code === 'RATE_LIMITED' || error.code === 'TOO_MANY_CLIENTS') && !waitedForLimit) {
          const wait = error.retryAfter ?? 1;
          if (wait <= this.opts.maxRetryAfterSeconds) {
            waitedForLimit = true;
            this.log?.warn({ code: error.code, wait }, 'server limit reached; waiting as asked');
            await sleep(wait * 1000);
            continue;
          }
        }
        // A 503 that is not rdrive's own JSON answer comes from something in front (a load
        // balancer with no server to give, a proxy): no rdrive server saw the request, so any
        // call may be sent again. The server's own 503 may come after a change was made (the
        // shared state failed on the way out), so only idempotent calls are replayed then.
        if (error.code === 'UNAVAILABLE' && (call.idempotent || answeredInFront.has(error))) {
          const wait = unavailableRetryDelayMs(unavailable, error.retryAfter, Date.now() - started, this.opts.unavailableWindowMs);
          if (wait === undefined) throw unavailableAfterRetries(error, Date.now() - started);
          unavailable++;
          this.log?.warn({ code: error.code, reason: error.message, wait }, 'server unavailable; retrying');
          await sleep(wait);
          continue;
        }
        const retryable = error.code === 'UNREACHABLE' || (error.code === 'ETIMEDOUT' && isConnectTimeout(err));
        // A refused or timed-out connect never reached the server: safe to send again whatever the call.
        const neverSent = isConnectTimeout(err) || foreignCode(err) === 'ECONNREFUSED';
        if (retryable && call.reconnect !== false && (call.idempotent || neverSent) && Date.now() - started < this.opts.reconnectWindowMs) {
          await sleep(Math.min(200 * 2 ** attempt, 2000));
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * A session refused moments after the server granted it, before any call was answered with
   * it (and before it could have expired): something at the URL answers 401 to everything (a
   * proxy, a broken server). Logging in again for every call would be a storm of logins (a full
   * scrypt each on a real server, and its failed-login limit); the calls fail with EACCES
   * instead until the pause is over, and it doubles while this goes on.
   */
  private refusedTooSoon(): boolean {
    const age = Date.now() - this.tokenSince;
    if (this.tokenAccepted || age >= this.loginPauseMs || age >= this.idleTimeoutMs) return false;
    if (this.pausedToken !== this.token) {
      this.pausedToken = this.token;
      this.log?.warn({ pause_s: this.loginPauseMs / 1000 }, 'the server refused a session it granted moments ago; not logging in again before the pause is over');
      this.loginPauseMs = Math.min(this.loginPauseMs * 2, LOGIN_PAUSE_MAX_MS);
    }
    return true;
  }

  private canRelogin(): boolean {
    return this.credentials !== undefined && this.credentials.password !== '';
  }

  /** One re-login shared by all calls that saw the same expiry. */
  private renewSession(): Promise<void> {
    this.relogin ??= (async () => {
      try {
        const creds = this.credentials;
        if (creds === undefined) throw new RdriveError('UNAUTHORIZED');
        this.log?.info({ user: creds.user }, 'session expired; logging in again');
        await this.login(creds.user, creds.password).catch((err: unknown) => {
          // The password itself was refused (changed, or the account removed): trying it at
          // every call would run into the server's failed-login limit and lock its owner out,
          // also from a new mount with the right password. Calls now fail at once.
          if (err instanceof RdriveError && err.code === 'UNAUTHORIZED') {
            this.credentials = { user: creds.user, password: '' };
            this.log?.error({ user: creds.user }, 'the server refused this mount\'s password (changed or account removed); calls fail with EACCES until it is mounted again with the current password');
          }
          throw err;
        });
      } finally {
        this.relogin = undefined;
      }
    })();
    return this.relogin;
  }

  /** The call's headers plus the current token (read at each attempt: a re-login changes it). */
  private headersFor(call: Call): Record<string, string> {
    const headers: Record<string, string> = { ...call.headers };
    if (call.auth !== false && this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  /**
   * undici's headers timeout starts when a request gets a connection: with the server stalled,
   * calls queued behind the pool's busy connections waited a multiple of --timeout (24 stats,
   * 8 connections: 10, 20 and 30 s). A call without a body gets its answer's head within
   * --timeout of being made, queue included, or fails as soon as the server is found silent
   * (ServerSilence); one with a body (an upload) may take longer to send, and keeps undici's
   * timeouts.
   */
  private answerDeadline(): { signal: AbortSignal; clear: () => void } {
    const controller = new AbortController();
    const timeoutMs = this.opts.requestTimeoutMs;
    const timer = setTimeout(() => controller.abort(new RdriveError('ETIMEDOUT', `The server did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const forget = this.silence.whenFoundSilent((err) => controller.abort(err));
    return {
      signal: controller.signal,
      clear: () => {
        clearTimeout(timer);
        forget();
      },
    };
  }

  /** Resolves once the server answers GET /health (whatever the answer), within `timeoutMs`. */
  private async probe(timeoutMs: number): Promise<void> {
    this.probePool ??= createPool({ ...this.poolConfig, connections: 1 });
    const res = await this.probePool.request({ method: 'GET', path: `${API_PREFIX}/health`, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
  }

  private async sendOnce(call: Call): Promise<Dispatcher.ResponseData> {
    const headers = this.headersFor(call);
    const body = call.body?.();
    mountStats.requests++;
    const deadline = body === undefined ? this.answerDeadline() : undefined;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        method: call.method,
        path: `${API_PREFIX}${call.path}`,
        headers,
        body: body ?? null,
        ...(call.bodyTimeoutMs === undefined ? {} : { bodyTimeout: call.bodyTimeoutMs }),
        ...(deadline === undefined ? {} : { signal: deadline.signal }),
      });
    } finally {
      deadline?.clear();
    }
    this.silence.heard();
    if (res.statusCode < 400) return res;
    mountStats.requestErrors++;
    throw await errorFromResponse(res, this.opts.requestTimeoutMs);
  }
}

async function errorFromResponse(res: Dispatcher.ResponseData, timeoutMs: number): Promise<RdriveError> {
  const retryAfter = res.headers['retry-after'];
  // Only the code and message are wanted: a huge or endless body is not waited for.
  const text = await readBody(res.body, ERROR_BODY_MAX, timeoutMs, 'a failed call').then((b) => b.toString('utf8'), () => '');
  return errorFromParts(res.statusCode, typeof retryAfter === 'string' ? retryAfter : undefined, text);
}

/** Error answers that did not come from an rdrive server (no rdrive JSON body), with their status. */
const answeredInFront = new WeakMap<RdriveError, number>();

/** An error answer as an RdriveError: the JSON {code, message} when there is one, else the status. */
function errorFromParts(status: number, retryAfterHeader: string | undefined, bodyText: string): RdriveError {
  const retryAfter = retryAfterHeader === undefined ? undefined : Number(retryAfterHeader);
  let code: ErrorCode | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(bodyText) as { code?: unknown; message?: unknown } | null;
    if (isErrorCode(body?.code)) code = body.code;
    if (typeof body?.message === 'string') message = printable(body.message);
  } catch {
    // not JSON (a proxy's page, say): fall back to the status
  }
  const fromServer = code !== undefined;
  code ??= codeForStatus(status);
  const error = new RdriveError(code, message, retryAfter !== undefined && Number.isFinite(retryAfter) ? { retryAfter } : undefined);
  if (!fromServer) answeredInFront.set(error, status);
  return error;
}

/**
 * A login answered without rdrive's JSON by something other than a gateway (502-504: a load
 * balancer or proxy in front, which clients wait for): another web server is at that URL. Its
 * status alone would read as an rdrive error (501 "Function not implemented", 404 "No such file").
 */
function notRdrive(err: unknown, origin: string): RdriveError | undefined {
  const status = err instanceof RdriveError ? answeredInFront.get(err) : undefined;
  if (status === undefined || (status >= 502 && status <= 504)) return undefined;
  return new RdriveError('UNREACHABLE', `${origin} is not an rdrive server (it answered the login with HTTP ${status} and no rdrive reply): check the URL and port`, { cause: err });
}

/** The error a caller sees once 503s outlasted the retry window: what happened and what to do. */
function unavailableAfterRetries(last: RdriveError, elapsedMs: number): RdriveError {
  const retried = elapsedMs >= 1000 ? `still so after retrying for ${Math.round(elapsedMs / 1000)} s; ` : '';
  return new RdriveError('UNAVAILABLE', `${last.message} (${retried}if this lasts, the server's administrator should check its log)`);
}

/**
 * A server's error message as it may be shown (logs, a terminal): at most MESSAGE_MAX
 * characters, control characters (a terminal's escape sequences) replaced.
 */
function printable(message: string): string {
  const plain = message.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return plain.length > MESSAGE_MAX ? `${plain.slice(0, MESSAGE_MAX)}…` : plain;
}

const MESSAGE_MAX = 500;

/** A plain decimal number from a header (anything else is NaN, which the checks refuse). */
function decimal(value: string | string[]): number {
  return typeof value === 'string' && /^-?\d{1,16}(\.\d{1,6})?$/.test(value.trim()) ? Number(value) : Number.NaN;
}

/** A call as the errors name it: "GET /list/a%20b". */
function describe(call: Call): string {
  return `${call.method} ${call.path.split('?')[0] ?? ''}`;
}

/**
 * A success answer of another status than the call's (a redirect, a 206 to a JSON call): no
 * redirect is followed (the session token must not go to another host), the body is dropped.
 */
function expectStatus(res: Dispatcher.ResponseData, wanted: number[], what: string): void {
  if (wanted.includes(res.statusCode)) return;
  // undici's body reports a destroy before its end as an error: heard, not thrown at the process.
  res.body.on('error', () => undefined);
  res.body.destroy();
  const where = res.headers.location === undefined ? '' : ', a redirect, which is not followed';
  throw malformed(what, `HTTP ${res.statusCode}${where}`);
}

function isConnectTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'UND_ERR_CONNECT_TIMEOUT';
}

function enc(path: string): string {
  return encodeRemotePath(toSegments(path));
}

/** The folder holding `path`, as the mount names it ("/a/b" → "/a", "/a" → "/"). */
function parentOf(path: string): string {
  const segments = toSegments(path);
  return `/${segments.slice(0, -1).join('/')}`;
}

function plain(path: string): string {
  return toSegments(path).join('/');
}

export function parseServerUrl(server: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new RdriveError('EINVAL', `Invalid server URL "${server}": expected e.g. http://127.0.0.1:8888`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RdriveError('EINVAL', `Invalid server URL "${server}": only http:// and https:// are supported`);
  }
  return url;
}
