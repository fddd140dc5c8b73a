import { Router, type Request, type Response } from 'express';
import { type Attr, checkMode, HEADER_FROM_FOLDER_TIMES, type Listing, type MkdirRequest, type RenameRequest, type SetAttrRequest, type StatFs, type SymlinkRequest } from '../../../common/api.js';
import { RdriveError } from '../../../common/errors.js';
import { modeAfterChown, ownerFrom } from '../../../common/ownership.js';
import { splitPlainPath } from '../../../common/paths.js';
import type { WriteLimits } from '../../storage/backend.js';
import { checkLinkTarget, checkNode, specialBytes, type Special } from '../../storage/special-file.js';
import { JsonArrayStream } from '../json-stream.js';
import { checkTime, countedCreate, countedMkdir, counting, entryPath, jsonBody, limitedWrite, pathAfter, refuseIfClientGone, refuseUnlessDir, sendFolderTimes, userOf, type ServerContext } from '../context.js';
import { negated } from '../../state/usage-tracker.js';

const json = jsonBody('64kb');

/** Listing, attributes and the namespace: list, stat, statfs, dirs, symlinks, nodes, rename, attrs. */
export function treeRoutes(ctx: ServerContext): Router {
  const router = Router();
  router.get(/^\/list(?:\/.*)?$/, async (req, res) => {
    // Streamed as the entries are looked at (the wire format stays Listing's).
    const out = new JsonArrayStream(res, 'entries' satisfies keyof Listing);
    await ctx.backend.list(userOf(req), pathAfter(req, 'list'), (entries) => out.write(entries));
    out.end();
  });
  router.get(/^\/stat(?:\/.*)?$/, async (req, res) => {
    res.json(await ctx.backend.stat(userOf(req), await entryPath(ctx, req, 'stat')));
  });
  router.get('/statfs', async (req, res) => {
    const user = userOf(req);
    const fs = await ctx.backend.statfs(user);
    const { quota, maxEntries } = ctx.config;
    if (!counting(ctx.config)) {
      res.json(fs);
      return;
    }
    // Each limit shows as the size of the drive (df's Size, df -i's Inodes); what is left is the
    // less of the limit's rest and the disk's (which all users share).
    const used = await ctx.usage.get(user);
    const space = quota > 0 ? { total: quota, used: used.bytes, free: Math.max(0, Math.min(fs.free, quota - used.bytes)) } : {};
    // A disk that keeps no inode count (btrfs: 0 of 0) limits nothing.
    const diskFree = fs.entriesTotal !== undefined && fs.entriesTotal > 0 ? fs.entriesFree ?? 0 : Number.MAX_SAFE_INTEGER;
    const entries = maxEntries > 0 ? { entriesTotal: maxEntries, entriesUsed: used.entries, entriesFree: Math.max(0, Math.min(diskFree, maxEntries - used.entries)) } : {};
    const body: StatFs = { ...fs, ...space, ...entries };
    res.json(body);
  });
  router.post(/^\/dirs(?:\/.*)?$/, json, async (req, res) => {
    const body = (req.body ?? {}) as MkdirRequest;
    const options: MkdirRequest = {};
    if (body.mode !== undefined) options.mode = checkMode(body.mode);
    if (body.parents === true) options.parents = true;
    const owner = ownerFrom(body as Record<string, unknown>);
    const user = userOf(req);
    const segments = pathAfter(req, 'dirs');
    await refuseIfClientGone(res);
    const attr = await countedMkdir(ctx, user, (room) => ctx.backend.mkdir(user, segments, { ...options, ...(owner === undefined ? {} : { owner }), ...room }));
    await sendFolderTimes(ctx, res, user, segments);
    res.status(201).json(attr);
  });
  router.delete(/^\/dirs(?:\/.*)?$/, async (req, res) => {
    const user = userOf(req);
    const recursive = req.query.recursive === '1' || req.query.recursive === 'true';
    const segments = pathAfter(req, 'dirs');
    await refuseIfClientGone(res);
    // What was freed is counted off, as an unlink's is: forgetting the figure instead made the
    // next request walk the user's whole tree again, so rm -r of an empty folder and any write,
    // repeated, kept the server walking. A removal that fails midway is counted again instead.
    // The figure is measured first: a first walk running beside the removal would see only what
    // is left of the tree, and counting the whole tree off that would leave it far too low.
    if (recursive && counting(ctx.config)) await ctx.usage.get(user);
    const freed = await ctx.backend.rmdir(user, segments, { recursive }).catch(async (err: unknown) => {
      if (recursive) await ctx.usage.invalidate(user);
      throw err;
    });
    await ctx.usage.add(user, negated(freed));
    await sendFolderTimes(ctx, res, user, segments);
    res.status(204).end();
  });
  const createSpecial = async (req: Request, res: Response, route: string, special: Special): Promise<Attr> => {
    const user = userOf(req);
    const owner = ownerFrom((req.body ?? {}) as Record<string, unknown>);
    const segments = await entryPath(ctx, req, route);
    await refuseIfClientGone(res);
    // Quotas count what the stored file holds on disk.
    const attr = await countedCreate(ctx, user, specialBytes(special), () => ctx.backend.createSpecial(user, segments, special, owner));
    await sendFolderTimes(ctx, res, user, segments);
    return attr;
  };
  router.post(/^\/symlinks(?:\/.*)?$/, json, async (req, res) => {
    const target = checkLinkTarget(((req.body ?? {}) as Partial<SymlinkRequest>).target);
    res.status(201).json(await createSpecial(req, res, 'symlinks', { type: 'symlink', target }));
  });
  router.post(/^\/nodes(?:\/.*)?$/, json, async (req, res) => {
    res.status(201).json(await createSpecial(req, res, 'nodes', checkNode(req.body)));
  });
  router.post('/rename', json, async (req, res) => {
    const body = (req.body ?? {}) as Partial<RenameRequest>;
    if (typeof body.from !== 'string' || typeof body.to !== 'string') {
      throw new RdriveError('EINVAL', 'Rename needs JSON {"from": "a/b", "to": "c/d"}');
    }
    const user = userOf(req);
    const from = splitPlainPath(body.from);
    const to = splitPlainPath(body.to);
    // As rename(2): a trailing slash on either name says the source is a directory.
    if (body.from.endsWith('/') || body.to.endsWith('/')) await refuseUnlessDir(ctx, user, from);
    if (to.length > from.length && from.every((name, i) => name === to[i])) {
      throw new RdriveError('EINVAL', `Cannot move ${body.from} into itself (${body.to}): pick a destination outside it`);
    }
    await refuseIfClientGone(res);
    if (body.keepSource === true) {
      // A second name for a file a mount still has open (a hard link, for hidden names only):
      // no bytes move, so the quota is untouched.
      const attr = await ctx.backend.linkHidden(user, from, to);
      await sendFolderTimes(ctx, res, user, to);
      res.json(attr);
      return;
    }
    const { attr, replaced } = await ctx.backend.rename(user, from, to, { noReplace: body.noReplace === true });
    await ctx.usage.add(user, negated(replaced));
    const times = await sendFolderTimes(ctx, res, user, to);
    const sameFolder = from.length === to.length && from.slice(0, -1).every((name, i) => name === to[i]);
    if (!sameFolder) await sendFolderTimes(ctx, res, user, from, HEADER_FROM_FOLDER_TIMES);
    else if (times !== undefined) res.setHeader(HEADER_FROM_FOLDER_TIMES, times);
    res.json(attr);
  });
  router.patch(/^\/attrs(?:\/.*)?$/, json, async (req, res) => {
    const user = userOf(req);
    const segments = await entryPath(ctx, req, 'attrs');
    let attrs = parseSetAttr(req.body);
    const before = await ctx.backend.stat(user, segments);
    if (attrs.uid !== undefined && attrs.mode === undefined && before.type !== 'symlink') {
      // chown drops setuid (and group-executable setgid) as on Linux; a chmod sent with it decides instead.
      const mode = modeAfterChown(before.mode, before.type === 'dir');
      if (mode !== before.mode) attrs = { ...attrs, mode };
    }
    // Only a growing size needs the limits; a shrink or a chmod is always allowed. A chmod or
    // utimes stores no bytes: counted as a write, it took any change of size made since `before`
    // (an upload through another server, which counts itself) as its own.
    await refuseIfClientGone(res);
    const change = (limits: WriteLimits): Promise<Attr> => ctx.backend.setAttr(user, segments, attrs, limits);
    const attr = attrs.size === undefined ? await change({}) : await limitedWrite(ctx, user, { oldSize: before.size, announced: undefined, segments }, change);
    // A stored node's record is rewritten beside it and renamed over it: its folder changes.
    if (segments.length > 0) await sendFolderTimes(ctx, res, user, segments);
    res.json(attr);
  });
  return router;
}

function parseSetAttr(body: unknown): SetAttrRequest {
  const input = (body ?? {}) as Record<string, unknown>;
  const out: SetAttrRequest = {};
  for (const key of ['size', 'mode', 'mtime', 'atime'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (key === 'mtime' || key === 'atime') {
      out[key] = checkTime(value, key);
      continue;
    }
    if (key === 'mode') {
      out.mode = checkMode(value);
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RdriveError('EINVAL', `${key} must be a non-negative number`);
    if (key === 'size' && !Number.isSafeInteger(value)) throw new RdriveError('EINVAL', 'size must be a whole number');
    out[key] = value;
  }
  const owner = ownerFrom(input);
  return owner === undefined ? out : { ...out, ...owner };
}
