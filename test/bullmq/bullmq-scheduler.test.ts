// BullMQScheduler on a real redis-server beyond the port's conformance suite: what BullMQ stores, reuse, recurring job schedulers, connection ownership.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { BullMQScheduler, createBookingWorker } from '../../src/adapters/bullmq/index.js';
import { JOB_NAMES, type JobData, type JobName } from '../../src/index.js';
import { createEnv, DOCTOR, describeWithRedis, logWorker, useRedisEnv, waitFor } from './harness.js';

const inMs = (ms: number) => new Date(Date.now() + ms);

describeWithRedis('BullMQScheduler on a real Redis', () => {
  const redis = useRedisEnv();
  const { open } = redis;

  it('adds one delayed job per id however often it is scheduled, with the original name, data, delay and retry options', async () => {
    const { scheduler } = await open({ scheduler: { attempts: 4, backoffMs: 250 } });
    const job = { name: JOB_NAMES.holdTimeout, id: 'hold-b1', runAt: inMs(60_000), data: { bookingId: 'b1' } };
    await scheduler.schedule(job);
    await scheduler.schedule(job);
    await scheduler.schedule({ ...job, runAt: inMs(120_000) });

    expect(await scheduler.queue.getJobCounts('delayed', 'waiting')).toEqual({ delayed: 1, waiting: 0 });
    const stored = await scheduler.queue.getJob('hold-b1');
    expect(stored?.name).toBe('makeDoctorAppointmentScheduleAvailableIfNotBooked');
    expect(stored?.data).toEqual({ bookingId: 'b1' });
    expect(stored?.opts.delay).toBeGreaterThan(58_000);
    expect(stored?.opts.delay).toBeLessThanOrEqual(60_000);
    expect(stored?.opts.attempts).toBe(4);
    expect(stored?.opts.backoff).toEqual({ type: 'exponential', delay: 250 });
  });

  it('runs a job whose time has already passed at once (delay clamped at 0)', async () => {
    const { scheduler } = await open();
    await scheduler.schedule({
      name: JOB_NAMES.expireUnbooked,
      id: 'expire-s1',
      runAt: inMs(-5_000),
      data: { scheduleId: 's1' },
    });
    expect(await scheduler.queue.getJobState('expire-s1')).toBe('waiting');
  });

  it("rejects an id containing ':' before asking Redis (BullMQ forbids it in custom ids)", async () => {
    const { scheduler } = await open();
    await expect(
      scheduler.schedule({ name: JOB_NAMES.holdTimeout, id: 'hold:b1', runAt: inMs(1_000), data: { bookingId: 'b1' } }),
    ).rejects.toThrow(/without ':'/);
    expect(await scheduler.queue.getJobCountByTypes('delayed', 'waiting')).toBe(0);
  });

  it("moves a booking's end-of-slot job: the old slot's job is cancelled and the new slot's waits for the new end", async () => {
    // What a reschedule does through the port: cancel complete-<old>, schedule complete-<new>.
    const { scheduler } = await open();
    await scheduler.schedule({
      name: JOB_NAMES.completeBooked,
      id: 'complete-old',
      runAt: inMs(60_000),
      data: { scheduleId: 'old' },
    });
    await scheduler.cancel({ name: JOB_NAMES.completeBooked, id: 'complete-old' });
    await scheduler.schedule({
      name: JOB_NAMES.completeBooked,
      id: 'complete-new',
      runAt: inMs(3_600_000),
      data: { scheduleId: 'new' },
    });
    expect(await scheduler.queue.getJobState('complete-old')).toBe('unknown');
    const moved = await scheduler.queue.getJob('complete-new');
    expect(moved?.data).toEqual({ scheduleId: 'new' });
    expect(moved?.opts.delay).toBeGreaterThan(3_590_000);
    // The old slot's job can come back later (e.g. the old slot is booked again).
    await scheduler.schedule({
      name: JOB_NAMES.completeBooked,
      id: 'complete-old',
      runAt: inMs(60_000),
      data: { scheduleId: 'old' },
    });
    expect(await scheduler.queue.getJobState('complete-old')).toBe('delayed');
  });

  it('schedules an id again after its job completed or failed, although finished jobs are kept for inspection', async () => {
    const { scheduler, queueName } = await open();
    const runs: string[] = [];
    let fail = false;
    const engine = {
      runJob: async (name: JobName, data: JobData) => {
        runs.push(`${name}/${data.scheduleId}`);
        if (fail) throw new Error('transient');
        return 'ok';
      },
    };
    const worker = createBookingWorker({ engine, connection: redis.server().connection, queueName, onError: () => {} });
    redis.env().track(() => worker.close());
    const log = logWorker(worker);
    const job = { name: JOB_NAMES.completeBooked, id: 'complete-s9', runAt: new Date(), data: { scheduleId: 's9' } };

    await scheduler.schedule(job);
    await waitFor('the first run', () => log.completed.length === 1);
    expect(await scheduler.queue.getJobState('complete-s9')).toBe('completed');
    await scheduler.schedule(job);
    await waitFor('the second run', () => log.completed.length === 2);

    fail = true;
    const failing = new BullMQScheduler({
      connection: redis.server().connection,
      queueName,
      attempts: 1,
      onError: () => {},
    });
    redis.env().track(() => failing.close());
    await failing.schedule(job);
    await waitFor('the failed run', () => log.failed.length === 1);
    expect(await scheduler.queue.getJobState('complete-s9')).toBe('failed');
    fail = false;
    await scheduler.schedule(job);
    await waitFor('the run after the failure', () => log.completed.length === 3);
    expect(runs).toHaveLength(4);
  });

  it('keeps one BullMQ job scheduler per recurring job however many processes call engine.start(), and a new interval replaces the old', async () => {
    const { engine, scheduler, queueName } = await open();
    const connection = new Redis(redis.server().connection);
    redis.env().track(() => connection.quit());
    // A second process: its own scheduler and engine on the same queue.
    const other = await createEnv(redis.server(), { scheduler: { queueName } });
    redis.env().track(() => other.close());
    await engine.start();
    await other.engine.start();
    await engine.start();

    const schedulers = await scheduler.queue.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every]).sort()).toEqual([
      [JOB_NAMES.cleanup, 86_400_000],
      [JOB_NAMES.outbox, 5_000],
      [JOB_NAMES.reconcile, 60_000],
    ]);
    // One pending iteration each (the first runs at once), not one per start.
    expect(await scheduler.queue.getJobCountByTypes('waiting', 'delayed')).toBe(3);

    const faster = await createEnv(redis.server(), { scheduler: { queueName }, engine: { reconcileEveryMs: 30_000 } });
    redis.env().track(() => faster.close());
    await faster.engine.start();
    const updated = await scheduler.queue.getJobSchedulers();
    expect(updated.map((s) => [s.key, s.every]).sort()).toEqual([
      [JOB_NAMES.cleanup, 86_400_000],
      [JOB_NAMES.outbox, 5_000],
      [JOB_NAMES.reconcile, 30_000],
    ]);
    expect(await scheduler.queue.getJobCountByTypes('waiting', 'delayed')).toBe(3);
  });

  it('runs the recurring jobs on a worker: the clean-up deletes expired slots older than 7 days, the sweep repeats every interval', async () => {
    const { engine, store, worker } = await open({ engine: { reconcileEveryMs: 250 } });
    const day = 86_400_000;
    const insertExpired = (endedDaysAgo: number) =>
      store.transaction((tx) =>
        tx.insertSchedule({
          doctorId: DOCTOR,
          startTime: new Date(Date.now() - endedDaysAgo * day - 1_800_000),
          endTime: new Date(Date.now() - endedDaysAgo * day),
          timeZone: 'Europe/Berlin',
          fee: { amount: 5000, currency: 'eur' },
          status: 'expired',
          bookedBy: null,
          rolledOverFrom: null,
        }),
      );
    const old = await insertExpired(8);
    const recent = await insertExpired(6);
    const { log } = worker();
    await engine.start();

    await waitFor('the clean-up to run', () => log.completed.some((c) => c.name === JOB_NAMES.cleanup));
    expect(log.completed.find((c) => c.name === JOB_NAMES.cleanup)?.result).toBe(1);
    expect(await store.getSchedule(old.id)).toBeNull();
    expect(await store.getSchedule(recent.id)).not.toBeNull();
    await waitFor('three sweeps', () => log.completed.filter((c) => c.name === JOB_NAMES.reconcile).length >= 3);
    expect(log.completed.filter((c) => c.name === JOB_NAMES.cleanup)).toHaveLength(1);
    expect(log.completed.find((c) => c.name === JOB_NAMES.reconcile)?.result).toEqual({
      holdsReleased: 0,
      paymentsConfirmed: 0,
      slotsFinished: 0,
      refundsRetried: 0,
      errors: 0,
      outboxDelivered: 0,
      remindersSent: 0,
    });
  });

  it("never closes the host's ioredis connection or Queue", async () => {
    await open();
    const host = new Redis(redis.server().connection);
    redis.env().track(() => host.quit());
    const onConnection = new BullMQScheduler({ connection: host, queueName: 'careslot-host-conn', onError: () => {} });
    await onConnection.schedule({ name: JOB_NAMES.holdTimeout, id: 'hold-x', runAt: inMs(60_000), data: {} });
    await onConnection.close();
    expect(host.status).toBe('ready');
    expect(await host.ping()).toBe('PONG');

    const queue = new Queue('careslot-host-queue', { connection: host });
    redis.env().track(() => queue.close());
    const onQueue = new BullMQScheduler({ queue });
    await onQueue.schedule({ name: JOB_NAMES.holdTimeout, id: 'hold-y', runAt: inMs(60_000), data: {} });
    await onQueue.close();
    expect(await queue.getJobState('hold-y')).toBe('delayed');
    await queue.obliterate({ force: true });
  });

  it('fails fast with a message that says what to pass when options are wrong', () => {
    expect(() => new BullMQScheduler({})).toThrow(/connection is required: pass your ioredis instance/);
    expect(() => new BullMQScheduler({ connection: redis.server().connection, queueName: 'a:b' })).toThrow(
      /without ':'/,
    );
    expect(() => new BullMQScheduler({ connection: redis.server().connection, attempts: 0 })).toThrow(
      /attempts must be/,
    );
    expect(() => new BullMQScheduler({ connection: redis.server().connection, queue: {} as unknown as Queue })).toThrow(
      /either connection or queue/,
    );
    expect(() => createBookingWorker({ engine: {} as never, connection: redis.server().connection })).toThrow(
      /pass the BookingEngine/,
    );
    expect(() => createBookingWorker({ engine: { runJob: async () => null }, connection: null as never })).toThrow(
      /connection is required/,
    );
  });
});
