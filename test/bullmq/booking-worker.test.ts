// End to end on a real redis-server: holds time out, slots expire and roll over, workers share and recover jobs.
import { expect, it } from 'vitest';
import { createBookingWorker } from '../../src/adapters/bullmq/index.js';
import { JOB_NAMES, type JobData, type JobName, type Schedule } from '../../src/index.js';
import { DOCTOR, describeWithRedis, logWorker, PATIENT, sleep, useRedisEnv, VISE_PATIENT, waitFor } from './harness.js';

describeWithRedis('createBookingWorker on a real Redis', () => {
  const redis = useRedisEnv();
  const { open } = redis;

  it('times a 1 s hold out: the worker expires the checkout first, then releases the slot', async () => {
    const { engine, gateway, events, worker } = await open();
    const { log } = worker();
    const slot = await redis.env().slot(60_000, 30 * 60_000);
    const callsAtRelease: string[][] = [];
    engine.events.on('schedule.released', () => callsAtRelease.push(gateway.calls.map((c) => c.method)));

    const { booking, paymentUrl } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    expect(booking.status).toBe('pending');
    expect(paymentUrl).toBeDefined();

    // The release event comes after the commit, once the job's after-commit effects ran.
    await waitFor('the hold to time out', () => callsAtRelease.length > 0);
    const cancelled = await engine.getBooking(booking.id);
    expect(cancelled.cancelReason).toBe('payment_timeout');
    expect((await engine.getSchedule(slot.id)).status).toBe('available');
    expect(gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    // The session was closed at the provider before the slot went back on sale.
    expect(callsAtRelease).toHaveLength(1);
    expect(callsAtRelease[0]?.at(-1)).toBe('expireCheckout');
    expect(events.filter((e) => e.name === 'effect.failed')).toEqual([]);
    await waitFor('the job to be recorded as completed', () => log.completed.length > 0);
    expect(log.completed).toEqual([
      { id: `hold-${booking.id}`, name: JOB_NAMES.holdTimeout, result: 'released', attemptsMade: 1 },
    ]);
  });

  it('removes the hold-timeout job when payment succeeds first, and the booking stays paid after the hold', async () => {
    const { engine, gateway, scheduler, worker } = await open();
    const { log } = worker();
    const slot = await redis.env().slot(60_000, 30 * 60_000);
    const { booking } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    expect(await scheduler.queue.getJobState(`hold-${booking.id}`)).toBe('delayed');

    const session = gateway.sessionForBooking(booking.id)!;
    expect((await engine.handlePaymentEvent(gateway.pay(session.id))).outcome).toBe('confirmed');
    expect(await scheduler.queue.getJobState(`hold-${booking.id}`)).toBe('unknown');
    expect(await scheduler.queue.getJobState(`complete-${slot.id}`)).toBe('delayed');
    expect(await scheduler.queue.getJobState(`expire-${slot.id}`)).toBe('unknown');

    // Past the hold's end (1 s) with the worker running: nothing undoes the payment.
    await sleep(booking.holdExpiresAt!.getTime() + 300 - Date.now());
    const current = await engine.getBooking(booking.id);
    expect(current).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await engine.getSchedule(slot.id)).status).toBe('booked');
    expect(log.active).toEqual([]);
  });

  it('ends a booked slot: the slot expires, the booking completes, and the next-day slot appears once even when the job runs twice', async () => {
    // The slot starts a second from now; paying that close to the start must be allowed here.
    const { engine, gateway, scheduler, events, worker } = await open({ engine: { minNoticeMinutes: 0 } });
    const { log } = worker();
    const slot = await redis.env().slot(1_000, 800);
    const { booking } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    await engine.handlePaymentEvent(gateway.pay(gateway.sessionForBooking(booking.id)!.id));

    const completed = await waitFor('the booking to complete', async () => {
      const current = await engine.getBooking(booking.id);
      return current.status === 'completed' ? current : undefined;
    });
    expect(completed.paymentStatus).toBe('paid');
    expect((await engine.getSchedule(slot.id)).status).toBe('expired');
    const jobId = `complete-${slot.id}`;
    await waitFor('the job to be recorded as completed', () => log.completed.some((c) => c.id === jobId));

    // The same job once more, through the queue (a kept completed job does not block its id) ...
    await scheduler.schedule({
      name: JOB_NAMES.completeBooked,
      id: jobId,
      runAt: new Date(),
      data: { scheduleId: slot.id },
    });
    await waitFor('the second run', () => log.completed.filter((c) => c.id === jobId).length === 2);
    // ... and directly, as a late duplicate delivery would.
    expect(await engine.runJob(JOB_NAMES.completeBooked, { scheduleId: slot.id })).toBe('already_expired');

    expect(log.completed.filter((c) => c.id === jobId).map((c) => c.result)).toEqual(['completed', 'already_expired']);
    const nextDay = (await engine.listSchedules({ doctorId: DOCTOR })).filter((s) => s.rolledOverFrom === slot.id);
    expect(nextDay).toHaveLength(1);
    expect(nextDay[0]).toMatchObject({
      status: 'available',
      startTime: new Date(slot.startTime.getTime() + 86_400_000),
    });
    expect(events.filter((e) => e.name === 'schedule.rolledOver')).toHaveLength(1);
    expect(events.filter((e) => e.name === 'booking.completed')).toHaveLength(1);
    // The new slot got its own end-of-slot job.
    expect(await scheduler.queue.getJobState(`expire-${nextDay[0]!.id}`)).toBe('delayed');
  });

  it('ends an unbooked slot: it just expires, with no booking and no next-day slot', async () => {
    const { engine, events, worker } = await open();
    const { log } = worker();
    const slot = await redis.env().slot(300, 500);

    await waitFor('the slot to expire', async () => (await engine.getSchedule(slot.id)).status === 'expired');
    await waitFor('the job to be recorded', () => log.completed.length > 0);
    expect(log.completed).toEqual([
      { id: `expire-${slot.id}`, name: JOB_NAMES.expireUnbooked, result: 'expired', attemptsMade: 1 },
    ]);
    expect(await engine.listBookings({ scheduleId: slot.id })).toEqual([]);
    expect(await engine.listSchedules({ doctorId: DOCTOR })).toHaveLength(1);
    expect(events.filter((e) => e.name === 'schedule.rolledOver')).toEqual([]);
  });

  it('retries a job that failed on a transient provider error (with backoff) and fails a job that can never succeed at once', async () => {
    const { engine, gateway, scheduler, worker } = await open();
    const { log } = worker();
    const slot = await redis.env().slot(60_000, 30 * 60_000);
    const { booking } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    gateway.failNext('expireCheckout', 1);

    await waitFor('the hold to be released on the second attempt', async () => {
      return (await engine.getBooking(booking.id)).status === 'cancelled';
    });
    await waitFor('the job to be recorded as completed', () => log.completed.length > 0);
    expect(log.failed.map((f) => [f.id, f.error.message])).toEqual([
      [`hold-${booking.id}`, 'Test provider failed in expireCheckout'],
    ]);
    expect(log.completed).toEqual([
      { id: `hold-${booking.id}`, name: JOB_NAMES.holdTimeout, result: 'released', attemptsMade: 2 },
    ]);

    // Bad data is a BookingError('INVALID_INPUT'): UnrecoverableError, one attempt of five.
    await scheduler.schedule({ name: JOB_NAMES.holdTimeout, id: 'hold-bad', runAt: new Date(), data: {} });
    const failed = await waitFor('the bad job to fail', () => log.failed.find((f) => f.id === 'hold-bad'));
    expect(failed.error.name).toBe('UnrecoverableError');
    expect(failed.error.message).toMatch(/^INVALID_INPUT: /);
    expect(failed.attemptsMade).toBe(1);
    const job = await scheduler.queue.getJob('hold-bad');
    expect(await job?.getState()).toBe('failed');
    expect(job?.opts.attempts).toBe(5);
  });

  it('two workers on the same queue run each job exactly once', async () => {
    const { engine } = await open();
    const runs: string[] = [];
    const counting = {
      runJob: (name: JobName, data: JobData) => {
        runs.push(`${name}/${data.scheduleId ?? data.bookingId}`);
        return engine.runJob(name, data);
      },
    };
    const a = redis.env().worker({ engine: counting, concurrency: 3 });
    const b = redis.env().worker({ engine: counting, concurrency: 3 });
    const slots: Schedule[] = [];
    for (let i = 0; i < 8; i++) slots.push(await redis.env().slot(300 + i * 40, 300, `doctor-${i}`));

    await waitFor('every slot to expire', async () => {
      const statuses = await Promise.all(slots.map(async (s) => (await engine.getSchedule(s.id)).status));
      return statuses.every((s) => s === 'expired');
    });
    await waitFor('both logs to settle', () => a.log.completed.length + b.log.completed.length === slots.length);
    await sleep(200);
    const ids = [...a.log.completed, ...b.log.completed].map((c) => c.id).sort();
    expect(ids).toEqual(slots.map((s) => `expire-${s.id}`).sort());
    expect([...runs].sort()).toEqual(slots.map((s) => `${JOB_NAMES.expireUnbooked}/${s.id}`).sort());
  });

  it('finishes the job of a worker that died mid-job (lock lost) on the other worker, with every effect once', async () => {
    // A process killed mid-job cannot be simulated with an in-memory store shared across
    // processes, so worker A plays the dying process: it does the job's work, then never
    // acknowledges it and never renews its 1 s lock (as if it had been SIGKILLed after the
    // store committed). Worker B's stalled checker finds the lock gone, puts the job back,
    // and runs it again. The job re-reads state, so the second run changes nothing.
    const { engine, events } = await open();
    let release: () => void = () => {};
    const hung = new Promise<void>((resolve) => {
      release = resolve;
    });
    redis.env().track(() => release());
    const dying = {
      runJob: async (name: JobName, data: JobData) => {
        await engine.runJob(name, data);
        await hung;
        return 'never acknowledged';
      },
    };
    // Concurrency 1: the hung job occupies A, so A takes no more jobs, as a dead process would not.
    const a = redis.env().worker({
      engine: dying,
      concurrency: 1,
      lockDuration: 1_000,
      skipLockRenewal: true,
      skipStalledCheck: true,
    });
    const slot = await redis.env().slot(600, 400);
    const { booking } = await engine.book({ patientId: VISE_PATIENT, scheduleId: slot.id });
    expect(booking.status).toBe('scheduled');
    const jobId = `complete-${slot.id}`;
    await waitFor('worker A to take the job', () => a.log.active.includes(jobId));
    await waitFor(
      'worker A to have done the work',
      async () => (await engine.getBooking(booking.id)).status === 'completed',
    );

    const b = redis.env().worker({ stalledInterval: 300 });
    await waitFor('worker B to recover and finish the job', () => b.log.completed.find((c) => c.id === jobId));
    expect(b.log.stalled).toContain(jobId);
    expect(b.log.completed.map((c) => [c.id, c.result])).toEqual([[jobId, 'already_expired']]);
    expect(await redis.env().scheduler.queue.getJobState(jobId)).toBe('completed');
    expect(a.log.completed).toEqual([]);

    const nextDay = (await engine.listSchedules({ doctorId: DOCTOR })).filter((s) => s.rolledOverFrom === slot.id);
    expect(nextDay).toHaveLength(1);
    expect(events.filter((e) => e.name === 'booking.completed')).toHaveLength(1);
    expect(events.filter((e) => e.name === 'schedule.rolledOver')).toHaveLength(1);
    expect(events.filter((e) => e.name === 'schedule.expired')).toHaveLength(1);
  });

  it('closes gracefully: worker.close() (what SIGTERM should call) waits for the running job to finish', async () => {
    const { engine } = await open();
    let started = false;
    const slow = {
      runJob: async (name: JobName, data: JobData) => {
        started = true;
        await sleep(300);
        return engine.runJob(name, data);
      },
    };
    const { worker, log } = redis.env().worker({ engine: slow });
    const slot = await redis.env().slot(100, 200);
    await waitFor('the job to start', () => started);

    await worker.close();
    expect(log.completed.map((c) => [c.id, c.result])).toEqual([[`expire-${slot.id}`, 'expired']]);
    expect(await redis.env().scheduler.queue.getJobState(`expire-${slot.id}`)).toBe('completed');
  });

  it('runs the processors in a worker given the host ioredis instance, without changing or closing it', async () => {
    const { Redis } = await import('ioredis');
    const { engine } = await open();
    const host = new Redis(redis.server().connection);
    redis.env().track(() => host.quit());
    expect(host.options.maxRetriesPerRequest).toBe(20);
    const worker = createBookingWorker({
      engine,
      connection: host,
      queueName: redis.env().queueName,
      onError: () => {},
    });
    const log = logWorker(worker);
    const slot = await redis.env().slot(200, 300);
    await waitFor('the slot to expire', () => log.completed.some((c) => c.id === `expire-${slot.id}`));
    await worker.close();
    expect(host.options.maxRetriesPerRequest).toBe(20);
    expect(host.status).toBe('ready');
    expect(await host.ping()).toBe('PONG');
  });
});
