// The JobScheduler conformance suite: every scheduler runs exactly these tests, observed through the jobs it runs.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOB_NAMES, type JobData, type JobName, type JobScheduler } from '../../src/ports/job-scheduler.js';

/** A job as the scheduler handed it to its runner. */
export interface RanJob {
  name: JobName;
  data: JobData;
}

/** One scheduler under test, with its own notion of time. */
export interface SchedulerRun {
  scheduler: JobScheduler;
  /** The `runAt` of a job due `ms` after this run began, on the scheduler's clock. */
  at(ms: number): Date;
  /**
   * Lets the scheduler's time reach `ms` after the run began and resolves once every job due
   * by then has run (and no later one early). Returns every job run so far, in the order run.
   */
  runUntil(ms: number): Promise<RanJob[]>;
  /** Stops whatever the run started (workers, queues, timers). */
  close(): Promise<void>;
}

export interface SchedulerHarness {
  /** A scheduler with no jobs, whose runs are recorded (called before each test). */
  fresh(): Promise<SchedulerRun>;
  /**
   * On a fresh scheduler whose recurring jobs really repeat: calls `register` (which registers
   * recurring jobs every `everyMs`), lets `periods` intervals pass, and returns the names of the
   * jobs run, in order. Implementations differ on whether the first run is at once or after one
   * interval, so the suite allows one run more or less than `periods`.
   */
  repeat(register: (scheduler: JobScheduler, everyMs: number) => Promise<void>, periods: number): Promise<JobName[]>;
  /** Closes whatever the harness opened for all tests. */
  close?(): Promise<void>;
}

const hold = (bookingId: string) => ({ name: JOB_NAMES.holdTimeout, id: `hold-${bookingId}`, data: { bookingId } });
const complete = (scheduleId: string) => ({
  name: JOB_NAMES.completeBooked,
  id: `complete-${scheduleId}`,
  data: { scheduleId },
});

export function describeSchedulerConformance(name: string, harness: SchedulerHarness): void {
  describe(`JobScheduler conformance: ${name}`, () => {
    let run: SchedulerRun;
    beforeEach(async () => {
      run = await harness.fresh();
    });
    afterEach(async () => {
      await run.close();
    });
    afterAll(async () => {
      await harness.close?.();
    });

    it('runs a job at its runAt with its name and data, and not before', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...hold('b1'), runAt: at(300) });
      expect(await run.runUntil(150)).toEqual([]);
      expect(await run.runUntil(450)).toEqual([{ name: JOB_NAMES.holdTimeout, data: { bookingId: 'b1' } }]);
    });

    it('runs a job whose runAt has already passed as soon as time moves', async () => {
      await run.scheduler.schedule({ ...complete('s1'), runAt: run.at(-5_000) });
      expect(await run.runUntil(0)).toEqual([{ name: JOB_NAMES.completeBooked, data: { scheduleId: 's1' } }]);
    });

    it('runs a job scheduled twice with the same id once, as first scheduled (deterministic ids)', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...hold('b1'), runAt: at(300) });
      await scheduler.schedule({ ...hold('b1'), runAt: at(150), data: { bookingId: 'other' } });
      await scheduler.schedule({ ...hold('b1'), runAt: at(300) });
      expect(await run.runUntil(200)).toEqual([]);
      expect(await run.runUntil(450)).toEqual([{ name: JOB_NAMES.holdTimeout, data: { bookingId: 'b1' } }]);
      expect(await run.runUntil(600)).toHaveLength(1);
    });

    it('runs jobs with different ids each once, in runAt order whatever order they were scheduled in', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...hold('late'), runAt: at(450) });
      await scheduler.schedule({ ...complete('early'), runAt: at(150) });
      await scheduler.schedule({ ...hold('middle'), runAt: at(300) });
      const ran = await run.runUntil(600);
      expect(ran.map((job) => job.data.bookingId ?? job.data.scheduleId)).toEqual(['early', 'middle', 'late']);
      expect(ran.map((job) => job.name)).toEqual([
        JOB_NAMES.completeBooked,
        JOB_NAMES.holdTimeout,
        JOB_NAMES.holdTimeout,
      ]);
    });

    it('cancel removes a waiting job, and leaves the other jobs alone', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...hold('cancelled'), runAt: at(300) });
      await scheduler.schedule({ ...hold('kept'), runAt: at(300) });
      await scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: 'hold-cancelled' });
      expect(await run.runUntil(450)).toEqual([{ name: JOB_NAMES.holdTimeout, data: { bookingId: 'kept' } }]);
    });

    it('cancel is a no-op when the job is absent, was cancelled already or already ran', async () => {
      const { scheduler, at } = run;
      await expect(scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: 'hold-never' })).resolves.toBeUndefined();
      await scheduler.schedule({ ...hold('b1'), runAt: at(0) });
      expect(await run.runUntil(0)).toHaveLength(1);
      await expect(scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: 'hold-b1' })).resolves.toBeUndefined();
      await scheduler.schedule({ ...hold('b2'), runAt: at(300) });
      await scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: 'hold-b2' });
      await expect(scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: 'hold-b2' })).resolves.toBeUndefined();
      expect(await run.runUntil(450)).toHaveLength(1);
    });

    it('moves a job rescheduled by cancel then schedule: it runs once, at the new time, with the new data', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...complete('s1'), runAt: at(150) });
      await scheduler.cancel({ name: JOB_NAMES.completeBooked, id: 'complete-s1' });
      await scheduler.schedule({ ...complete('s1'), runAt: at(450), data: { scheduleId: 's1', bookingId: 'b1' } });
      expect(await run.runUntil(300)).toEqual([]);
      expect(await run.runUntil(600)).toEqual([
        { name: JOB_NAMES.completeBooked, data: { scheduleId: 's1', bookingId: 'b1' } },
      ]);
    });

    it('schedules an id again after its job ran, and runs it again at the new time', async () => {
      const { scheduler, at } = run;
      await scheduler.schedule({ ...complete('s1'), runAt: at(0) });
      expect(await run.runUntil(0)).toHaveLength(1);
      await scheduler.schedule({ ...complete('s1'), runAt: at(300) });
      expect(await run.runUntil(150)).toHaveLength(1);
      expect(await run.runUntil(450)).toEqual([
        { name: JOB_NAMES.completeBooked, data: { scheduleId: 's1' } },
        { name: JOB_NAMES.completeBooked, data: { scheduleId: 's1' } },
      ]);
    });

    it('keeps one recurring job per name however often it is registered (every process start)', async () => {
      const periods = 3;
      const ran = await harness.repeat(async (scheduler, everyMs) => {
        for (let start = 0; start < 3; start++) {
          await scheduler.scheduleRecurring({ name: JOB_NAMES.reconcile, everyMs });
          await scheduler.scheduleRecurring({ name: JOB_NAMES.cleanup, everyMs });
        }
      }, periods);
      for (const job of [JOB_NAMES.reconcile, JOB_NAMES.cleanup]) {
        const runs = ran.filter((n) => n === job).length;
        expect(runs, `${job} ran ${runs} times in ${periods} intervals`).toBeGreaterThanOrEqual(periods - 1);
        expect(runs, `${job} ran ${runs} times in ${periods} intervals`).toBeLessThanOrEqual(periods + 1);
      }
      expect(ran.every((n) => n === JOB_NAMES.reconcile || n === JOB_NAMES.cleanup)).toBe(true);
    });
  });
}
