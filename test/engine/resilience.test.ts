// Failures after commit never undo a booking; the sweep finishes what lost jobs and webhooks left.
import { describe, expect, it } from 'vitest';
import type { JobScheduler, Notifier } from '../../src/index.js';
import { BookingEngine, InProcessScheduler, JOB_NAMES, MemoryStore } from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

describe('side effects after commit', () => {
  it('keeps a confirmed booking when the notifier throws, and delivers each notification once after it recovers', async () => {
    let down = true;
    const sent: string[] = [];
    const flaky: Notifier = {
      notify: (n) => {
        if (down) throw new Error('smtp down');
        sent.push(n.type);
      },
    };
    const f = createFixture({ notifier: flaky });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const result = await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    expect(result.outcome).toBe('confirmed');
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
    // Not given up: no effect.failed, the deliveries wait for their retry.
    expect(f.events.filter((e) => e.name === 'effect.failed')).toEqual([]);
    const waiting = await f.store.findOutbox({ consumer: 'careslot:notifier', status: 'pending' });
    // The doctor's failed once; the admin's waits behind it (in order per booking) without an attempt.
    expect(waiting.map((r) => r.attempts)).toEqual([1, 0]);
    down = false;
    f.clock.advanceMinutes(2);
    await f.engine.reconcile();
    expect(sent).toEqual(['appointmentBooking', 'newBooking']);
    await f.engine.reconcile();
    expect(sent).toHaveLength(2);
    expect(await f.store.findOutbox({ consumer: 'careslot:notifier', status: 'pending' })).toEqual([]);
  });

  it('keeps a booking when an event listener throws', async () => {
    const f = createFixture();
    f.engine.events.on('booking.created', () => {
      throw new Error('listener bug');
    });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(booking.status).toBe('scheduled');
    expect(f.events.some((e) => e.name === 'effect.failed')).toBe(true);
  });

  it('commits a booking when the scheduler is down, keeps its jobs in the outbox, and the sweep releases the hold later', async () => {
    const clock = new ManualClock('2030-03-01T08:00:00Z');
    const inner = new InProcessScheduler({ clock, timers: false });
    let down = true;
    const flaky: JobScheduler = {
      schedule: (job) => (down ? Promise.reject(new Error('ECONNREFUSED redis')) : inner.schedule(job)),
      cancel: (args) => (down ? Promise.reject(new Error('ECONNREFUSED redis')) : inner.cancel(args)),
      scheduleRecurring: (job) => inner.scheduleRecurring(job),
    };
    // The fixture's store follows the runner (memory, memory snapshot, MongoDB stand-in).
    const { engine, gateway } = createFixture({ clock, scheduler: flaky });
    const failures: string[] = [];
    engine.events.on('effect.failed', (e) => failures.push(e.effect));
    const slot = await engine.createSchedule({
      doctorId: DOCTOR,
      startTime: '2030-03-02T09:00:00Z',
      endTime: '2030-03-02T09:30:00Z',
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'UTC',
    });
    const { booking, paymentUrl } = await engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(paymentUrl).toBeDefined();
    // Nothing given up yet: the two jobs wait in the outbox for their retry.
    expect(failures).toEqual([]);
    expect((await engine.store.findOutbox({ consumer: 'careslot:scheduler', status: 'pending' })).length).toBe(2);
    expect(inner.pending()).toEqual([]);

    down = false;
    clock.advanceMinutes(15);
    const report = await engine.reconcile();
    expect(report).toMatchObject({ holdsReleased: 1, errors: 0 });
    expect((await engine.getBooking(booking.id)).status).toBe('cancelled');
    expect((await engine.getSchedule(slot.id)).status).toBe('available');
    expect(gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    // The jobs lost to the outage were scheduled once the scheduler was back.
    expect(inner.pending().map((j) => j.name)).toContain(JOB_NAMES.expireUnbooked);
  });
});

describe('reconcile', () => {
  it('confirms a pending booking whose payment webhook was lost', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''); // the webhook never arrives
    // The sweep first asks at half the 15-minute hold (7.5 minutes): this pass's minute holds it.
    f.clock.advanceMinutes(8);
    const report = await f.engine.reconcile();
    expect(report.paymentsConfirmed).toBe(1);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect((await f.engine.reconcile()).paymentsConfirmed).toBe(0);
    expect((await f.engine.getWallet(DOCTOR)).entries).toHaveLength(1);
  });

  it('asks the provider about an unpaid 15-minute hold twice with the sweep running every minute: at half the hold, and expiring it', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const asked = () => f.gateway.calls.filter((c) => c.method === 'retrieveCheckout' || c.method === 'expireCheckout');
    const before = asked().length;
    const when: number[] = [];
    for (let minute = 1; minute <= 30; minute++) {
      f.clock.advanceMinutes(1);
      const calls = asked().length;
      await f.engine.reconcile();
      if (asked().length > calls) when.push(minute);
    }
    expect(
      asked()
        .slice(before)
        .map((c) => c.method),
    ).toEqual(['retrieveCheckout', 'expireCheckout']);
    expect(when).toEqual([8, 15]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
  });

  it('asks about a 2-hour hold first at half of it (60 minutes), not on every pass', async () => {
    const f = createFixture({ holdMinutes: 120 });
    const slot = await f.slot(24 * 60);
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const when: number[] = [];
    for (let minute = 1; minute <= 100; minute++) {
      f.clock.advanceMinutes(1);
      const calls = f.gateway.calls.length;
      await f.engine.reconcile();
      if (f.gateway.calls.length > calls) when.push(minute);
    }
    expect(when).toEqual([60]);
  });

  it('retries a hold it could not let go (a payment still processing) at doubling intervals, not every pass', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.gateway.payDelayed(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    f.clock.advanceMinutes(15);
    const expiries: number[] = [];
    for (let minute = 0; minute <= 40; minute++) {
      const calls = f.gateway.calls.filter((c) => c.method === 'expireCheckout').length;
      await f.engine.reconcile();
      if (f.gateway.calls.filter((c) => c.method === 'expireCheckout').length > calls) expiries.push(minute);
      f.clock.advanceMinutes(1);
    }
    // At expiry, then 1, 2, 4, 8, 16 and 32 minutes after it.
    expect(expiries).toEqual([0, 1, 2, 4, 8, 16, 32]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('pages through more due holds and ended slots than batchSize in one pass, batchSize rows per read', async () => {
    const f = createFixture({ batchSize: 1 });
    for (const [i, patient] of [PATIENTS.standard, PATIENTS.other].entries()) {
      const slot = await f.slot(24 * 60 + i * 60);
      await f.engine.book({ patientId: patient, scheduleId: slot.id });
    }
    for (let i = 0; i < 5; i++) await f.slot(30 + i * 30);
    const limits: (number | undefined)[] = [];
    const findBookings = f.store.findBookings.bind(f.store);
    const findSchedules = f.store.findSchedules.bind(f.store);
    f.store.findBookings = (q) => {
      limits.push(q.limit);
      return findBookings(q);
    };
    f.store.findSchedules = (q) => {
      limits.push(q.limit);
      return findSchedules(q);
    };
    f.clock.advanceMinutes(6 * 60); // both holds expired (their slots are tomorrow), the five free slots ended; no job ran
    const report = await f.engine.reconcile();
    expect(report).toMatchObject({ holdsReleased: 2, slotsFinished: 5, errors: 0 });
    expect(limits.length).toBeGreaterThanOrEqual(9);
    expect(limits.every((limit) => limit === 1)).toBe(true);
  });

  it('leaves a young pending booking alone (grace period) and does not ask the provider about it', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const before = f.gateway.calls.length;
    await f.engine.reconcile();
    expect(f.gateway.calls.length).toBe(before);
  });

  it('finishes ended slots whose jobs were lost (in-process timers gone after a restart)', async () => {
    const f = createFixture();
    const booked = await f.slot(60);
    const free = await f.slot(120);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: booked.id });
    f.scheduler.close(); // a restart loses every in-process timer
    f.clock.advanceMinutes(200);
    const report = await f.engine.reconcile();
    expect(report.slotsFinished).toBe(2);
    expect((await f.engine.getBooking(booking.id)).status).toBe('completed');
    expect((await f.engine.getSchedule(free.id)).status).toBe('expired');
  });

  it('keeps a hold when the provider cannot be reached, counts the error, and releases it on the next sweep', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.scheduler.close();
    f.clock.advanceMinutes(16);
    f.gateway.failNext('expireCheckout');
    expect(await f.engine.reconcile()).toMatchObject({ holdsReleased: 0, errors: 1 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    // Retried a minute later (then at doubling intervals), not on every pass.
    expect(await f.engine.reconcile()).toMatchObject({ holdsReleased: 0, errors: 0 });
    f.clock.advanceMinutes(1);
    expect(await f.engine.reconcile()).toMatchObject({ holdsReleased: 1, errors: 0 });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('runs as the reconcileBookings job', async () => {
    const f = createFixture();
    expect(await f.engine.runJob(JOB_NAMES.reconcile)).toMatchObject({ holdsReleased: 0, slotsFinished: 0 });
  });
});

describe('runJob', () => {
  it('rejects unknown job names and bad data with INVALID_INPUT', async () => {
    const f = createFixture();
    await expect(f.engine.runJob('deleteEverything' as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(f.engine.runJob(JOB_NAMES.holdTimeout, {})).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: { $ne: null } as unknown as string }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(f.engine.runJob(JOB_NAMES.completeBooked, null as never)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('does not ask the queue to remove the hold-timeout job from inside that job', async () => {
    const cancelled: string[] = [];
    const recording: JobScheduler = {
      schedule: async () => {},
      cancel: async ({ id }) => {
        cancelled.push(id);
      },
      scheduleRecurring: async () => {},
    };
    const f = createFixture({ scheduler: recording });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('released');
    expect(cancelled).not.toContain(`hold-${booking.id}`);
    // A release by anything else (here the sweep) still removes the job.
    const other = await f.slot(48 * 60);
    const second = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: other.id });
    f.clock.advanceMinutes(15);
    await f.engine.reconcile();
    expect(cancelled).toContain(`hold-${second.booking.id}`);
  });

  it('registers the clean-up and the sweep as recurring jobs on start', async () => {
    const registered: unknown[] = [];
    const recording: JobScheduler = {
      schedule: async () => {},
      cancel: async () => {},
      scheduleRecurring: async (job) => {
        registered.push(job);
      },
    };
    const f = createFixture({ reconcileEveryMs: 30_000, scheduler: recording });
    await f.engine.start();
    expect(registered).toEqual([
      { name: JOB_NAMES.cleanup, everyMs: 86_400_000 },
      { name: JOB_NAMES.reconcile, everyMs: 30_000 },
      { name: JOB_NAMES.outbox, everyMs: 5_000 },
    ]);
    expect(f.engine.recurringJobs()).toEqual(registered);
  });
});

describe('options', () => {
  const base = () => ({
    store: new MemoryStore(),
    payments: new TestPaymentGateway(),
    patients: new MemoryPatientDirectory(),
  });

  it.each([
    ['a missing store', { store: undefined }, /options.store is required/],
    ['a missing payment gateway', { payments: undefined }, /options.payments is required/],
    ['a patient directory without hasRelation', { patients: { getPatient: async () => null } }, /patients.hasRelation/],
    ['a zero hold', { holdMinutes: 0 }, /holdMinutes must be a positive number/],
    ['a hold longer than a day', { holdMinutes: 1441 }, /holdMinutes must be at most 1440/],
    ['a bad rollover', { rollover: 'weekly' }, /rollover must be/],
    ['a plan with a bad mode', { plans: { gold: { mode: 'maybe' } } }, /plans.gold.mode/],
    ['a negative free quota', { plans: { trial: { mode: 'pay', freeQuota: -1 } } }, /freeQuota/],
  ])('fails fast on %s with a message that says what to fix', (_, override, message) => {
    expect(() => new BookingEngine({ ...base(), ...override } as never)).toThrow(message);
  });

  it('uses the EventEmitterNotifier and an InProcessScheduler by default', async () => {
    const engine = new BookingEngine(base());
    expect(typeof (engine.notifier as { on?: unknown }).on).toBe('function');
  });
});
