// The BullMQ worker that runs careslot's timed jobs: every job is `engine.runJob(name, data)`.
import {
  type ConnectionOptions,
  createIORedisClient,
  isIRedisClient,
  type Job,
  type Processor,
  UnrecoverableError,
  Worker,
  type WorkerOptions,
} from 'bullmq';
import { type ErrorCode, isBookingError } from '../../domain/errors.js';
import type { BookingEngineCore as BookingEngine } from '../../engine/booking-engine.js';
import type { JobData, JobName } from '../../ports/job-scheduler.js';
import {
  checkConnection,
  checkPositive,
  checkPrefix,
  checkQueueName,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE_NAME,
  isClientInstance,
} from './defaults.js';

/**
 * The worker's own settings: what `scheduler.createWorker` takes. The queue, its prefix and
 * the Redis connection come from the scheduler; every other BullMQ `WorkerOptions` field
 * (`lockDuration`, `stalledInterval`, `limiter`, ...) is passed on as it is.
 */
export interface SchedulerWorkerOptions extends Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency'> {
  /** The engine whose `runJob` processes every job (in a worker process: an engine on the same store). */
  engine: Pick<BookingEngine, 'runJob'>;
  /**
   * Jobs this worker runs at once. Jobs mostly wait on the store and the payment provider,
   * and every state change is a compare-and-set, so running several at once is safe.
   * @defaultValue 5
   */
  concurrency?: number;
  /**
   * Receives the worker's 'error' events (connection failures, lost locks).
   * @defaultValue logs with `console.error`
   */
  onError?: (error: Error) => void;
}

export interface BookingWorkerOptions extends SchedulerWorkerOptions {
  /**
   * The host's Redis: an ioredis instance or connection options. BullMQ Workers need
   * `maxRetriesPerRequest: null`; an instance without it is not changed but duplicated with
   * it (the duplicate is closed by `worker.close()`), and options get it set. The host's
   * instance itself is never closed.
   */
  connection: ConnectionOptions;
  /**
   * The queue to work on: the scheduler's `queueName` (`scheduler.createWorker` reads it
   * from the scheduler, so it is declared once).
   * @defaultValue 'careslot'
   */
  queueName?: string;
  /**
   * The scheduler's `prefix` (`scheduler.createWorker` reads it from the scheduler).
   * @defaultValue 'bull'
   */
  prefix?: string;
}

/**
 * Error codes worth retrying: the provider or the store may answer next time. Every other
 * `BookingError` (bad job data, unknown job, not found, not allowed) fails the same way on
 * every attempt, so the job fails at once.
 */
const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['PAYMENT_PROVIDER_ERROR', 'STORE_ERROR']);

/** True when a job that threw this should be retried (with backoff); false when it can never succeed. */
export function isRetryableJobError(error: unknown): boolean {
  return !isBookingError(error) || TRANSIENT_CODES.has(error.code);
}

/**
 * The processor every careslot queue worker runs: `engine.runJob(job.name, job.data)`. A
 * `BookingError` that can never succeed becomes BullMQ's `UnrecoverableError` (no retry);
 * anything else is rethrown so BullMQ retries it with the job's backoff. For hosts that
 * build their own `Worker`.
 */
export function createBookingProcessor(engine: Pick<BookingEngine, 'runJob'>): Processor<JobData, unknown, string> {
  if (engine === null || typeof engine !== 'object' || typeof engine.runJob !== 'function') {
    throw new TypeError('createBookingProcessor: pass the BookingEngine (an object with runJob)');
  }
  return async (job: Job<JobData, unknown, string>) => {
    try {
      return await engine.runJob(job.name as JobName, job.data ?? {});
    } catch (error) {
      if (isRetryableJobError(error)) throw error;
      const { code, message } = error as { code: string; message: string };
      const final = new UnrecoverableError(`${code}: ${message}`);
      (final as Error & { cause?: unknown }).cause = error;
      throw final;
    }
  };
}

interface Closable {
  disconnect(): unknown;
}

/** The connection to give the Worker, and a duplicate careslot opened (and must close), if any. */
function workerConnection(connection: ConnectionOptions): { connection: ConnectionOptions; owned: Closable | null } {
  if (!isClientInstance(connection)) {
    return { connection: { ...(connection as object), maxRetriesPerRequest: null }, owned: null };
  }
  const client = connection as {
    isCluster?: boolean;
    options?: { maxRetriesPerRequest?: number | null; redisOptions?: { maxRetriesPerRequest?: number | null } };
    defineCommand?: unknown;
  };
  const settings = client.isCluster ? client.options?.redisOptions : client.options;
  const isIORedis = typeof client.defineCommand === 'function' || isIRedisClient(connection);
  // node-redis and other drivers have no such setting; BullMQ handles them as they are.
  if (!isIORedis || settings?.maxRetriesPerRequest === null) return { connection, owned: null };
  const duplicate = createIORedisClient(connection as Parameters<typeof createIORedisClient>[0]).duplicate({
    maxRetriesPerRequest: null,
  });
  return { connection: duplicate as ConnectionOptions, owned: duplicate };
}

class BookingWorker extends Worker<JobData, unknown, string> {
  owned: Closable | null = null;

  override async close(force?: boolean): Promise<void> {
    try {
      await super.close(force);
    } finally {
      const owned = this.owned;
      this.owned = null;
      owned?.disconnect();
    }
  }
}

/**
 * Starts a BullMQ `Worker` that runs careslot's jobs on the scheduler's queue. Jobs are
 * retried with exponential backoff for transient errors (attempts and backoff are set by
 * `BullMQScheduler` when it adds them); a `BookingError` that can never succeed fails at
 * once. Run it in as many processes as you like: BullMQ gives each job to one worker, and a
 * job whose worker died (lock lost) is picked up by another after `stalledInterval`.
 *
 * Shut down gracefully: `worker.close()` stops taking jobs and waits for the running ones.
 *
 * @example
 * ```ts
 * const worker = createBookingWorker({ engine, connection: redis, concurrency: 5 });
 * process.once('SIGTERM', async () => {
 *   await worker.close();
 *   process.exit(0);
 * });
 * ```
 */
export function createBookingWorker(options: BookingWorkerOptions): Worker<JobData, unknown, string> {
  const owner = 'createBookingWorker';
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${owner}: pass an options object ({ engine, connection })`);
  }
  const { connection, queueName, prefix, ...settings } = options;
  const checked = checkConnection(
    owner,
    connection,
    'pass your ioredis instance ({ connection: redis }) or connection options ({ connection: { host, port } })',
  );
  return startBookingWorker(owner, {
    ...settings,
    connection: checked,
    queueName: queueName ?? DEFAULT_QUEUE_NAME,
    prefix: prefix ?? DEFAULT_PREFIX,
  });
}

/**
 * Builds the worker for `createBookingWorker` and `BullMQScheduler.createWorker`: the
 * options are checked here (named after `owner` in errors), the connection is made fit for a
 * Worker, and a duplicate careslot opened for it is closed with the worker.
 */
export function startBookingWorker(
  owner: string,
  options: SchedulerWorkerOptions & { connection: ConnectionOptions; queueName: string; prefix: string },
): Worker<JobData, unknown, string> {
  const { engine, connection, queueName, prefix, concurrency, onError, ...workerOptions } = options;
  const processor = createBookingProcessor(engine);
  const name = checkQueueName(owner, queueName);
  const keyPrefix = checkPrefix(owner, prefix);
  const parallel = checkPositive(owner, 'concurrency', concurrency ?? 5, true);
  const resolved = workerConnection(connection);
  let worker: BookingWorker;
  try {
    worker = new BookingWorker(name, processor, {
      ...workerOptions,
      connection: resolved.connection,
      prefix: keyPrefix,
      concurrency: parallel,
    });
  } catch (error) {
    resolved.owned?.disconnect();
    throw error;
  }
  worker.owned = resolved.owned;
  const report = onError ?? ((error: Error) => console.error('careslot: BullMQ worker error:', error));
  worker.on('error', (error) => {
    try {
      report(error);
    } catch {
      // A throwing error listener must not crash the process from inside BullMQ.
    }
  });
  return worker;
}
