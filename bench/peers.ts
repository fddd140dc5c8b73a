import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forceUnmount, isMounted, ok, startMount, type TestMount } from '../test/helpers/mount-process.js';
import { startServer, type TestServer } from '../test/helpers/server-process.js';

/** A target the workloads run against: a directory, and how to drop its caches. */
export interface Target {
  name: string;
  dir: string;
  /** Runs the workloads that write (a null filesystem cannot). */
  writes: boolean;
  /** Runs the read-only workloads (rdrive --sync reads exactly as rdrive does: skipped). */
  reads: boolean;
  /** Where the read-only fixtures are created directly, bypassing the target (its server's disk). */
  backing: string | undefined;
  /** Where the target shows the fixtures. */
  fixtures: string;
  /** Empties every cache between the data and the reader (page cache, daemon caches). */
  coldCache: () => Promise<void>;
  stop: () => Promise<void>;
  /** rdrive targets: the server and the current mount (a cold cache remounts). */
  rdrive?: { server: TestServer; mount: () => TestMount };
}

export async function dropPageCache(): Promise<void> {
  await ok('sync; echo 3 > /proc/sys/vm/drop_caches || true');
}

export async function localTarget(root: string): Promise<Target> {
  const dir = join(root, 'local');
  await mkdir(dir);
  return { name: 'local', dir, writes: true, reads: true, backing: join(dir, 'fx'), fixtures: join(dir, 'fx'), coldCache: dropPageCache, stop: async () => undefined };
}

/**
 * rdrive in its default durability mode, or with `--sync` (every close durable before it
 * returns). `extra` adds server and mount options (e.g. metrics, a debug log).
 */
export async function rdriveTarget(sync = false, extra: { serverArgs?: string[]; mountArgs?: string[] } = {}): Promise<Target> {
  const server: TestServer = await startServer({ users: { bench: 'bench-pass' }, args: ['--log-level', 'warn', '--requests-per-minute', '100000000', ...(extra.serverArgs ?? [])] });
  const args = ['--log-level', 'warn', '--timeout', '300', ...(sync ? ['--sync'] : []), ...(extra.mountArgs ?? [])];
  let mount: TestMount = await startMount(server.url, 'bench', 'bench-pass', args);
  await mkdir(join(server.storage, 'bench'), { recursive: true });
  return {
    name: sync ? 'rdrive-sync' : 'rdrive',
    rdrive: { server, mount: () => mount },
    get dir() { return mount.path; },
    get fixtures() { return join(mount.path, 'fx'); },
    writes: true,
    reads: !sync,
    backing: join(server.storage, 'bench', 'fx'),
    coldCache: async () => {
      await mount.cleanup();
      await dropPageCache();
      mount = await startMount(server.url, 'bench', 'bench-pass', args);
    },
    stop: async () => {
      await mount.cleanup();
      await server.cleanup();
    },
  };
}

/** A throwaway sshd on loopback with its own keys and config; sshfs mounts a folder through it. */
export async function sshfsTarget(root: string): Promise<Target> {
  const dir = join(root, 'ssh');
  const remote = join(dir, 'remote');
  const mnt = join(dir, 'mnt');
  await mkdir(remote, { recursive: true });
  await mkdir(mnt);
  await mkdir('/run/sshd', { recursive: true });
  await ok(`ssh-keygen -q -t ed25519 -N '' -f ${dir}/host_key && ssh-keygen -q -t ed25519 -N '' -f ${dir}/client_key && cp ${dir}/client_key.pub ${dir}/authorized_keys && chmod 600 ${dir}/authorized_keys`);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await writeFile(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${dir}/host_key`, `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
    'StrictModes no', `PidFile ${dir}/sshd.pid`, 'Subsystem sftp internal-sftp', '',
  ].join('\n'));
  const sshd: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  await sleep(500);
  const user = (await ok('id -un')).trim();
  const mountSshfs = async (): Promise<void> => {
    await ok(`sshfs -p ${port} -o IdentityFile=${dir}/client_key,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR ${user}@127.0.0.1:${remote} ${mnt}`);
    for (let i = 0; i < 50 && !(await isMounted(mnt)); i++) await sleep(100);
  };
  await mountSshfs();
  return {
    name: 'sshfs',
    dir: mnt,
    writes: true,
    reads: true,
    backing: join(remote, 'fx'),
    fixtures: join(mnt, 'fx'),
    coldCache: async () => {
      await ok(`fusermount -u ${mnt}`);
      await dropPageCache();
      await mountSshfs();
    },
    stop: async () => {
      await forceUnmount(mnt);
      sshd.kill('SIGTERM');
    },
  };
}

/**
 * The FUSE binding's floor: a do-nothing filesystem serving the fixtures, on fuse-native (`null`,
 * bench/null-fs.ts) or on the libfuse 3 low-level prototype (`null-ll`, bench/null-lowlevel.ts).
 */
export async function nullTarget(root: string, smallFiles: number, fmBytes: number, binding: 'fuse-native' | 'lowlevel' = 'fuse-native'): Promise<Target> {
  const name = binding === 'lowlevel' ? 'null-ll' : 'null';
  const mnt = join(root, name);
  await mkdir(mnt);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const script = binding === 'lowlevel' ? 'null-lowlevel.ts' : 'null-fs.ts';
    const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, script), mnt, String(smallFiles), String(fmBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.once('data', () => resolve());
      proc.once('exit', (code) => reject(new Error(`${script} exited with ${String(code)}`)));
    });
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    if (proc !== undefined && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await forceUnmount(mnt);
  };
  await start();
  return {
    name,
    dir: mnt,
    writes: false,
    reads: true,
    backing: undefined,
    fixtures: mnt,
    coldCache: async () => {
      await stop();
      await dropPageCache();
      await start();
    },
    stop,
  };
}
