import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RdriveError } from '../../common/errors.js';
import { parseUsers } from '../../server/auth/users-file.js';

/** Issue 10 item 5: a users file the server only half understands is refused whole, by file and line. */

const HASH = `scrypt$16384$8$1$${Buffer.alloc(16, 1).toString('base64')}$${Buffer.alloc(32, 2).toString('base64')}`;

const malformed: Array<[string, string, RegExp]> = [
  ['garbage line', `alice:${HASH}\nthis is not a user line\n`, /users\.txt:2: no ":"/],
  ['name with a path', `../evil:pw\n`, /users\.txt:1: invalid user name "\.\.\/evil"/],
  ['name with a slash', `# c\nbob:pw\na/b:pw\n`, /users\.txt:3: invalid user name/],
  ['empty name', `:pw\n`, /users\.txt:1: invalid user name/],
  ['empty secret', `carol:\n`, /users\.txt:1: empty secret/],
  ['broken scrypt: fields', 'alice:scrypt$1$2$3$s$h\n', /users\.txt:1: broken scrypt record for alice: N must be/],
  ['broken scrypt: truncated', `alice:${HASH.slice(0, 40)}\n`, /users\.txt:1: broken scrypt record/],
  ['broken scrypt: short hash', `alice:scrypt$16384$8$1$${Buffer.alloc(16).toString('base64')}$AAAA\n`, /hash is not base64 of 32 bytes/],
  ['binary data', `alice:${HASH}\n${Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('utf8')}:x\n`, /users\.txt:2: not UTF-8/],
  ['control character', `alice:pw\u0007x\n`, /users\.txt:1: control character/],
  ['duplicate name', `alice:pw\nalice:other\n`, /users\.txt:2: user alice appears twice/],
];

for (const [what, text, message] of malformed) {
  test(`parseUsers refuses ${what}, naming file and line`, () => {
    assert.throws(() => parseUsers(text, 'users.txt'), (err: unknown) => err instanceof RdriveError && err.code === 'EINVAL' && message.test(err.message));
  });
}

test('parseUsers accepts comments, blank lines, CRLF, hashed and legacy lines', () => {
  const users = parseUsers(`# users\r\n\r\nalice:${HASH}\r\n  bob:plain-secret  \n`, 'users.txt');
  assert.deepEqual([...users.keys()], ['alice', 'bob']);
  assert.equal(users.get('bob')?.secret, 'plain-secret');
});
