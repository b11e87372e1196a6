// Starts a throwaway redis-server on a free loopback port for the BullMQ tests, and stops or restarts it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisAvailability } from './services.js';

const HOST = '127.0.0.1';

/** A free TCP port on the loopback interface (the OS picks one, we release it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port the OS assigned'));
      });
    });
  });
}

/** True when something on host:port answers PING with +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One redis-server child process: no persistence (`--save ''`, no AOF), loopback only, its
 * working directory in a temp folder. `stop()` and `start()` can be called again to simulate
 * an outage on the same port.
 */
export class RedisServer {
  readonly host = HOST;
  private child: ChildProcess | null = null;
  private output = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'careslot-redis-'));

  private constructor(
    readonly port: number,
    private readonly binary: string,
  ) {}

  /** Starts a server on a free port; throws when redis-server is missing (check `redisAvailability()` first). */
  static async start(): Promise<RedisServer> {
    const availability = redisAvailability();
    if (!availability.available) throw new Error(`redis-server unavailable: ${availability.detail}`);
    const server = new RedisServer(await freePort(), availability.detail);
    await server.restart();
    return server;
  }

  /** ioredis / BullMQ connection options for this server. */
  get connection(): { host: string; port: number } {
    return { host: this.host, port: this.port };
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** (Re)starts the server on the same port and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.child) return;
    this.output = '';
    const child = spawn(
      this.binary,
      [
        '--port',
        String(this.port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
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
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) break;
      if (await ping(this.port)) return;
      await delay(25);
    }
    await this.stop();
    throw new Error(`redis-server did not answer PING on port ${this.port}:\n${this.output}`);
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for the process to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Stops the server and removes its temp folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
