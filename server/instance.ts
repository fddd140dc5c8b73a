import { randomBytes } from 'node:crypto';

/**
 * This server process's name among the servers sharing one storage and one Redis: in its
 * heartbeat key (rdrive:alive:<id>), its quota reservations and the names of its temp files, so
 * another server can tell a dead server's leftovers from a live one's uploads in progress.
 */
export const SERVER_INSTANCE = `${process.pid}-${randomBytes(4).toString('hex')}`;
