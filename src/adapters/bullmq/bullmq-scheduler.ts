// BullMQScheduler: the JobScheduler port on a BullMQ queue in the host's Redis.
import { type ConnectionOptions, type JobsOptions, type KeepJobs, Queue, type Worker } from 'bullmq';
import type { JobData, JobName, JobScheduler, RecurringJob, ScheduledJob } from '../../ports/job-scheduler.js';
import { type SchedulerWorkerOptions, startBookingWorker } from './booking-worker.js';
import {
  checkConnection,
  checkPositive,
  checkPrefix,
  checkQueueName,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE_NAME,
  isClientInstance,
} from './defaults.js';

/** How many finished jobs BullMQ keeps: `true` removes at once, a number keeps that many. */
export type KeepJobsOption = boolean | number | KeepJobs;

export interface BullMQSchedulerOptions {
  /**
   * The host's Redis: an ioredis instance (shared, never closed by careslot) or connection
   * options (careslot opens its own connection, with `enableOfflineQueue: false` so calls
   * fail fast during an outage, and closes it in `close()`). Give this or `queue`.
   */
  connection?: ConnectionOptions;
  /**
   * A BullMQ `Queue` the host already made (never closed by careslot). Its name and prefix
   * win over `queueName` and `prefix`. Give this or `connection`.
   */
  queue?: Queue;
  /**
   * The queue's name. `scheduler.createWorker()` works on it; a worker made with
   * `createBookingWorker` must be given the same.
   * @defaultValue 'careslot'
   */
  queueName?: string;
  /**
   * Prefix of every Redis key of the queue. `scheduler.createWorker()` uses it; a worker made
   * with `createBookingWorker` must be given the same.
   * @defaultValue 'bull' (BullMQ's default)
   */
  prefix?: string;
  /**
   * How many times a job is tried before it fails for good (transient errors only: the worker
   * fails a `BookingError` that can never succeed at once).
   * @defaultValue 5
   */
  attempts?: number;
  /**
   * First retry delay in ms; each further retry waits twice as long (BullMQ exponential backoff).
   * @defaultValue 1000
   */
  backoffMs?: number;
  /**
   * Completed jobs kept for inspection. A kept job never blocks scheduling its id again:
   * `schedule` replaces a finished job with the same id.
   * @defaultValue `{ age: 86_400, count: 1000 }` (a day, at most 1000)
   */
  removeOnComplete?: KeepJobsOption;
  /**
   * Failed jobs kept for inspection (the sweep has done, or will do, their work).
   * @defaultValue `{ age: 604_800, count: 5000 }` (a week, at most 5000)
   */
  removeOnFail?: KeepJobsOption;
  /**
   * How long `schedule`, `cancel` and `scheduleRecurring` wait for Redis before failing. The
   * booking stands; the job stays in the engine's outbox and is scheduled again with backoff
   * (and the reconciliation sweep does the job's work anyway).
   * @defaultValue 2000
   */
  timeoutMs?: number;
  /**
   * Receives errors the queue's own connection emits (e.g. reconnect failures). Only used
   * when careslot creates the queue.
   * @defaultValue logs with `console.error`
   */
  onError?: (error: Error) => void;
}

const OWNER = 'BullMQScheduler';

interface WorkerQueue {
  connection: ConnectionOptions;
  queueName: string;
  prefix: string;
}

function checkKeep(name: string, value: unknown): KeepJobsOption {
  const valid =
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isInteger(value) && value >= 0) ||
    (value !== null && typeof value === 'object' && ('count' in value || 'age' in value));
  if (!valid) {
    throw new TypeError(`${OWNER}: ${name} must be true, false, a count, or { age?, count? } (got ${String(value)})`);
  }
  return value as KeepJobsOption;
}

/** The job's data as a plain object without undefined fields (what Redis stores as JSON). */
function plainData(data: JobData): JobData {
  const out: JobData = {};
  if (data?.bookingId !== undefined) out.bookingId = data.bookingId;
  if (data?.scheduleId !== undefined) out.scheduleId = data.scheduleId;
  return out;
}

/**
 * Runs careslot's timed jobs on BullMQ, so holds time out and slots expire even when the
 * process that booked them is gone. Every call is idempotent: job ids are deterministic
 * (`hold-<bookingId>`, `complete-<scheduleId>`, `expire-<scheduleId>`), recurring jobs are
 * BullMQ job schedulers keyed by job name. Workers (`scheduler.createWorker()`) run the jobs.
 *
 * The host owns its Redis: an ioredis instance or a `Queue` passed in is never closed here.
 *
 * @example
 * ```ts
 * const scheduler = new BullMQScheduler({ connection: redis });
 * const engine = new BookingEngine({ store, payments, patients, scheduler });
 * await engine.start(); // registers the daily clean-up and the sweep, once, in every process
 * ```
 */
export class BullMQScheduler implements JobScheduler {
  /** The queue jobs are added to (for dashboards and tests). */
  readonly queue: Queue<JobData, unknown, string>;
  private readonly ownsQueue: boolean;
  private readonly jobOptions: JobsOptions;
  private readonly timeoutMs: number;
  /**
   * Where workers find this queue: the connection as the host gave it (without the queue's
   * fail-fast setting), or null for a host's Queue, whose own settings are read on demand.
   */
  private readonly ownQueueSettings: WorkerQueue | null;

  constructor(options: BullMQSchedulerOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`${OWNER}: pass an options object ({ connection } or { queue })`);
    }
    if (options.connection !== undefined && options.queue !== undefined) {
      throw new TypeError(`${OWNER}: give either connection or queue, not both`);
    }
    const attempts = checkPositive(OWNER, 'attempts', options.attempts ?? 5, true);
    const backoffMs = checkPositive(OWNER, 'backoffMs', options.backoffMs ?? 1000, true);
    this.timeoutMs = checkPositive(OWNER, 'timeoutMs', options.timeoutMs ?? 2000, true);
    this.jobOptions = {
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      removeOnComplete: checkKeep('removeOnComplete', options.removeOnComplete ?? { age: 86_400, count: 1000 }),
      removeOnFail: checkKeep('removeOnFail', options.removeOnFail ?? { age: 604_800, count: 5000 }),
    };

    if (options.queue !== undefined) {
      const queue = options.queue as unknown;
      if (!(queue instanceof Queue) && typeof (queue as Partial<Queue>)?.add !== 'function') {
        throw new TypeError(`${OWNER}: queue must be a BullMQ Queue`);
      }
      this.queue = options.queue as Queue<JobData, unknown, string>;
      this.ownsQueue = false;
      this.ownQueueSettings = null;
      return;
    }
    const connection = checkConnection(
      OWNER,
      options.connection,
      'pass your ioredis instance ({ connection: redis }), connection options ({ connection: { host, port } }) or a BullMQ Queue ({ queue })',
    );
    const queueName = checkQueueName(OWNER, options.queueName ?? DEFAULT_QUEUE_NAME);
    const prefix = checkPrefix(OWNER, options.prefix ?? DEFAULT_PREFIX);
    // Our own connection fails fast while Redis is down instead of queueing commands offline.
    const ownConnection = isClientInstance(connection) ? connection : { enableOfflineQueue: false, ...connection };
    this.ownQueueSettings = { connection, queueName, prefix };
    this.queue = new Queue<JobData, unknown, string>(queueName, { connection: ownConnection, prefix });
    this.ownsQueue = true;
    const onError = options.onError ?? ((error: Error) => console.error('careslot: BullMQ queue error:', error));
    this.queue.on('error', (error) => {
      try {
        onError(error);
      } catch {
        // A throwing error listener must not crash the process from inside BullMQ.
      }
    });
  }

  /**
   * Adds a delayed job (`delay` = runAt - now, at least 0). While a job with this id waits or
   * runs, nothing is added; a finished job kept by `removeOnComplete`/`removeOnFail` is
   * replaced, so an id can be scheduled again later.
   *
   * One round trip in the common case (a new id, or one whose job still waits or runs): the
   * add goes out right behind a one-field read of the job's hash, on the same connection, so
   * Redis answers both together. BullMQ's `add` with an existing id adds nothing and hands back
   * a Job built from our own arguments (its timestamp, data and opts are ours, not the stored
   * job's), so only that read tells a kept finished job from a pending one. Only then does
   * `schedule` remove the finished job and add again (two more round trips).
   */
  async schedule(job: ScheduledJob): Promise<void> {
    if (typeof job.id !== 'string' || job.id.length === 0 || job.id.includes(':')) {
      throw new TypeError(`${OWNER}: job id must be a non-empty string without ':' (got ${JSON.stringify(job.id)})`);
    }
    const runAt = job.runAt instanceof Date ? job.runAt.getTime() : Number.NaN;
    if (!Number.isFinite(runAt)) throw new TypeError(`${OWNER}: job ${job.id} needs a valid runAt Date`);
    const data = plainData(job.data);
    const add = () =>
      this.queue.add(job.name, data, { ...this.jobOptions, jobId: job.id, delay: Math.max(0, runAt - Date.now()) });
    await this.withTimeout(`schedule ${job.name} (${job.id})`, async () => {
      const client = await this.queue.getBackend().client;
      // Sent first (ioredis writes in call order; BullMQ's add awaits before it sends), so Redis
      // reads the id just before it runs the add. BullMQ sets `finishedOn` only when it moves a
      // job to completed or failed, and deletes it when a finished job is retried. (A job that
      // finishes between the read and the add still holds its id: any check-then-add has that.)
      const [finishedOn] = await Promise.all([client.hget(this.queue.toKey(job.id), 'finishedOn'), add()]);
      if (finishedOn === null) return;
      // The id was kept by a finished job, so the add above was a no-op duplicate: replace it.
      await this.queue.remove(job.id);
      await add();
    });
  }

  /**
   * Removes the job with this id when it is waiting or delayed. A job that is running right
   * now cannot be removed (BullMQ holds its lock); it re-reads state, so that is harmless.
   */
  async cancel(args: { name: JobName; id: string }): Promise<void> {
    if (typeof args.id !== 'string' || args.id.length === 0 || args.id.includes(':')) return;
    await this.withTimeout(`cancel ${args.name} (${args.id})`, async () => {
      await this.queue.remove(args.id);
    });
  }

  /**
   * Upserts a BullMQ job scheduler whose id is the job name: calling it from every process
   * on every start keeps one scheduler (and one next job); a new `everyMs` replaces the old.
   */
  async scheduleRecurring(job: RecurringJob): Promise<void> {
    const everyMs = checkPositive(OWNER, `everyMs of ${job.name}`, job.everyMs, true);
    await this.withTimeout(`scheduleRecurring ${job.name}`, async () => {
      await this.queue.upsertJobScheduler(
        job.name,
        { every: everyMs },
        { name: job.name, data: {}, opts: { ...this.jobOptions } },
      );
    });
  }

  /**
   * Starts a BullMQ `Worker` that runs careslot's jobs on this scheduler's queue: its name,
   * prefix and Redis connection are the scheduler's, so they are declared once. Everything
   * else is as in `createBookingWorker` (retries, `UnrecoverableError`, graceful `close()`).
   *
   * Connections: a Worker blocks on Redis, so it needs its own connection with
   * `maxRetriesPerRequest: null`.
   * - Connection options: the worker opens its own connections from the same options (with
   *   `maxRetriesPerRequest: null`, and without the scheduler's `enableOfflineQueue: false`, so
   *   it waits out a Redis restart) and closes them in `worker.close()`.
   * - The host's ioredis instance: never changed or closed. When it lacks
   *   `maxRetriesPerRequest: null` the worker runs on a duplicate with it, closed by
   *   `worker.close()`; BullMQ duplicates it once more for its blocking connection and closes
   *   that too.
   * - The host's `Queue`: the worker uses that queue's name, prefix and connection, as above.
   *
   * The worker is independent of the scheduler: close each on its own (`worker.close()` first
   * to finish the running jobs). Call it in as many processes as you like.
   *
   * @example
   * ```ts
   * const scheduler = new BullMQScheduler({ connection: redis, queueName: 'clinic-jobs' });
   * const engine = new BookingEngine({ store, payments, patients, scheduler });
   * const worker = scheduler.createWorker({ engine, concurrency: 5 });
   * process.once('SIGTERM', async () => {
   *   await worker.close();
   *   await scheduler.close();
   *   process.exit(0);
   * });
   * ```
   */
  createWorker(options: SchedulerWorkerOptions): Worker<JobData, unknown, string> {
    const owner = `${OWNER}.createWorker`;
    if (options === null || typeof options !== 'object') {
      throw new TypeError(`${owner}: pass an options object ({ engine, concurrency? })`);
    }
    for (const key of ['connection', 'queueName', 'prefix'] as const) {
      if ((options as Partial<Record<typeof key, unknown>>)[key] !== undefined) {
        throw new TypeError(
          `${owner}: the worker uses the scheduler's ${key}; set it once on new BullMQScheduler({ ${key} }) (or use createBookingWorker for another queue)`,
        );
      }
    }
    return startBookingWorker(owner, { ...options, ...this.workerQueue(owner) });
  }

  /** Closes the queue when careslot created it; a host's connection or Queue stays open. */
  async close(): Promise<void> {
    if (!this.ownsQueue) return;
    await this.queue.close();
  }

  /** Where a worker finds this scheduler's jobs. */
  private workerQueue(owner: string): WorkerQueue {
    if (this.ownQueueSettings) return this.ownQueueSettings;
    const opts = (this.queue as Partial<Queue>).opts;
    const connection = opts?.connection;
    if (connection === undefined || connection === null || typeof connection !== 'object') {
      throw new TypeError(
        `${owner}: the queue given to BullMQScheduler has no connection settings; use createBookingWorker({ engine, connection, queueName, prefix })`,
      );
    }
    return { connection, queueName: this.queue.name, prefix: opts?.prefix ?? DEFAULT_PREFIX };
  }

  private async withTimeout(what: string, work: () => Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const running = work();
    // The command may still settle after we gave up on it; that outcome is not ours to report.
    running.catch(() => {});
    try {
      await Promise.race([
        running,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${OWNER}: Redis did not answer within ${this.timeoutMs} ms (${what})`)),
            this.timeoutMs,
          );
          timer.unref?.();
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
