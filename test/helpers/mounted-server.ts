import { after, before } from 'node:test';
import { startMount, type TestMount } from './mount-process.js';
import { startServer, type TestServer } from './server-process.js';

/**
 * A server and alice's mount shared by the tests of one file: started before them, unmounted
 * and stopped after them (also when one fails). The fields are set once `before` has run.
 */
export function serverWithMount(): { server: TestServer; mount: TestMount } {
  const fixture = {} as { server: TestServer; mount: TestMount };
  before(async () => {
    fixture.server = await startServer();
    fixture.mount = await startMount(fixture.server.url, 'alice', 'alice-pass');
  });
  after(async () => {
    await fixture.mount?.cleanup();
    await fixture.server?.cleanup();
  });
  return fixture;
}
