import { Router, type Response } from 'express';
import { etagOf, HEADS_BYTES_MAX, HEADS_CONTENT_TYPE, HEADS_COUNT_MAX, HEADS_FILE_MAX, type HeadsAnswer } from '../../../common/api.js';
import { NAME_MAX } from '../../../common/paths.js';
import { RdriveError } from '../../../common/errors.js';
import { pathAfter, queryNumber, userOf, type ServerContext } from '../context.js';

/**
 * GET /heads/<dir>?from=<name>&count=N: the small files of a folder, whole, each under a read
 * lease (see common/api.ts HeadsAnswer). A mount reading its way through a folder (cat *, tar c,
 * grep -r, a file manager's previews) then makes one request per batch of files instead of one
 * per file, and close-to-open still holds: a change elsewhere waits for the leases. Without
 * leases (several servers sharing state) there is nothing to promise: ENOSYS, as from a server
 * that predates the route.
 */
export function headsRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.get(/^\/heads(?:\/.*)?$/, async (req, res) => {
    const leases = ctx.leases;
    const session = req.rdriveToken;
    if (leases === undefined || session === undefined) throw new RdriveError('ENOSYS', 'This server grants no read leases, so it offers no folder reads; read files one by one');
    const user = userOf(req);
    const dir = pathAfter(req, 'heads');
    const from = fromName(req.query.from);
    const count = Math.min(queryNumber(req, 'count') ?? HEADS_COUNT_MAX, HEADS_COUNT_MAX);
    // The folder itself is leased before it is opened: a rename or removal of it (or of a
    // folder above) that starts later waits, so every file read below is still at this path
    // when the mount uses it. One under way now: nothing is sent.
    if (leases.grant(user, session, dir.join('/')) === 0) {
      sendHeads(res, { leaseMs: leases.leaseMs, entries: [], more: true }, []);
      return;
    }
    const { files, more } = await ctx.backend.readHeads(user, dir, {
      from, count, fileMax: HEADS_FILE_MAX, bytesMax: HEADS_BYTES_MAX,
      // 0 while a change of that file is under way: it is left out.
      admit: (name) => leases.grant(user, session, [...dir, name].join('/')) > 0,
    });
    const answer: HeadsAnswer = {
      leaseMs: leases.leaseMs,
      entries: files.map(({ name, attr, content }) => ({ name, ...attr, etag: etagOf(attr), length: content.length })),
      more,
    };
    sendHeads(res, answer, files.map((f) => f.content));
  });
  return router;
}

function sendHeads(res: Response, answer: HeadsAnswer, contents: Buffer[]): void {
  res.setHeader('content-type', HEADS_CONTENT_TYPE);
  res.end(Buffer.concat([Buffer.from(`${JSON.stringify(answer)}\n`), ...contents]));
}

/** `from`: a name to start at (any string of a name's length; it is only compared). */
function fromName(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string' || Buffer.byteLength(value) > NAME_MAX) throw new RdriveError('EINVAL', `Query parameter from must be one file name of at most ${NAME_MAX} bytes`);
  return value;
}
