import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startMount } from '../helpers/mount-process.js';
import { startServer, type TestServer } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
let server: TestServer;
const T = { timeout: 60_000 };
/** Opens, waits for a line on stdin, writes 2 MB, closes: each step's error ends it non-zero. */
const WRITER = 'import os,sys,time\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT|os.O_TRUNC)\nprint("opened")\nsys.stdin.readline()\ntry:\n  for i in range(256): os.write(fd,bytes(65536))\nexcept OSError as e:\n  print("write failed", e)\nt=time.monotonic()\ntry:\n  os.close(fd)\nfinally:\n  print("close took %.1f" % (time.monotonic()-t))\n';

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.cleanup();
});

test('a server that stops answering costs one --timeout per close, not one per upload attempt', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--timeout', '5']);
  const writer = spawn('python3', ['-u', '-c', WRITER, `${m.path}/new.bin`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let output = '';
  writer.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  try {
    const lines = createInterface({ input: writer.stdout! });
    await once(lines, 'line');
    lines.on('line', (line) => { output += `${line}\n`; });
    // Paused, as a hung machine: connections are accepted, nothing is answered.
    process.kill(server.process.pid!, 'SIGSTOP');
    writer.stdin!.write('go\n');
    const [code] = (await once(writer, 'exit')) as [number];
    assert.notEqual(code, 0, 'the close reports the failure');
    assert.match(stderr, /timed out/i);
    // The bound itself is what is tested: one --timeout (5 s) per close, not one per attempt
    // (the streamed upload, then the same bytes again from the local copy: 10 s and more).
    const took = Number(/close took ([\d.]+)/.exec(output)?.[1]);
    assert.ok(took < 8.5, `close() gave up after ${took} s with --timeout 5`);
  } finally {
    writer.kill('SIGKILL');
    process.kill(server.process.pid!, 'SIGCONT');
    await m.cleanup();
  }
});

test('with the server paused, calls queued behind busy connections still fail after one --timeout', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--timeout', '4']);
  try {
    // Distinct folders: the kernel does not serialise lookups in different directories, so
    // 24 stats are 24 requests at once, three times the mount's 8 connections.
    await execFileP('bash', ['-c', `cd ${m.path} && for i in $(seq 24); do mkdir d$i && echo $i > d$i/f; done`]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    process.kill(server.process.pid!, 'SIGSTOP');
    const { stdout } = await execFileP('python3', ['-c', CONCURRENT_STATS, m.path], { timeout: 50_000 });
    const tooks = stdout.trim().split('\n').map((line) => line.split(' '));
    assert.equal(tooks.length, 24);
    for (const [took, outcome] of tooks) {
      assert.equal(outcome, 'ETIMEDOUT');
      // One --timeout (4 s) each, not 4, 8 and 12 s by place in the queue.
      assert.ok(Number(took) < 7, `a stat failed after ${took} s with --timeout 4`);
    }
  } finally {
    process.kill(server.process.pid!, 'SIGCONT');
    await m.cleanup();
  }
});

/** 24 threads each stat d<i>/f under argv[1]; prints "<seconds> <outcome>" per stat. */
const CONCURRENT_STATS = `
import errno, os, sys, threading, time
results = []
def one(i):
    t = time.time()
    try:
        os.stat(f'{sys.argv[1]}/d{i}/f'); outcome = 'ok'
    except OSError as e:
        outcome = errno.errorcode[e.errno]
    results.append(f'{time.time() - t:.1f} {outcome}')
threads = [threading.Thread(target=one, args=(i,)) for i in range(1, 25)]
for t in threads: t.start()
for t in threads: t.join()
print('\\n'.join(results))
`;

// A change the mount reported as timed out must not happen later: the program may retry it and
// would meet EEXIST (mkdir) or ENOENT (rename, unlink, rmdir) for a change it was told failed.
test('mkdir, rename, unlink and rmdir that time out with the server paused are not made when it resumes', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--timeout', '3']);
  const stored = `${server.storage}/alice/g`;
  try {
    await execFileP('bash', ['-c', `mkdir ${m.path}/g ${m.path}/g/dd && echo a > ${m.path}/g/a && echo b > ${m.path}/g/b && ls -l ${m.path}/g > /dev/null`]);
    process.kill(server.process.pid!, 'SIGSTOP');
    const { stdout } = await execFileP('python3', ['-c', `
import errno, os
g = '${m.path}/g'
for name, call in [('mkdir', lambda: os.mkdir(g + '/new')), ('rename', lambda: os.rename(g + '/a', g + '/a2')),
                   ('unlink', lambda: os.unlink(g + '/b')), ('rmdir', lambda: os.rmdir(g + '/dd'))]:
    try:
        call(); print(name, 'ok')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
`], { timeout: 50_000 });
    assert.equal(stdout, 'mkdir ETIMEDOUT\nrename ETIMEDOUT\nunlink ETIMEDOUT\nrmdir ETIMEDOUT\n');
  } finally {
    process.kill(server.process.pid!, 'SIGCONT');
    await m.cleanup();
  }
  // The paused server now reads the requests its clients gave up on.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  assert.deepEqual((await readdir(stored)).sort(), ['a', 'b', 'dd'], 'nothing the mount reported as failed was done');
});

test('with the server paused, calls fail at once after the first --timeout, and work again as soon as it resumes', T, async () => {
  const m = await startMount(server.url, 'alice', 'alice-pass', ['--timeout', '3']);
  try {
    await execFileP('bash', ['-c', `mkdir ${m.path}/q && cd ${m.path}/q && for i in $(seq 12); do echo $i > f$i; done && ls -l > /dev/null`]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    process.kill(server.process.pid!, 'SIGSTOP');
    const { stdout } = await execFileP('python3', ['-c', `
import errno, sys, time
for i in range(1, 13):
    t = time.time()
    try:
        open(f'${m.path}/q/f{i}').read(); outcome = 'ok'
    except OSError as e:
        outcome = errno.errorcode[e.errno]
    print(f'{time.time() - t:.1f} {outcome}')
`], { timeout: 55_000 });
    const reads = stdout.trim().split('\n').map((line) => line.split(' '));
    assert.deepEqual(reads.map(([, outcome]) => outcome), Array(12).fill('ETIMEDOUT'));
    // The first waits its --timeout; the probe that follows finds the server silent within 2 s
    // (the second read waits that long at most); every read after fails at once, where each
    // waited 3 s before (36 s in all).
    const total = reads.reduce((sum, [took]) => sum + Number(took), 0);
    assert.ok(total < 10, `12 reads took ${total.toFixed(1)} s in all: ${reads.map(([took]) => took).join(' ')}`);
    process.kill(server.process.pid!, 'SIGCONT');
    const back = await execFileP('bash', ['-c', `for t in $(seq 50); do cat ${m.path}/q/f7 2>/dev/null && exit 0; sleep 0.1; done; exit 1`]);
    assert.equal(back.stdout, '7\n', 'a read works again within 5 s of the resume');
  } finally {
    process.kill(server.process.pid!, 'SIGCONT');
    await m.cleanup();
  }
});
