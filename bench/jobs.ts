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
import type { Check } from './table.js';

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
  checks: Check[];
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

function drainOf(tracker: Tracker, planned: ReadonlyMap<string, number>, scheduleMs: number, checks: Check[]): Drain {
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
    return drainOf(tracker, planned, scheduleMs, checks);
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
    return drainOf(tracker, planned, scheduleMs, checks);
  } finally {
    await worker.close();
    await queue.close();
    await redis.quit();
  }
}

/**
 * Scheduling alone, `rounds` times, alternating careslot (BullMQScheduler.schedule: a state
 * check, then add) and bare Queue.add on fresh queues; the jobs are due in an hour, so nothing
 * runs meanwhile. Each queue is obliterated afterwards.
 */
async function scheduling(server: RedisServer, count: number, rounds: number) {
  const redis = new Redis(server.connection);
  const careslotMs: number[] = [];
  const bareMs: number[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const scheduler = new BullMQScheduler({
        connection: redis,
        queueName: `careslot-schedule-${randomUUID()}`,
        onError: () => {},
      });
      const runAt = new Date(Date.now() + 3_600_000);
      let began = performance.now();
      await pool(count, SCHEDULE_CONCURRENCY, (i) => {
        const bookingId = hexId(ID_KIND.warmup, i);
        return scheduler.schedule({ name: JOB_NAMES.holdTimeout, id: `hold-${bookingId}`, runAt, data: { bookingId } });
      });
      careslotMs.push(performance.now() - began);
      await scheduler.queue.obliterate({ force: true });
      await scheduler.close();

      const queue = new Queue(`bare-schedule-${randomUUID()}`, { connection: redis });
      began = performance.now();
      await pool(count, SCHEDULE_CONCURRENCY, async (i) => {
        await queue.add('noop', {}, { ...JOB_OPTIONS, jobId: `noop-${i}`, delay: 3_600_000 });
      });
      bareMs.push(performance.now() - began);
      await queue.obliterate({ force: true });
      await queue.close();
    }
  } finally {
    await redis.quit();
  }
  return { careslotMs: median(careslotMs), bareMs: median(bareMs) };
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
    const server = await RedisServer.start();
    try {
      const rounds = 3;
      await scheduling(server, warmup, 1);
      const schedule = await scheduling(server, count, rounds);
      ctx.log(
        `jobs: scheduling ${count} jobs: careslot ${Math.round(schedule.careslotMs)} ms, bare ${Math.round(schedule.bareMs)} ms`,
      );
      const warmCareslot = await careslotDrain(server, { count: warmup, leadMs: 1_000, gapMs: 0 });
      const warmBare = await bareDrain(server, { count: warmup, leadMs: 1_000, gapMs: 0 });
      const careslot = await careslotDrain(server, { count, leadMs: leadFor(count, warmCareslot), gapMs: 0 });
      ctx.log(
        `jobs: careslot, ${count} holds: scheduled in ${Math.round(careslot.scheduleMs)} ms, run in ${Math.round(careslot.processMs)} ms`,
      );
      const bare = await bareDrain(server, { count, leadMs: leadFor(count, warmBare), gapMs: 0 });
      ctx.log(
        `jobs: bare, ${count} no-ops: scheduled in ${Math.round(bare.scheduleMs)} ms, run in ${Math.round(bare.processMs)} ms`,
      );
      // Steady: one job due every 1000/PACED_RATE ms, so delays are latency rather than backlog.
      const steady = { count: paced, gapMs: 1000 / PACED_RATE };
      const careslotPaced = await careslotDrain(server, { ...steady, leadMs: leadFor(paced, warmCareslot) });
      const barePaced = await bareDrain(server, { ...steady, leadMs: leadFor(paced, warmBare) });
      ctx.log(`jobs: ${paced} more of each, ${PACED_RATE}/s, for the steady-state delay`);

      const burstDelay = summarize(careslot.delaysMs);
      const bareBurstDelay = summarize(bare.delaysMs);
      const steadyDelay = summarize(careslotPaced.delaysMs);
      const bareSteadyDelay = summarize(barePaced.delaysMs);
      const late = [careslot, bare, careslotPaced, barePaced].reduce((n, d) => n + d.lateAdds, 0);
      const processRatio = careslot.processMs / bare.processMs;
      const scheduleRatio = schedule.careslotMs / schedule.bareMs;
      const of = rounds > 1 ? `, median of ${rounds} rounds` : '';
      const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
      return [
        {
          benchmark: 'jobs',
          store: 'memory + redis',
          params: {
            jobs: count,
            workerConcurrency: WORKER_CONCURRENCY,
            scheduleConcurrency: SCHEDULE_CONCURRENCY,
            scheduleRounds: rounds,
            warmupJobs: warmup,
            pacedJobs: paced,
            pacedRatePerSecond: PACED_RATE,
          },
          metrics: [
            {
              name: 'careslot: schedule hold timeouts',
              value: perSecond(count, schedule.careslotMs),
              unit: 'jobs/s',
              note: `BullMQScheduler.schedule (state check + add), ${SCHEDULE_CONCURRENCY} callers${of}`,
            },
            {
              name: 'baseline: bare Queue.add',
              value: perSecond(count, schedule.bareMs),
              unit: 'jobs/s',
              note: `Queue.add, same job options${of}`,
            },
            { name: 'ratio schedule careslot/bare', value: scheduleRatio, unit: '×', note: 'time per job' },
            {
              name: 'careslot: run hold timeouts',
              value: perSecond(count, careslot.processMs),
              unit: 'jobs/s',
              note: `createBookingWorker, concurrency ${WORKER_CONCURRENCY}; all ${count.toLocaleString('en-US')} due at once`,
            },
            {
              name: 'baseline: bare worker, no-op jobs',
              value: perSecond(count, bare.processMs),
              unit: 'jobs/s',
              note: `Worker, concurrency ${WORKER_CONCURRENCY}`,
            },
            { name: 'ratio run careslot/bare', value: processRatio, unit: '×', note: 'time per job' },
            {
              name: 'careslot: due → done p50',
              value: burstDelay.p50Ms,
              unit: 'ms',
              note: `the burst above (baseline ${ms(bareBurstDelay.p50Ms)})`,
            },
            {
              name: 'careslot: due → done p99',
              value: burstDelay.p99Ms,
              unit: 'ms',
              note: `the burst above (baseline ${ms(bareBurstDelay.p99Ms)})`,
            },
            {
              name: 'careslot: due → done p50, steady',
              value: steadyDelay.p50Ms,
              unit: 'ms',
              note: `${paced.toLocaleString('en-US')} jobs due at ${PACED_RATE}/s (baseline ${ms(bareSteadyDelay.p50Ms)})`,
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
          checks: mergeChecks([warmCareslot, warmBare, careslotPaced, barePaced, careslot, bare].map((d) => d.checks)),
        },
      ];
    } finally {
      await server.dispose();
    }
  },
};
