// Starts a throwaway PostgreSQL server from the OS packages (initdb into a temp dir, loopback port, socket in that dir) and stops or restarts it.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../support/redis-server.js';
import { postgresAvailability } from '../../support/services.js';

export const postgres = postgresAvailability();

/** One line, once per test file, saying which suite skips and how to run it. */
export function announcePostgresSkip(suite: string): void {
  if (!postgres.available) console.log(`careslot: ${suite} skipped: ${postgres.detail}`);
}

const HOST = '127.0.0.1';
const USER = 'careslot';

/**
 * initdb and postgres refuse to run as root. As root (here and in CI) the server runs as the
 * `postgres` user the Debian package creates, else as `nobody`; its folder is chowned to it.
 */
function serverUser(): { uid: number; gid: number } | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
    } catch {
      // no such user: try the next
    }
  }
  throw new Error('running as root, but neither a postgres nor a nobody user exists to run PostgreSQL as');
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One PostgreSQL server in a temp folder: trust auth on 127.0.0.1 only, fsync off (tests need no
 * durability across a machine crash; a crash of the server process alone loses nothing, since
 * commits still wait for their WAL write), a short deadlock_timeout so deadlock retries are quick.
 * `stop()` and `restart()` simulate an outage on the same port and data.
 */
export class PostgresServer {
  readonly host = HOST;
  readonly user = USER;
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    private readonly bin: string,
    private readonly dir: string,
    private readonly owner: { uid: number; gid: number } | null,
  ) {}

  static async start(): Promise<PostgresServer> {
    if (!postgres.available) throw new Error(`PostgreSQL unavailable: ${postgres.detail}`);
    const owner = serverUser();
    // /tmp rather than a TMPDIR under root's home, which the server's user could not enter.
    const dir = mkdtempSync(join(owner ? '/tmp' : tmpdir(), 'careslot-pg-'));
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const server = new PostgresServer(await freePort(), postgres.detail, dir, owner);
    execFileSync(
      join(server.bin, 'initdb'),
      ['-D', server.dataDir, '-U', USER, '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(owner ?? {}) },
    );
    await server.restart();
    return server;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** pg.Pool / pg.Client settings for a database on this server. */
  config(database = 'postgres'): pg.PoolConfig {
    return { host: HOST, port: this.port, user: USER, database };
  }

  url(database = 'postgres'): string {
    return `postgres://${USER}@${HOST}:${this.port}/${database}`;
  }

  /** Creates a database (careslot's schema goes into it through `migrate()`). */
  async createDatabase(name: string): Promise<void> {
    const client = new pg.Client(this.config());
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
  }

  /** (Re)starts the server on the same port and data and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) return;
    this.output = '';
    const args = [
      '-D',
      this.dataDir,
      '-p',
      String(this.port),
      '-h',
      HOST,
      '-k',
      this.dir,
      '-c',
      'fsync=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=32MB',
      '-c',
      'deadlock_timeout=100ms',
      '-c',
      'log_min_messages=fatal',
    ];
    const child = spawn(join(this.bin, 'postgres'), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(this.owner ?? {}),
    });
    const collect = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.child === child) this.child = null;
    });
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !exited) {
      const client = new pg.Client({ ...this.config(), connectionTimeoutMillis: 1000 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => {});
        await delay(50);
      }
    }
    await this.stop();
    throw new Error(`postgres did not accept connections on port ${this.port}:\n${this.output}`);
  }

  /**
   * Stops the server and waits for it to exit: `fast` (SIGINT) rolls back open transactions and
   * disconnects clients; `immediate` (SIGQUIT) is a crash-like stop, recovered at the next start.
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    });
  }

  /** Stops the server and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
