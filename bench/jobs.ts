// Jobs (real Redis): hold timeouts scheduled and run through BullMQ by careslot, against no-op jobs on a bare BullMQ queue and worker.
import { randomUUID } from 'node:crypto';
import { type Job, type JobsOptions, Queue, Worker } from 'bullmq';
import { type Booking, BookingEngine, JOB_NAMES, MemoryStore, type Schedule, systemClock } from 'careslot';
import { BullMQScheduler, createBookingWorker } from 'careslot/bullmq';
import { Redis } from 'ioredis';
import { RedisServer } from '../test/support/redis-server.js';
import { redisAvailability } from '../test/support/services.js';
import {
  type BenchContext,
  type Benchmark,
  check,
  fmt,
  hexId,
  ID_KIND,
  mergeChecks,
  patientDirectory,
  patientIds,
  pool,
  seedSlots,
  skipped,
  testRig,
} from './fixtures.js';
import { median, perSecond, summarize } from './stats.js';
import { type Check, goalCheck } from './table.js';

/** createBookingWorker's default; the bare worker gets the same. */
const WORKER_CONCURRENCY = 5;
/** Callers adding jobs at once (bookings arriving together). */
const SCHEDULE_CONCURRENCY = 16;
/** 0.1 s: every hold has ended by the time its job comes due. */
const HOLD_MINUTES = 1 / 600;
/** BullMQScheduler's default job options, so the bare queue does the same Redis work per job. */
const JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 86_400, count: 1000 },
  removeOnFail: { age: 604_800, count: 5000 },
};

/**
 * Issue #19's goals, as checks that fail the run: careslot's time per job may be at most this
 * many times a bare BullMQ's, for adding the jobs and for running them.
 */
const GOAL_SCHEDULE_RATIO = 1.3;
const GOAL_RUN_RATIO = 1.3;

/** When the jobs come due: job i at `leadMs + i * gapMs` after scheduling starts. */
interface Plan {
  count: number;
  leadMs: number;
  /** 0: all due at the same instant (a burst). */
  gapMs: number;
}

interface Drain {
  count: number;
  scheduleMs: number;
  /** Wall-clock ms from the first job's due time to the last job done. */
  processMs: number;
  /** Per job: done minus due (its planned due time, or when it was added if that was later). */
  delaysMs: number[];
  /** Jobs added after their planned due time (scheduling took longer than the lead). */
  lateAdds: number;
  /** CPU from the first due time to the last job done, per job: this process (worker and engine) and redis-server. */
  cpu: CpuPerJob;
  checks: Check[];
}

interface CpuPerJob {
  processUs: number;
  redisUs: number;
}

interface Tracker {
  done: Map<string, { result: unknown; at: number; addedAt: number }>;
  failed: Map<string, string>;
  settled: Promise<void>;
}

/** Records what a worker finished, resolving once `count` jobs completed or failed. */
function track(worker: Worker, count: number, timeoutMs: number): Tracker {
  const done = new Map<string, { result: unknown; at: number; addedAt: number }>();
  const failed = new Map<string, string>();
  let finish = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = new Promise<void>((resolve, reject) => {
    finish = () => {
      if (done.size + failed.size >= count) {
        clearTimeout(timer);
        resolve();
      }
    };
    timer = setTimeout(
      () => reject(new Error(`only ${done.size + failed.size} of ${count} jobs finished within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  worker.on('completed', (job: Job, result: unknown) => {
    done.set(String(job.id), { result, at: Date.now(), addedAt: job.timestamp });
    finish();
  });
  worker.on('failed', (job: Job | undefined, error: Error) => {
    if (job) failed.set(String(job.id), error.message);
    finish();
  });
  return { done, failed, settled };
}

/** redis-server's own CPU time so far (user + system), in µs. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6;
}

/**
 * The CPU this process and redis-server spend from `dueAt` (when the jobs start coming due)
 * until `done`, per job: where a run's time goes, beside the wall clock a busy machine blurs.
 */
async function cpuWhileRunning(redis: Redis, dueAt: number, done: Promise<void>, count: number): Promise<CpuPerJob> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now())));
  const process0 = process.cpuUsage();
  const redis0 = await redisCpuUs(redis);
  await done;
  const used = process.cpuUsage(process0);
  const redis1 = await redisCpuUs(redis);
  return { processUs: (used.user + used.system) / count, redisUs: (redis1 - redis0) / count };
}

function drainOf(
  tracker: Tracker,
  planned: ReadonlyMap<string, number>,
  scheduleMs: number,
  cpu: CpuPerJob,
  checks: Check[],
): Drain {
  const entries = [...tracker.done.entries()].map(([id, e]) => ({ ...e, planned: planned.get(id) ?? e.addedAt }));
  const dues = entries.map((e) => Math.max(e.planned, e.addedAt));
  const firstDue = Math.min(...dues);
  const lastDone = Math.max(...entries.map((e) => e.at));
  return {
    count: planned.size,
    scheduleMs,
    processMs: lastDone - firstDue,
    delaysMs: entries.map((e, i) => e.at - (dues[i] as number)),
    lateAdds: entries.filter((e) => e.addedAt > e.planned).length,
    cpu,
    checks,
  };
}

/**
 * careslot: `count` pending bookings whose holds have ended; their hold-timeout jobs are added
 * with BullMQScheduler.schedule (what `book` calls) for one common due time, so they all come
 * due together, and createBookingWorker runs them (engine.runJob → release the hold).
 */
async function careslotDrain(server: RedisServer, plan: Plan): Promise<Drain> {
  const { count } = plan;
  const queueName = `careslot-bench-${randomUUID()}`;
  const store = new MemoryStore();
  const ids = patientIds(count);
  const patients = patientDirectory(ids);
  const slots = await seedSlots(store, count, { from: new Date() });
  const seeding = testRig(store, systemClock, patients, { holdMinutes: HOLD_MINUTES });
  const bookings: Booking[] = new Array(count);
  await pool(count, 8, async (i) => {
    const { booking } = await seeding.engine.book({
      patientId: ids[i] as string,
      scheduleId: (slots[i] as Schedule).id,
    });
    bookings[i] = booking;
  });

  const redis = new Redis(server.connection);
  const scheduler = new BullMQScheduler({ connection: redis, queueName, onError: () => {} });
  const engine = new BookingEngine({
    store,
    payments: seeding.gateway,
    patients,
    scheduler,
    holdMinutes: HOLD_MINUTES,
  });
  const cancelled = new Map<string, number>();
  engine.events.on('booking.cancelled', ({ booking }) =>
    cancelled.set(booking.id, (cancelled.get(booking.id) ?? 0) + 1),
  );
  const effectFailures: unknown[] = [];
  engine.events.on('effect.failed', (failure) => effectFailures.push(failure));
  const worker = createBookingWorker({ engine, connection: server.connection, queueName, onError: () => {} });
  try {
    await worker.waitUntilReady();
    const tracker = track(worker, count, 120_000 + plan.leadMs + count * (20 + plan.gapMs));
    const start = Date.now() + plan.leadMs;
    const planned = new Map<string, number>();
    const cpu = cpuWhileRunning(redis, start, tracker.settled, count);
    cpu.catch(() => {}); // tracker.settled's failure is reported below
    const began = performance.now();
    await pool(count, SCHEDULE_CONCURRENCY, (i) => {
      const bookingId = (bookings[i] as Booking).id;
      const id = `hold-${bookingId}`;
      const dueAt = start + i * plan.gapMs;
      planned.set(id, dueAt);
      return scheduler.schedule({ name: JOB_NAMES.holdTimeout, id, runAt: new Date(dueAt), data: { bookingId } });
    });
    const scheduleMs = performance.now() - began;
    await tracker.settled;

    const results = [...tracker.done.values()].map((d) => d.result);
    const released = results.filter((r) => r === 'released').length;
    const after = await store.findBookings({ status: 'cancelled' });
    const wrong = after.filter(
      (b) => b.cancelReason !== 'payment_timeout' || b.history.filter((h) => h.to === 'cancelled').length !== 1,
    );
    const available = await store.findSchedules({ status: 'available' });
    const twice = [...cancelled.values()].filter((n) => n !== 1).length;
    const checks = [
      check(
        'every hold released exactly once',
        released === count &&
          tracker.done.size === count &&
          cancelled.size === count &&
          twice === 0 &&
          after.length === count &&
          wrong.length === 0 &&
          available.length === count,
        `${fmt(released)} jobs 'released', ${fmt(cancelled.size)} bookings cancelled (${twice} more than once), ` +
          `${fmt(after.length - wrong.length)} cancelled once for payment_timeout, ${fmt(available.length)} slots available`,
      ),
      check(
        'no careslot job failed',
        tracker.failed.size === 0,
        tracker.failed.size === 0
          ? '0 failed'
          : `${tracker.failed.size} failed: ${[...new Set(tracker.failed.values())].slice(0, 2).join('; ')}`,
      ),
      check('no effect failed', effectFailures.length === 0, `${effectFailures.length} effect.failed`),
    ];
    return drainOf(tracker, planned, scheduleMs, await cpu, checks);
  } finally {
    await worker.close();
    await scheduler.close();
    await redis.quit();
  }
}

/** The baseline: `count` no-op jobs added with Queue.add for one due time, run by a bare Worker. */
async function bareDrain(server: RedisServer, plan: Plan): Promise<Drain> {
  const { count } = plan;
  const queueName = `bare-bench-${randomUUID()}`;
  const redis = new Redis(server.connection);
  const queue = new Queue(queueName, { connection: redis });
  const worker = new Worker(queueName, async () => 'done', {
    connection: { ...server.connection, maxRetriesPerRequest: null },
    concurrency: WORKER_CONCURRENCY,
  });
  try {
    await worker.waitUntilReady();
    const tracker = track(worker, count, 120_000 + plan.leadMs + count * (20 + plan.gapMs));
    const start = Date.now() + plan.leadMs;
    const planned = new Map<string, number>();
    const cpu = cpuWhileRunning(redis, start, tracker.settled, count);
    cpu.catch(() => {}); // tracker.settled's failure is reported below
    const began = performance.now();
    await pool(count, SCHEDULE_CONCURRENCY, async (i) => {
      const jobId = `noop-${i}`;
      const dueAt = start + i * plan.gapMs;
      planned.set(jobId, dueAt);
      await queue.add('noop', {}, { ...JOB_OPTIONS, jobId, delay: Math.max(0, dueAt - Date.now()) });
    });
    const scheduleMs = performance.now() - began;
    await tracker.settled;
    const checks = [
      check(
        'bare worker ran every job',
        tracker.done.size === count && tracker.failed.size === 0,
        `${fmt(tracker.done.size)} done, ${tracker.failed.size} failed`,
      ),
    ];
    return drainOf(tracker, planned, scheduleMs, await cpu, checks);
  } finally {
    await worker.close();
    await queue.close();
    await redis.quit();
  }
}

/** One scheduling round: `count` hold-timeout jobs added with BullMQScheduler.schedule on a fresh queue. */
async function scheduleCareslot(redis: Redis, count: number, runAt: Date): Promise<number> {
  const scheduler = new BullMQScheduler({
    connection: redis,
    queueName: `careslot-schedule-${randomUUID()}`,
    onError: () => {},
  });
  await scheduler.queue.waitUntilReady();
  const began = performance.now();
  await pool(count, SCHEDULE_CONCURRENCY, (i) => {
    const bookingId = hexId(ID_KIND.warmup, i);
    return scheduler.schedule({ name: JOB_NAMES.holdTimeout, id: `hold-${bookingId}`, runAt, data: { bookingId } });
  });
  const ms = performance.now() - began;
  await scheduler.queue.obliterate({ force: true });
  await scheduler.close();
  return ms;
}

/** The baseline round: `count` no-op jobs with the same options and delay, with a bare Queue.add. */
async function scheduleBare(redis: Redis, count: number, runAt: Date): Promise<number> {
  const queue = new Queue(`bare-schedule-${randomUUID()}`, { connection: redis });
  await queue.waitUntilReady();
  const began = performance.now();
  await pool(count, SCHEDULE_CONCURRENCY, async (i) => {
    await queue.add(
      'noop',
      {},
      { ...JOB_OPTIONS, jobId: `noop-${i}`, delay: Math.max(0, runAt.getTime() - Date.now()) },
    );
  });
  const ms = performance.now() - began;
  await queue.obliterate({ force: true });
  await queue.close();
  return ms;
}

/**
 * Scheduling alone in `rounds` paired rounds: careslot (BullMQScheduler.schedule: one round trip
 * carrying a one-field read and the add) and a bare Queue.add, each on a fresh queue, the order
 * swapped every round; the jobs are due in an hour, so nothing runs meanwhile. The ratio is the
 * median of the rounds' own ratios, so a slow moment of the machine weighs on one pair only.
 */
async function scheduling(server: RedisServer, count: number, rounds: number, log?: (message: string) => void) {
  const redis = new Redis(server.connection);
  const careslotMs: number[] = [];
  const bareMs: number[] = [];
  const ratios: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const runAt = new Date(Date.now() + 3_600_000);
      const careslotFirst = r % 2 === 0;
      const first = careslotFirst
        ? await scheduleCareslot(redis, count, runAt)
        : await scheduleBare(redis, count, runAt);
      const second = careslotFirst
        ? await scheduleBare(redis, count, runAt)
        : await scheduleCareslot(redis, count, runAt);
      const [c, b] = careslotFirst ? [first, second] : [second, first];
      careslotMs.push(c);
      bareMs.push(b);
      ratios.push(c / b);
      log?.(
        `jobs: scheduling round ${r + 1}/${rounds}: careslot ${Math.round(c)} ms, bare ${Math.round(b)} ms (${(c / b).toFixed(2)}×)`,
      );
    }
  } finally {
    await redis.quit();
  }
  return { careslotMs: median(careslotMs), bareMs: median(bareMs), ratio: median(ratios) };
}

/** Enough lead for scheduling `count` jobs at the warm-up's pace, twice over. */
function leadFor(count: number, warm: Drain): number {
  return Math.ceil(500 + 2 * count * (warm.scheduleMs / warm.count));
}

/** Jobs per second in the paced run: well under both workers' capacity, so delays are latency, not queueing. */
const PACED_RATE = 200;

export const jobs: Benchmark = {
  name: 'jobs',
  async run(ctx: BenchContext) {
    if (!redisAvailability().available) {
      ctx.log('jobs: skipped: no redis-server');
      return [skipped('jobs', 'memory + redis', 'no redis-server on the PATH (or set REDIS_SERVER_BIN)')];
    }
    const count = ctx.quick ? 1_000 : 10_000;
    const warmup = ctx.quick ? 200 : 1_000;
    const paced = ctx.quick ? 200 : 1_000;
    // Scheduling rounds are short (about a second each): more of them, so one slow moment of the machine weighs less.
    const scheduleRounds = ctx.quick ? 5 : 7;
    const runRounds = 3;
    const server = await RedisServer.start();
    try {
      await scheduling(server, warmup, 1);
      const schedule = await scheduling(server, count, scheduleRounds, ctx.log);
      const warmCareslot = await careslotDrain(server, { count: warmup, leadMs: 1_000, gapMs: 0 });
      const warmBare = await bareDrain(server, { count: warmup, leadMs: 1_000, gapMs: 0 });
      // Paired rounds of the burst, the order swapped every round; the ratio is the median of the rounds' own.
      const careslotRuns: Drain[] = [];
      const bareRuns: Drain[] = [];
      const runRatios: number[] = [];
      for (let r = 0; r < runRounds; r++) {
        const careslotFirst = r % 2 === 0;
        const careslotBurst = () => careslotDrain(server, { count, leadMs: leadFor(count, warmCareslot), gapMs: 0 });
        const bareBurst = () => bareDrain(server, { count, leadMs: leadFor(count, warmBare), gapMs: 0 });
        const first = careslotFirst ? await careslotBurst() : await bareBurst();
        const second = careslotFirst ? await bareBurst() : await careslotBurst();
        const [c, b] = careslotFirst ? [first, second] : [second, first];
        careslotRuns.push(c);
        bareRuns.push(b);
        runRatios.push(c.processMs / b.processMs);
        ctx.log(
          `jobs: run round ${r + 1}/${runRounds}, ${count} due at once: careslot ${Math.round(c.processMs)} ms ` +
            `(scheduled in ${Math.round(c.scheduleMs)} ms), bare ${Math.round(b.processMs)} ms (${(c.processMs / b.processMs).toFixed(2)}×)`,
        );
      }
      // Steady: one job due every 1000/PACED_RATE ms, so delays are latency rather than backlog.
      const steady = { count: paced, gapMs: 1000 / PACED_RATE };
      const careslotPaced = await careslotDrain(server, { ...steady, leadMs: leadFor(paced, warmCareslot) });
      const barePaced = await bareDrain(server, { ...steady, leadMs: leadFor(paced, warmBare) });
      ctx.log(`jobs: ${paced} more of each, ${PACED_RATE}/s, for the steady-state delay`);

      const burstDelay = summarize(careslotRuns.flatMap((d) => d.delaysMs));
      const bareBurstDelay = summarize(bareRuns.flatMap((d) => d.delaysMs));
      const steadyDelay = summarize(careslotPaced.delaysMs);
      const bareSteadyDelay = summarize(barePaced.delaysMs);
      const late = [...careslotRuns, ...bareRuns, careslotPaced, barePaced].reduce((n, d) => n + d.lateAdds, 0);
      const careslotRunMs = median(careslotRuns.map((d) => d.processMs));
      const bareRunMs = median(bareRuns.map((d) => d.processMs));
      const runRatio = median(runRatios);
      const pairedOf = (rounds: number) => `median of ${rounds} paired rounds`;
      const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
      const us = (totalMs: number) => `${Math.round((totalMs * 1000) / count)} µs/job`;
      return [
        {
          benchmark: 'jobs',
          store: 'memory + redis',
          params: {
            jobs: count,
            workerConcurrency: WORKER_CONCURRENCY,
            scheduleConcurrency: SCHEDULE_CONCURRENCY,
            scheduleRounds,
            runRounds,
            warmupJobs: warmup,
            pacedJobs: paced,
            pacedRatePerSecond: PACED_RATE,
            goalScheduleRatio: GOAL_SCHEDULE_RATIO,
            goalRunRatio: GOAL_RUN_RATIO,
          },
          metrics: [
            {
              name: 'careslot: schedule hold timeouts',
              value: perSecond(count, schedule.careslotMs),
              unit: 'jobs/s',
              note: `BullMQScheduler.schedule (one round trip: a one-field read with the add), ${SCHEDULE_CONCURRENCY} callers, ${pairedOf(scheduleRounds)}`,
            },
            {
              name: 'baseline: bare Queue.add',
              value: perSecond(count, schedule.bareMs),
              unit: 'jobs/s',
              note: `Queue.add, same job options, ${pairedOf(scheduleRounds)}`,
            },
            {
              name: 'ratio schedule careslot/bare',
              value: schedule.ratio,
              unit: '×',
              note: `time per job, ${pairedOf(scheduleRounds)} (careslot ${us(schedule.careslotMs)}, bare ${us(schedule.bareMs)})`,
            },
            {
              name: 'careslot: run hold timeouts',
              value: perSecond(count, careslotRunMs),
              unit: 'jobs/s',
              note: `createBookingWorker, concurrency ${WORKER_CONCURRENCY}; all ${fmt(count)} due at once, ${pairedOf(runRounds)}`,
            },
            {
              name: 'baseline: bare worker, no-op jobs',
              value: perSecond(count, bareRunMs),
              unit: 'jobs/s',
              note: `Worker, concurrency ${WORKER_CONCURRENCY}, ${pairedOf(runRounds)}`,
            },
            {
              name: 'ratio run careslot/bare',
              value: runRatio,
              unit: '×',
              note: `time per job, ${pairedOf(runRounds)} (careslot ${us(careslotRunMs)}, bare ${us(bareRunMs)})`,
            },
            {
              name: 'careslot: CPU per job run, worker process',
              value: median(careslotRuns.map((d) => d.cpu.processUs)),
              unit: 'µs',
              note:
                `createBookingWorker, engine and memory store in one process (bare worker ${Math.round(median(bareRuns.map((d) => d.cpu.processUs)))} µs); ` +
                `redis-server ${Math.round(median(careslotRuns.map((d) => d.cpu.redisUs)))} µs (bare ${Math.round(median(bareRuns.map((d) => d.cpu.redisUs)))} µs); median of ${runRounds} rounds`,
            },
            {
              name: 'careslot: due → done p50',
              value: burstDelay.p50Ms,
              unit: 'ms',
              note: `the bursts above, all ${runRounds} rounds (baseline ${ms(bareBurstDelay.p50Ms)})`,
            },
            {
              name: 'careslot: due → done p99',
              value: burstDelay.p99Ms,
              unit: 'ms',
              note: `the bursts above, all ${runRounds} rounds (baseline ${ms(bareBurstDelay.p99Ms)})`,
            },
            {
              name: 'careslot: due → done p50, steady',
              value: steadyDelay.p50Ms,
              unit: 'ms',
              note: `${fmt(paced)} jobs due at ${PACED_RATE}/s (baseline ${ms(bareSteadyDelay.p50Ms)})`,
            },
            {
              name: 'careslot: due → done p99, steady',
              value: steadyDelay.p99Ms,
              unit: 'ms',
              note: `baseline ${ms(bareSteadyDelay.p99Ms)}`,
            },
            ...(late > 0
              ? [{ name: 'jobs added after their due time', value: late, note: 'scheduling outran the lead' }]
              : []),
          ],
          checks: [
            ...mergeChecks(
              [warmCareslot, warmBare, careslotPaced, barePaced, ...careslotRuns, ...bareRuns].map((d) => d.checks),
            ),
            goalCheck(
              'schedule careslot/bare, time per job',
              schedule.ratio,
              '≤',
              GOAL_SCHEDULE_RATIO,
              '×',
              pairedOf(scheduleRounds),
            ),
            goalCheck('run careslot/bare, time per job', runRatio, '≤', GOAL_RUN_RATIO, '×', pairedOf(runRounds)),
          ],
        },
      ];
    } finally {
      await server.dispose();
    }
  },
};
