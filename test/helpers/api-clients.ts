import assert from 'node:assert/strict';
import { RdriveError } from '../../common/errors.js';
import { ApiClient } from '../../mount/remote/api-client.js';
import { DEFAULT_TEST_USERS, startServer, type TestServer } from './server-process.js';

/**
 * A real server (see startServer) and one logged-in ApiClient per name, in the order asked:
 * `({ server, clients: [alice, bob] } = await startServerWithClients(['alice', 'bob']))`.
 */
export async function startServerWithClients<const Names extends readonly string[]>(
  names: Names,
): Promise<{ server: TestServer; clients: { -readonly [K in keyof Names]: ApiClient } }> {
  const server = await startServer();
  const clients: ApiClient[] = [];
  try {
    for (const name of names) {
      const client = new ApiClient({ server: server.url });
      clients.push(client);
      await client.login(name, DEFAULT_TEST_USERS[name] ?? `${name}-pass`);
    }
  } catch (err) {
    await stopServerAndClients(server, clients);
    throw err;
  }
  return { server, clients: clients as { -readonly [K in keyof Names]: ApiClient } };
}

/** Closes the clients and removes the server with its temp dir; each may be unset (a failed before). */
export async function stopServerAndClients(server: TestServer | undefined, clients: ReadonlyArray<ApiClient | undefined>): Promise<void> {
  for (const client of clients) await client?.close();
  await server?.cleanup();
}

/** The call fails with this RdriveError code. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof RdriveError && err.code === code, `expected ${code}`);
}
