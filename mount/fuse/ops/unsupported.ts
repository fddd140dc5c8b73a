import { RdriveError } from '../../../common/errors.js';
import { checkNameLengths } from '../names.js';

/**
 * Refused, not faked (see docs/posix.md, "Hard links"): a hard link would need the server to
 * keep one file under two names with a shared link count and shared attributes.
 */
export async function link(to: string): Promise<never> {
  checkNameLengths(to);
  throw new RdriveError('EPERM', 'Hard links are not supported on rdrive');
}
