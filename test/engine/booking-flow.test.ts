// The original flow's testing checklist, end to end on the embedded defaults.
import { describe, expect, it } from 'vitest';
import { isBookingError, JOB_NAMES, MemoryStore } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

describe('free booking (VISE)', () => {
  it('books a VISE patient with an existing relation at once: scheduled, unpaid, slot booked, doctor and admin told', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking, paymentUrl } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(paymentUrl).toBeUndefined();
    expect(booking).toMatchObject({ status: 'scheduled', paymentStatus: 'unpaid', mode: 'free', holdExpiresAt: null });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.vise });
    expect(f.gateway.calls).toEqual([]);
    expect(f.notifications.map((n) => [n.type, n.recipient.role, n.recipient.id])).toEqual([
      ['appointmentBooking', 'doctor', DOCTOR],
      ['newBooking', 'admin', 'admin'],
    ]);
    expect(f.notifications[0]?.message).toContain('Patient Vera Vise booked');
    expect(f.scheduler.pending().map((j) => j.name)).toContain(JOB_NAMES.completeBooked);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({});
  });

  it('rejects a VISE patient without a relation to the doctor with RELATION_REQUIRED and changes nothing', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.viseStranger, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'RELATION_REQUIRED', status: 403 });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    expect(await f.engine.listBookings()).toEqual([]);
  });
});

describe('subscription check', () => {
  it('rejects plan none with 403 "Subscribe to book"', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.none, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'SUBSCRIPTION_REQUIRED', status: 403, message: 'Subscribe to book' });
    expect(isBookingError(error)).toBe(true);
  });

  it('rejects a plan missing from the table like none', async () => {
    const f = createFixture();
    f.patients.setPlan(PATIENTS.other, 'gold');
    const slot = await f.slot();
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id }));
    expect(error.code).toBe('SUBSCRIPTION_REQUIRED');
  });

  it('makes freeTrial pay by default', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const result = await f.engine.book({ patientId: PATIENTS.trial, scheduleId: slot.id });
    expect(result.booking).toMatchObject({ status: 'pending', mode: 'paid' });
    expect(result.paymentUrl).toMatch(/^http:\/\/127\.0\.0\.1\/checkout\/cs_test_/);
  });

  it('answers an unknown patient with PATIENT_NOT_FOUND', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const error = await rejectionOf(f.engine.book({ patientId: '64b0000000000000000000ff', scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'PATIENT_NOT_FOUND', status: 404 });
  });
});

describe('paid booking', () => {
  it('holds the slot, opens a checkout, and confirms on payment: payment record, wallet credit, notifications', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking, paymentUrl } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(booking).toMatchObject({ status: 'pending', paymentStatus: 'unpaid', mode: 'paid' });
    expect(booking.holdExpiresAt).toEqual(new Date(f.clock.now().getTime() + 15 * 60_000));
    expect(paymentUrl).toBe(booking.paymentUrl);
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'pending', bookedBy: null });
    expect(f.scheduler.pending().map((j) => j.id)).toContain(`hold-${booking.id}`);
    const session = f.gateway.sessionForBooking(booking.id);
    expect(session).toMatchObject({ amount: 5000, currency: 'eur', customerId: 'cus_test_000001' });
    expect(f.notifications).toEqual([]);

    const result = await f.engine.handlePaymentEvent(f.gateway.pay(session?.id ?? ''));
    expect(result).toEqual({ outcome: 'confirmed', bookingId: booking.id });
    const paid = await f.engine.getBooking(booking.id);
    expect(paid).toMatchObject({ status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null });
    expect(paid.paymentTransactionId).not.toBeNull();
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
    expect(await f.engine.getWallet(DOCTOR)).toMatchObject({ balances: { eur: 5000 } });
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    expect(f.notifications[0]?.message).toBe('Patient Ada Standard booked 2030-03-02 09:00 (Europe/Berlin)');
    expect(f.scheduler.pending().map((j) => j.id)).not.toContain(`hold-${booking.id}`);
    expect(paid.history.map((h) => [h.from, h.to, h.reason])).toEqual([
      [null, 'pending', 'checkout_started'],
      ['pending', 'scheduled', 'payment_succeeded'],
    ]);
  });

  it('releases the slot when the payment fails terminally, and tells the patient', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const session = f.gateway.sessionForBooking(booking.id);
    const result = await f.engine.handlePaymentEvent(f.gateway.failPayment(session?.id ?? ''));
    expect(result.outcome).toBe('cancelled');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      paymentStatus: 'failed',
      cancelReason: 'payment_failed',
    });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
    expect(f.notifications.map((n) => [n.type, n.recipient.id])).toEqual([['appointmentCancelled', PATIENTS.standard]]);
    expect(f.scheduler.pending().map((j) => j.id)).not.toContain(`hold-${booking.id}`);
  });

  it('treats a declined card on the open checkout page as not terminal: the patient can still pay', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
    f.gateway.decline(sessionId);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('releases the slot when the provider reports the checkout expired', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.engine.handlePaymentEvent(f.gateway.expire(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'checkout_expired',
    });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('times the hold out after 15 minutes: the checkout is expired first, then the slot is available', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.advance(14);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    await f.advance(1);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
      paymentStatus: 'unpaid',
    });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
    expect(f.gateway.calls.map((c) => c.method)).toEqual(['ensureCustomer', 'createCheckout', 'expireCheckout']);
    expect(f.gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    // The slot is bookable again by someone else.
    const next = await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    expect(next.booking.status).toBe('pending');
  });

  it('honours a configured hold length', async () => {
    const f = createFixture({ holdMinutes: 5 });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.advance(5);
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
  });

  it('confirms instead of releasing when the patient paid just before the hold timed out', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''); // webhook not delivered yet
    await f.advance(15);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('makes the hold-timeout job after a successful payment change nothing', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    f.clock.advanceMinutes(20);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('not_pending');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
  });

  it('releases the hold at once when the checkout cannot be created, and says PAYMENT_PROVIDER_ERROR', async () => {
    const f = createFixture();
    const slot = await f.slot();
    f.gateway.failNext('createCheckout');
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR', status: 502 });
    expect(error.cause).toBeInstanceOf(Error);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    const [cancelled] = await f.engine.listBookings({ scheduleId: slot.id });
    expect(cancelled).toMatchObject({ status: 'cancelled', cancelReason: 'payment_provider_error' });
    expect(f.scheduler.pending().filter((j) => j.name === JOB_NAMES.holdTimeout)).toEqual([]);
  });

  it('creates the provider customer once and reuses it for the next booking', async () => {
    const f = createFixture();
    const a = await f.slot(60 * 24);
    const b = await f.slot(60 * 48);
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: a.id });
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: b.id });
    expect(f.gateway.customersCreated).toBe(1);
    expect(await f.store.getPaymentCustomer({ patientId: PATIENTS.standard, provider: 'test' })).toMatchObject({
      customerId: 'cus_test_000001',
    });
    const sessions = [...f.gateway.sessions.values()];
    expect(sessions.map((s) => s.customerId)).toEqual(['cus_test_000001', 'cus_test_000001']);
  });
});

describe('availability', () => {
  it('answers an unknown slot with 404 Schedule not found', async () => {
    const f = createFixture();
    const error = await rejectionOf(
      f.engine.book({ patientId: PATIENTS.standard, scheduleId: '64b0000000000000000000ee' }),
    );
    expect(error).toMatchObject({ code: 'SCHEDULE_NOT_FOUND', status: 404, message: 'Schedule not found' });
  });

  it('refuses a slot that has already started with 409', async () => {
    const f = createFixture();
    const slot = await f.slot(10);
    f.clock.advanceMinutes(11);
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', status: 409 });
  });

  it("refuses a slot held by another patient with 409, and returns the same patient's pending booking instead of a second", async () => {
    const f = createFixture();
    const slot = await f.slot();
    const first = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const again = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(again.booking.id).toBe(first.booking.id);
    expect(again.paymentUrl).toBe(first.paymentUrl);
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id }));
    expect(error.code).toBe('SCHEDULE_UNAVAILABLE');
    expect(await f.engine.listBookings({ scheduleId: slot.id })).toHaveLength(1);
    expect(f.gateway.sessions.size).toBe(1);
  });

  it('returns the first booking for a repeated idempotency key, and refuses the key for another slot', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const other = await f.slot(48 * 60);
    const first = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id, idempotencyKey: 'req-1' });
    const retry = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id, idempotencyKey: 'req-1' });
    expect(retry.booking.id).toBe(first.booking.id);
    const error = await rejectionOf(
      f.engine.book({ patientId: PATIENTS.standard, scheduleId: other.id, idempotencyKey: 'req-1' }),
    );
    expect(error.code).toBe('INVALID_INPUT');
  });

  it('lets exactly one of 1,000 concurrent bookings of one slot win; the rest get SCHEDULE_UNAVAILABLE', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const ids = Array.from({ length: 1000 }, (_, i) => `64b00000000000000000${(0x1000 + i).toString(16)}`);
    for (const id of ids) f.patients.addPatient({ id, name: `P${id}`, plan: 'standard' });
    const results = await Promise.allSettled(ids.map((patientId) => f.engine.book({ patientId, scheduleId: slot.id })));
    const winners = results.filter((r) => r.status === 'fulfilled');
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(999);
    expect(new Set(losers.map((r) => (r.reason as { code: string }).code))).toEqual(new Set(['SCHEDULE_UNAVAILABLE']));
    expect(await f.store.countBookings({ scheduleId: slot.id, status: ['pending', 'scheduled'] })).toBe(1);
    expect(await f.store.countBookings({ scheduleId: slot.id })).toBe(1);
    expect(f.gateway.sessions.size).toBe(1);
  });

  it('lets exactly one of 200 concurrent free bookings of one slot win', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const ids = Array.from({ length: 200 }, (_, i) => `64b00000000000000000${(0x2000 + i).toString(16)}`);
    for (const id of ids) {
      f.patients.addPatient({ id, name: id, plan: 'vise' });
      f.patients.addRelation({ doctorId: DOCTOR, patientId: id });
    }
    const results = await Promise.allSettled(ids.map((patientId) => f.engine.book({ patientId, scheduleId: slot.id })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await f.store.countBookings({ scheduleId: slot.id })).toBe(1);
  });
});

describe('a retry racing its own first call', () => {
  it('returns the first call’s booking when that call commits between the retry’s key lookup and its slot read', async () => {
    const base = new MemoryStore();
    let hold: Promise<void> | null = null;
    let entered = () => {};
    const blocked = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let releaseHold = () => {};
    const store = new Proxy(base, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (key !== 'getSchedule' || typeof value !== 'function')
          return typeof value === 'function' ? value.bind(target) : value;
        return async (id: string) => {
          if (hold) {
            const waiting = hold;
            hold = null;
            entered();
            await waiting;
          }
          return value.call(target, id);
        };
      },
    });
    const f = createFixture({ store });
    const slot = await f.slot();
    hold = new Promise<void>((resolve) => {
      releaseHold = resolve;
    });
    const retry = f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id, idempotencyKey: 'k1' });
    await blocked; // the retry looked the key up (nothing yet) and now waits to read the slot
    const first = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id, idempotencyKey: 'k1' });
    releaseHold();
    expect((await retry).booking.id).toBe(first.booking.id);
  });
});
