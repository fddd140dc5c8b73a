/** Embedded defaults: a fresh checkout runs on these with no configuration. */
export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8888,
  storage: 'server_storage',
  users: 'id_passwd.txt',
  logs: 'logs',
  logLevel: 'info',
  /** Seconds without a request after which a session expires (the original tool's 100 s). */
  idleTimeout: 100,
  /** Concurrent sessions (the original tool's bound on clients). */
  maxClients: 5,
  /** Requests one user may have in flight at once. */
  maxInFlightPerUser: 64,
  /** Requests per user per minute. */
  requestsPerMinute: 60_000,
  /** Failed logins per user name from one address per 15 minutes (5 × this per address). */
  loginAttemptsPer15Min: 10,
  /** Per-user quota in bytes; 0 means none. */
  quota: 0,
  /**
   * Per-user limit on entries (files, folders, symlinks, nodes), as a filesystem's inode quota:
   * a byte quota alone lets one user fill the disk's inodes with empty files. 0 means none.
   */
  maxEntries: 1_000_000,
  /** Largest single file accepted, bytes; 0 means no limit beyond the disk. */
  maxFileSize: 0,
  /** Seconds between sweeps of dead servers' temp files on shared storage (--redis). */
  tempSweepInterval: 600,
  /** Milliseconds a mount may reuse a file's first bytes without asking (read lease); 0: none. */
  readLease: 1000,
  /**
   * Seconds a connection may wait on its client (a request body that stops arriving, an answer
   * the client stops reading) before it is cut, freeing its temp file and quota reservation.
   */
  stallTimeout: 60,
  /**
   * Connections at once, idle keep-alive ones included (a mount keeps up to 12); fewer when the
   * open-file limit (ulimit -n) would not leave room for file I/O.
   */
  maxConnections: 1024,
  /** Connections at once from one address (trusted proxies exempt). */
  maxConnectionsPerAddress: 128,
  /** Seconds a client has to send a request's whole head (request line and headers). */
  headersTimeout: 20,
} as const;

export const CLIENT_DEFAULTS = {
  server: 'http://127.0.0.1:8888',
  logLevel: 'info',
  /** Seconds the kernel and the daemon may trust cached attributes and listings. */
  attrTimeout: 1,
  /** Connect timeout for the server, ms: a dead server fails fast. */
  connectTimeoutMs: 5_000,
  /** Longest a request may wait for response headers, ms. */
  requestTimeoutMs: 30_000,
} as const;

export const PREVIEW_BYTES = 1024;
export const API_PREFIX = '/api/v1';
