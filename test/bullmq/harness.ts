// A BookingEngine on BullMQ and a real redis-server, with the helpers the BullMQ tests share.
import { randomUUID } from 'node:crypto';
import type { Job, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import {
  type BookingWorkerOptions,
  BullMQScheduler,
  type BullMQSchedulerOptions,
  createBookingWorker,
} from '../../src/adapters/bullmq/index.js';
import type { BookingEngineEvents, BookingEngineOptions, Schedule } from '../../src/index.js';
import { BOOKING_ENGINE_EVENTS, BookingEngine, MemoryStore } from '../../src/index.js';
import { MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { RedisServer } from '../support/redis-server.js';
import { redisAvailability } from '../support/services.js';

export const DOCTOR = 'doctor-1';
export const PATIENT = 'patient-standard';
export const VISE_PATIENT = 'patient-vise';
/** One second, as `holdMinutes` takes it. */
export const ONE_SECOND_HOLD = 1 / 60;

const redis = redisAvailability();
if (!redis.available) console.log(`careslot BullMQ tests skipped: ${redis.detail}`);

/** `describe` that skips (with the one line printed above) when there is no redis-server here. */
export const describeWithRedis = describe.skipIf(!redis.available);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 8_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface Recorded {
  name: keyof BookingEngineEvents;
  payload: unknown;
}

/** What a worker did, from its BullMQ events. */
export interface WorkerLog {
  completed: { id: string; name: string; result: unknown; attemptsMade: number }[];
  failed: { id: string; name: string; error: Error; attemptsMade: number }[];
  active: string[];
  stalled: string[];
}

export interface Env {
  server: RedisServer;
  queueName: string;
  engine: BookingEngine;
  scheduler: BullMQScheduler;
  gateway: TestPaymentGateway;
  store: MemoryStore;
  events: Recorded[];
  /** Starts a worker on this env's queue (closed by `close()`), with a log of what it did. */
  worker(options?: Partial<BookingWorkerOptions>): { worker: Worker; log: WorkerLog };
  /** A slot starting `startInMs` from now and lasting `durationMs`. */
  slot(startInMs: number, durationMs: number, doctorId?: string): Promise<Schedule>;
  /** Something to close when the env closes (queues, connections, workers made by a test). */
  track(close: () => Promise<unknown> | unknown): void;
  close(): Promise<void>;
}

/** Records a worker's completed/failed/active/stalled events. */
export function logWorker(worker: Worker): WorkerLog {
  const log: WorkerLog = { completed: [], failed: [], active: [], stalled: [] };
  worker.on('completed', (job: Job, result: unknown) =>
    log.completed.push({ id: String(job.id), name: job.name, result, attemptsMade: job.attemptsMade }),
  );
  worker.on('failed', (job: Job | undefined, error: Error) => {
    if (job) log.failed.push({ id: String(job.id), name: job.name, error, attemptsMade: job.attemptsMade });
  });
  worker.on('active', (job: Job) => log.active.push(String(job.id)));
  worker.on('stalled', (jobId: string) => log.stalled.push(jobId));
  return log;
}

/**
 * An engine on a MemoryStore, a TestPaymentGateway and the real clock, scheduling on a fresh
 * BullMQ queue (unique name) in `server`. The scheduler shares one ioredis instance owned by
 * the test, as a host's would be.
 */
export async function createEnv(
  server: RedisServer,
  options: {
    engine?: Partial<BookingEngineOptions>;
    scheduler?: Partial<BullMQSchedulerOptions>;
  } = {},
): Promise<Env> {
  const queueName = `careslot-test-${randomUUID()}`;
  const closers: (() => Promise<unknown> | unknown)[] = [];
  const connection = new Redis(server.connection);
  closers.push(() => connection.quit());
  const scheduler = new BullMQScheduler({
    connection,
    queueName,
    backoffMs: 100,
    onError: () => {},
    ...options.scheduler,
  });
  closers.push(() => scheduler.close());
  const store = new MemoryStore();
  const gateway = new TestPaymentGateway({ checkoutBaseUrl: 'http://127.0.0.1/checkout' });
  const patients = new MemoryPatientDirectory(
    [
      { id: PATIENT, name: 'Ada Standard', plan: 'standard' },
      { id: VISE_PATIENT, name: 'Vera Vise', plan: 'vise' },
    ],
    [{ doctorId: DOCTOR, patientId: VISE_PATIENT }],
  );
  const engine = new BookingEngine({
    store,
    payments: gateway,
    patients,
    scheduler,
    holdMinutes: ONE_SECOND_HOLD,
    ...options.engine,
  });
  const events: Recorded[] = [];
  for (const name of BOOKING_ENGINE_EVENTS)
    engine.events.on(name, (payload: unknown) => events.push({ name, payload }));

  return {
    server,
    queueName,
    engine,
    scheduler,
    gateway,
    store,
    events,
    worker: (workerOptions = {}) => {
      const worker = createBookingWorker({
        engine,
        connection: server.connection,
        queueName,
        onError: () => {},
        ...workerOptions,
      });
      // Force: a test's stuck processor must not hold the suite up.
      closers.push(() => worker.close(true));
      return { worker, log: logWorker(worker) };
    },
    slot: (startInMs, durationMs, doctorId = DOCTOR) => {
      const start = new Date(Date.now() + startInMs);
      return engine.createSchedule({
        doctorId,
        startTime: start,
        endTime: new Date(start.getTime() + durationMs),
        fee: { amount: 5000, currency: 'eur' },
        timeZone: 'Europe/Berlin',
      });
    },
    track: (close) => {
      closers.push(close);
    },
    close: async () => {
      // Workers and queues first, then the connections they use.
      for (const close of closers.reverse()) {
        try {
          await close();
        } catch {
          // Closing is best effort: a server stopped by the test may refuse a QUIT.
        }
      }
    },
  };
}

/**
 * For a describe block: one redis-server for the file, and `open()` giving each test a fresh
 * Env that is closed after it. `server()` and `env()` are the running server and the test's Env.
 */
export function useRedisEnv(): {
  server: () => RedisServer;
  open: (options?: Parameters<typeof createEnv>[1]) => Promise<Env>;
  /** The Env the running test opened. */
  env: () => Env;
} {
  let server: RedisServer | null = null;
  let env: Env | null = null;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });
  afterEach(async () => {
    await env?.close();
    env = null;
  });
  const running = (): RedisServer => {
    if (!server) throw new Error('useRedisEnv: the redis-server has not started');
    return server;
  };
  return {
    server: running,
    env: () => {
      if (!env) throw new Error('useRedisEnv: call open() first');
      return env;
    },
    open: async (options = {}) => {
      env = await createEnv(running(), options);
      return env;
    },
  };
}
