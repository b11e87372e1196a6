// What each use case refuses, at the exact boundary, with the code, message and details a host shows; and the list filters.
import { describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, OTHER_DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

const NOW = new Date('2030-03-01T08:00:00Z');
const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
const fee = { amount: 5000, currency: 'EUR' };

function slotInput(over: Record<string, unknown> = {}) {
  return { doctorId: DOCTOR, startTime: at(60), endTime: at(90), fee, timeZone: 'Europe/Berlin', ...over };
}

async function invalid(promise: Promise<unknown>) {
  const error = await rejectionOf(promise);
  expect(error.code).toBe('INVALID_INPUT');
  return error as { message: string; details?: { issues: { path: string; message: string }[] } };
}

describe('createSchedule refuses', () => {
  it('a start that is not in the future (now included), naming the field', async () => {
    const f = createFixture();
    for (const startTime of [NOW, at(-1)]) {
      const error = await invalid(f.engine.createSchedule(slotInput({ startTime, endTime: at(30) })));
      expect(error.message).toBe('createSchedule: startTime must be in the future');
      expect(error.details).toEqual({ issues: [{ path: 'startTime', message: 'must be in the future' }] });
    }
    await expect(f.engine.createSchedule(slotInput({ startTime: at(0.001) }))).resolves.toMatchObject({
      status: 'available',
    });
  });

  it('an end not after the start, or more than 24 hours after it (exactly 24 hours is allowed)', async () => {
    const f = createFixture();
    const same = await invalid(f.engine.createSchedule(slotInput({ endTime: at(60) })));
    expect(same.message).toBe('createSchedule: endTime endTime must be after startTime');
    expect(same.details?.issues).toEqual([{ path: 'endTime', message: 'endTime must be after startTime' }]);
    const long = await invalid(
      f.engine.createSchedule(slotInput({ endTime: new Date(at(60).getTime() + 86_400_001) })),
    );
    expect(long.message).toBe('createSchedule: endTime a slot may last at most 24 hours');
    await expect(
      f.engine.createSchedule(slotInput({ endTime: new Date(at(60).getTime() + 86_400_000) })),
    ).resolves.toMatchObject({ status: 'available' });
  });

  it('a fee that is not a positive whole number of minor units up to 99999999, or a currency that is not three letters', async () => {
    const f = createFixture();
    const cases: [unknown, string][] = [
      [{ amount: 0, currency: 'eur' }, 'fee.amount must be greater than 0'],
      [{ amount: 12.5, currency: 'eur' }, 'fee.amount must be a whole number of minor units (e.g. cents)'],
      [{ amount: 100_000_000, currency: 'eur' }, 'fee.amount must be at most 99999999'],
      [{ amount: 100, currency: 'euro' }, 'fee.currency must be a three-letter ISO 4217 code'],
      [{ amount: 100, currency: 'e1r' }, 'fee.currency must be a three-letter ISO 4217 code'],
    ];
    for (const [bad, message] of cases) {
      expect((await invalid(f.engine.createSchedule(slotInput({ fee: bad })))).message).toBe(
        `createSchedule: ${message}`,
      );
    }
    const max = await f.engine.createSchedule(slotInput({ fee: { amount: 99_999_999, currency: 'UsD' } }));
    expect(max.fee).toEqual({ amount: 99_999_999, currency: 'usd' });
  });

  it('a time zone that is not IANA, an empty or over-long doctor id, naming every bad field at once', async () => {
    const f = createFixture();
    expect((await invalid(f.engine.createSchedule(slotInput({ timeZone: 'CEST+1' })))).message).toBe(
      'createSchedule: timeZone must be an IANA time zone such as Europe/Berlin',
    );
    expect((await invalid(f.engine.createSchedule(slotInput({ doctorId: '   ' })))).message).toBe(
      'createSchedule: doctorId must not be empty',
    );
    expect((await invalid(f.engine.createSchedule(slotInput({ doctorId: 'd'.repeat(129) })))).message).toBe(
      'createSchedule: doctorId must be at most 128 characters',
    );
    const both = await invalid(f.engine.createSchedule(slotInput({ doctorId: '', timeZone: 'Mars/Base' })));
    expect(both.message).toBe(
      'createSchedule: doctorId must not be empty; timeZone must be an IANA time zone such as Europe/Berlin',
    );
    expect(both.details?.issues).toHaveLength(2);
  });

  it('an overlap with a live slot of the same doctor, naming that slot; another doctor or a touching slot is fine', async () => {
    const f = createFixture();
    const first = await f.engine.createSchedule(slotInput());
    const error = await rejectionOf(f.engine.createSchedule(slotInput({ startTime: at(80), endTime: at(100) })));
    expect(error).toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'The doctor already has a slot overlapping this time',
      details: { scheduleId: first.id },
    });
    await f.engine.createSchedule(slotInput({ doctorId: OTHER_DOCTOR }));
    await f.engine.createSchedule(slotInput({ startTime: at(90), endTime: at(120) }));
  });

  it('trims ids: a doctor id with surrounding spaces is the same doctor', async () => {
    const f = createFixture();
    const slot = await f.engine.createSchedule(slotInput({ doctorId: `  ${DOCTOR}  ` }));
    expect(slot.doctorId).toBe(DOCTOR);
  });
});

describe('listing', () => {
  async function world(f: Fixture) {
    const a = await f.engine.createSchedule(slotInput({ startTime: at(60), endTime: at(90) }));
    const b = await f.engine.createSchedule(slotInput({ startTime: at(120), endTime: at(150) }));
    const c = await f.engine.createSchedule(slotInput({ doctorId: OTHER_DOCTOR, startTime: at(60), endTime: at(90) }));
    return { a, b, c };
  }

  it('filters slots by doctor, status, from (inclusive) and to (exclusive)', async () => {
    const f = createFixture();
    const { a, b, c } = await world(f);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: b.id });
    const ids = async (query: Parameters<Fixture['engine']['listSchedules']>[0]) =>
      (await f.engine.listSchedules(query)).map((s) => s.id).sort();
    expect(await ids({ doctorId: OTHER_DOCTOR })).toEqual([c.id]);
    expect(await ids({ status: 'booked' })).toEqual([b.id]);
    expect(await ids({ from: at(120) })).toEqual([b.id]);
    expect(await ids({ to: at(120) })).toEqual([a.id, c.id].sort());
    expect(await ids({ doctorId: DOCTOR, status: 'available' })).toEqual([a.id]);
    expect(await ids({ limit: 1 })).toHaveLength(1);
  });

  it('returns at most 100 slots unless asked, and refuses a limit outside 1–1000', async () => {
    const f = createFixture();
    for (let i = 0; i < 101; i++)
      await f.engine.createSchedule(slotInput({ startTime: at(60 + i * 30), endTime: at(90 + i * 30) }));
    expect(await f.engine.listSchedules()).toHaveLength(100);
    expect(await f.engine.listSchedules({ limit: 1000 })).toHaveLength(101);
    for (const limit of [0, 1001, 1.5]) await invalid(f.engine.listSchedules({ limit }));
    await invalid(f.engine.listBookings({ limit: 1001 }));
  });

  it('filters bookings by patient, doctor, slot, status, with a limit', async () => {
    const f = createFixture();
    const { a, b, c } = await world(f);
    const one = (await f.engine.book({ patientId: PATIENTS.vise, scheduleId: a.id })).booking;
    const two = (await f.engine.book({ patientId: PATIENTS.standard, scheduleId: b.id })).booking;
    const three = (await f.engine.book({ patientId: PATIENTS.standard, scheduleId: c.id })).booking;
    const ids = async (query: Parameters<Fixture['engine']['listBookings']>[0]) =>
      (await f.engine.listBookings(query)).map((x) => x.id).sort();
    expect(await ids({ patientId: PATIENTS.vise })).toEqual([one.id]);
    expect(await ids({ doctorId: OTHER_DOCTOR })).toEqual([three.id]);
    expect(await ids({ scheduleId: b.id })).toEqual([two.id]);
    expect(await ids({ status: 'scheduled' })).toEqual([one.id]);
    expect(await ids({ status: 'pending', doctorId: DOCTOR })).toEqual([two.id]);
    expect(await ids({ limit: 2 })).toHaveLength(2);
    expect(await ids({})).toHaveLength(3);
  });

  it('answers an unknown booking or slot with 404 and the id, and an empty id with INVALID_INPUT naming it', async () => {
    const f = createFixture();
    await expect(f.engine.getBooking('64b0000000000000000000ff')).rejects.toMatchObject({
      code: 'BOOKING_NOT_FOUND',
      message: 'No booking 64b0000000000000000000ff',
    });
    await expect(f.engine.getSchedule('64b0000000000000000000ff')).rejects.toMatchObject({
      code: 'SCHEDULE_NOT_FOUND',
      message: 'Schedule not found',
    });
    expect((await invalid(f.engine.getBooking(''))).message).toBe('bookingId: must not be empty');
    expect((await invalid(f.engine.getSchedule(''))).message).toBe('scheduleId: must not be empty');
    expect((await invalid(f.engine.getWallet(''))).message).toBe('doctorId: must not be empty');
  });

  it('keeps each doctor’s wallet to their own money', async () => {
    const f = createFixture();
    const { a, c } = await world(f);
    for (const slot of [a, c]) {
      const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
      await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    }
    const wallet = await f.engine.getWallet(OTHER_DOCTOR);
    expect(wallet.doctorId).toBe(OTHER_DOCTOR);
    expect(wallet.balances).toEqual({ eur: 5000 });
    expect(wallet.entries.map((e) => e.doctorId)).toEqual([OTHER_DOCTOR]);
  });
});

describe('runJob refuses', () => {
  it('an unknown job, listing the known ones, and data that is not an object', async () => {
    const f = createFixture();
    const unknown = await invalid(f.engine.runJob('sendNewsletter' as never, {}));
    expect(unknown.message).toBe(
      `Unknown job sendNewsletter; expected one of ${[
        JOB_NAMES.holdTimeout,
        JOB_NAMES.completeBooked,
        JOB_NAMES.expireUnbooked,
        JOB_NAMES.cleanup,
        JOB_NAMES.reconcile,
        JOB_NAMES.outbox,
        JOB_NAMES.reminder,
      ].join(', ')}`,
    );
    for (const data of [null, 'x', 7]) {
      expect((await invalid(f.engine.runJob(JOB_NAMES.cleanup, data as never))).message).toBe(
        'Job data must be an object',
      );
    }
    expect((await invalid(f.engine.runJob(JOB_NAMES.holdTimeout, {}))).message).toContain(
      `${JOB_NAMES.holdTimeout}: bookingId`,
    );
    expect((await invalid(f.engine.runJob(JOB_NAMES.expireUnbooked, {}))).message).toContain('scheduleId');
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: '64b0000000000000000000ff' })).toBe(
      'not_found',
    );
  });
});

describe('book refuses', () => {
  it('an unknown patient by id, and a plan that may not book, naming the plan', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await expect(f.engine.book({ patientId: '64b00000000000000000aaaa', scheduleId: slot.id })).rejects.toMatchObject({
      code: 'PATIENT_NOT_FOUND',
      message: 'No patient 64b00000000000000000aaaa',
    });
    await expect(f.engine.book({ patientId: PATIENTS.none, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'SUBSCRIPTION_REQUIRED',
      message: 'Subscribe to book',
      details: { plan: 'none' },
    });
    const g = createFixture({ plans: { standard: { mode: 'reject' } } });
    const other = await g.slot();
    await expect(g.engine.book({ patientId: PATIENTS.standard, scheduleId: other.id })).rejects.toMatchObject({
      code: 'SUBSCRIPTION_REQUIRED',
      details: { plan: 'standard' },
    });
    expect((await g.engine.getSchedule(other.id)).status).toBe('available');
  });

  it('a free plan without the relation, saying a relation is needed', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await expect(f.engine.book({ patientId: PATIENTS.viseStranger, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'RELATION_REQUIRED',
      message: 'Free booking needs an existing doctor–patient relation',
      details: { plan: 'vise' },
    });
  });

  it('a slot that has started (at its very start too) or is taken, saying which', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'This slot is not available',
    });
    const later = await f.slot(120);
    f.clock.set(later.startTime);
    await expect(f.engine.book({ patientId: PATIENTS.vise, scheduleId: later.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'This slot has already started',
    });
  });

  it('a paid booking closer to the start than minNoticeMinutes, but not one exactly that far ahead', async () => {
    const f = createFixture({ minNoticeMinutes: 30 });
    const near = await f.slot(29);
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: near.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'This slot starts too soon to pay for it online',
      details: { minNoticeMinutes: 30 },
    });
    expect((await f.engine.getSchedule(near.id)).status).toBe('available');
    const exact = await f.slot(30, { doctorId: OTHER_DOCTOR });
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: exact.id })).resolves.toMatchObject({
      booking: { status: 'pending' },
    });
  });

  it('a fourth unpaid hold, saying how many are held and the limit', async () => {
    const f = createFixture();
    for (let i = 1; i <= 3; i++) {
      const slot = await f.slot(i * 24 * 60);
      await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    }
    const fourth = await f.slot(4 * 24 * 60);
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: fourth.id })).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
      message: 'You already hold 3 unpaid bookings; pay for or cancel one before booking another',
      details: { maxPendingPerPatient: 3 },
    });
  });

  it('does not apply the hold limit to a booking the free quota pays for', async () => {
    const f = createFixture({ plans: { standard: { mode: 'pay', freeQuota: 1 } }, maxPendingPerPatient: 1 });
    const first = await f.slot(24 * 60);
    const free = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: first.id });
    expect(free.booking).toMatchObject({ mode: 'free', status: 'scheduled' });
    const second = await f.slot(48 * 60);
    expect((await f.engine.book({ patientId: PATIENTS.standard, scheduleId: second.id })).booking.status).toBe(
      'pending',
    );
    await f.engine.cancelBooking({ bookingId: free.booking.id, actor: { role: 'patient', id: PATIENTS.standard } });
    const third = await f.slot(72 * 60);
    // The quota is free again and one hold is held: the free booking goes through.
    expect((await f.engine.book({ patientId: PATIENTS.standard, scheduleId: third.id })).booking).toMatchObject({
      mode: 'free',
      status: 'scheduled',
    });
  });

  it('counts a completed free booking against the quota: the next one is paid', async () => {
    const f = createFixture({ plans: { standard: { mode: 'pay', freeQuota: 1 } } });
    const first = await f.slot(60);
    expect((await f.engine.book({ patientId: PATIENTS.standard, scheduleId: first.id })).booking.mode).toBe('free');
    await f.advance(90);
    expect((await f.engine.listBookings({ patientId: PATIENTS.standard }))[0]?.status).toBe('completed');
    const next = await f.slot(24 * 60, { doctorId: OTHER_DOCTOR });
    expect((await f.engine.book({ patientId: PATIENTS.standard, scheduleId: next.id })).booking.mode).toBe('paid');
  });

  it('an idempotency key reused for another slot, naming the booking it belongs to', async () => {
    const f = createFixture();
    const a = await f.slot(24 * 60);
    const b = await f.slot(48 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: a.id, idempotencyKey: 'k' });
    await expect(
      f.engine.book({ patientId: PATIENTS.vise, scheduleId: b.id, idempotencyKey: 'k' }),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'idempotencyKey was already used for a different slot',
      details: { bookingId: booking.id },
    });
  });
});

describe('book answers a repeated call', () => {
  it('with the same booking and no payment page once it is paid or free', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const first = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(first.paymentUrl).toMatch(/^http:\/\/127\.0\.0\.1\/checkout\//);
    expect(await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).toEqual(first);
    await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(first.booking.id)?.id ?? ''));
    const again = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(again).toEqual({ booking: expect.objectContaining({ id: first.booking.id, status: 'scheduled' }) });
    expect(again).not.toHaveProperty('paymentUrl');

    const freeSlot = await f.slot(48 * 60);
    const free = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: freeSlot.id });
    expect(Object.keys(free)).toEqual(['booking']);
    expect(Object.keys(await f.engine.book({ patientId: PATIENTS.vise, scheduleId: freeSlot.id }))).toEqual([
      'booking',
    ]);
  });
});

describe('the checkout a paid booking opens', () => {
  it('returns to the engine’s URLs unless the call gives its own, and lives until the hold ends', async () => {
    const f = createFixture({ successUrl: 'https://host.example/ok', cancelUrl: 'https://host.example/back' });
    const a = await f.slot(24 * 60);
    const b = await f.slot(48 * 60);
    const c = await f.slot(72 * 60);
    const first = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: a.id });
    const second = await f.engine.book({
      patientId: PATIENTS.standard,
      scheduleId: b.id,
      successUrl: 'https://host.example/paid',
      cancelUrl: 'https://host.example/gave-up',
    });
    expect(f.gateway.sessionForBooking(first.booking.id)).toMatchObject({
      successUrl: 'https://host.example/ok',
      cancelUrl: 'https://host.example/back',
      expiresAt: new Date(NOW.getTime() + 31 * 60_000),
    });
    expect(f.gateway.sessionForBooking(second.booking.id)).toMatchObject({
      successUrl: 'https://host.example/paid',
      cancelUrl: 'https://host.example/gave-up',
    });
    const g = createFixture({ holdMinutes: 60 });
    const plain = await g.engine.book({ patientId: PATIENTS.standard, scheduleId: (await g.slot(24 * 60)).id });
    expect(g.gateway.sessionForBooking(plain.booking.id)).toMatchObject({
      successUrl: null,
      cancelUrl: null,
      expiresAt: new Date(NOW.getTime() + 60 * 60_000),
    });
    await expect(
      f.engine.book({ patientId: PATIENTS.other, scheduleId: c.id, successUrl: 'ftp://host.example/ok' }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await f.engine.book({ patientId: PATIENTS.other, scheduleId: c.id, successUrl: 'http://localhost:3000/ok' });
  });

  it('passes on the provider’s own BookingError when the checkout cannot be opened', async () => {
    const f = createFixture();
    const slot = await f.slot();
    f.gateway.failNext('createCheckout');
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
      message: 'Test provider failed in createCheckout',
    });
  });

  it('wraps a provider failure that is not a BookingError as PAYMENT_PROVIDER_ERROR with the cause, and frees the slot', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const cause = new Error('socket hang up');
    f.gateway.createCheckout = async () => {
      throw cause;
    };
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR', message: 'Could not start the payment', cause });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    const [booking] = await f.engine.listBookings({ scheduleId: slot.id });
    expect(booking).toMatchObject({ status: 'cancelled', cancelReason: 'payment_provider_error' });
  });

  it('is expired again, and the call refused, when the hold ended while the provider was opening it', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const create = f.gateway.createCheckout.bind(f.gateway);
    f.gateway.createCheckout = async (request) => {
      const session = await create(request);
      f.clock.advanceMinutes(15);
      await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: request.booking.id });
      return session;
    };
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id }));
    expect(error).toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'The hold on this slot ended before the payment page opened; please book again',
    });
    const [booking] = await f.engine.listBookings({ scheduleId: slot.id });
    expect(f.gateway.sessionForBooking(booking?.id ?? '')?.status).toBe('expired');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });
});

describe('reschedule refuses', () => {
  async function scheduled(f: Fixture, startInMinutes = 24 * 60) {
    const slot = await f.slot(startInMinutes);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    return { slot, booking };
  }
  const patient = { role: 'patient' as const, id: PATIENTS.vise };

  it('an unknown booking or slot, the slot it is on, another doctor, a started or taken slot, saying which', async () => {
    const f = createFixture();
    const { slot, booking } = await scheduled(f);
    const move = (newScheduleId: string) =>
      f.engine.reschedule({ bookingId: booking.id, newScheduleId, actor: patient });
    await expect(
      f.engine.reschedule({ bookingId: '64b0000000000000000000ff', newScheduleId: slot.id, actor: patient }),
    ).rejects.toMatchObject({ code: 'BOOKING_NOT_FOUND', message: 'No booking 64b0000000000000000000ff' });
    await expect(move('64b0000000000000000000ff')).rejects.toMatchObject({
      code: 'SCHEDULE_NOT_FOUND',
      message: 'Schedule not found',
    });
    await expect(move(slot.id)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'The booking is already on that slot',
    });
    const foreign = await f.slot(48 * 60, { doctorId: OTHER_DOCTOR });
    await expect(move(foreign.id)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'A booking can only move to another slot of the same doctor',
    });
    const taken = await f.slot(48 * 60);
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: taken.id });
    await expect(move(taken.id)).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      message: 'That slot is not available',
    });
    expect((await f.engine.getBooking(booking.id)).scheduleId).toBe(slot.id);
  });

  it('within the deadline before the start, but not exactly at it', async () => {
    const f = createFixture({ rescheduleDeadlineHours: 2 });
    const { booking } = await scheduled(f, 3 * 60);
    const target = await f.slot(24 * 60);
    f.clock.advanceMinutes(60 + 1); // 1 hour 59 minutes before the start
    await expect(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: patient }),
    ).rejects.toMatchObject({ code: 'NOT_ALLOWED', message: 'Bookings cannot be changed within 2 hours of the start' });

    const g = createFixture({ rescheduleDeadlineHours: 2 });
    const other = await scheduled(g, 3 * 60);
    const later = await g.slot(24 * 60);
    g.clock.advanceMinutes(60); // exactly 2 hours before the start
    await expect(
      g.engine.reschedule({ bookingId: other.booking.id, newScheduleId: later.id, actor: patient }),
    ).resolves.toMatchObject({ to: { id: later.id } });
  });

  it('a slot that has started, even one still available', async () => {
    const f = createFixture({ rescheduleDeadlineHours: 0 });
    const { booking } = await scheduled(f, 24 * 60);
    const soon = await f.slot(10);
    f.clock.set(soon.startTime);
    await expect(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: soon.id, actor: patient }),
    ).rejects.toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'That slot has already started' });
  });

  it('a different fee under the default rule, naming price and fee; lowerOrEqual and any allow what they say', async () => {
    const cheaper = { amount: 4000, currency: 'eur' };
    const f = createFixture();
    const { booking } = await scheduled(f);
    const target = await f.slot(48 * 60, { amount: 4000 });
    await expect(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: patient }),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: "The new slot's fee must be the same as the booking's price",
      details: { price: { amount: 5000, currency: 'eur' }, fee: cheaper },
    });

    const g = createFixture({ rescheduleFee: 'lowerOrEqual' });
    const moved = await scheduled(g);
    const dearer = await g.slot(48 * 60, { amount: 5001 });
    await expect(
      g.engine.reschedule({ bookingId: moved.booking.id, newScheduleId: dearer.id, actor: patient }),
    ).rejects.toMatchObject({ message: "The new slot's fee must be at most the booking's price" });
    const same = await g.slot(72 * 60, { amount: 5000 });
    await expect(
      g.engine.reschedule({ bookingId: moved.booking.id, newScheduleId: same.id, actor: patient }),
    ).resolves.toMatchObject({ to: { id: same.id } });
    const lower = await g.slot(96 * 60, { amount: 4000 });
    await expect(
      g.engine.reschedule({ bookingId: moved.booking.id, newScheduleId: lower.id, actor: patient }),
    ).resolves.toMatchObject({ to: { id: lower.id } });

    const h = createFixture({ rescheduleFee: 'any' });
    const anyFee = await scheduled(h);
    const pricey = await h.slot(48 * 60, { amount: 9000 });
    await expect(
      h.engine.reschedule({ bookingId: anyFee.booking.id, newScheduleId: pricey.id, actor: patient }),
    ).resolves.toMatchObject({ booking: { price: { amount: 5000, currency: 'eur' } } });
  });

  it('a slot in another currency even when the amount is the same or lower', async () => {
    for (const rescheduleFee of ['same', 'lowerOrEqual'] as const) {
      const f = createFixture({ rescheduleFee });
      const { booking } = await scheduled(f);
      const start = new Date(f.clock.now().getTime() + 48 * 3_600_000);
      const usd = await f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: new Date(start.getTime() + 1_800_000),
        fee: { amount: 5000, currency: 'usd' },
        timeZone: 'Europe/Berlin',
      });
      await expect(
        f.engine.reschedule({ bookingId: booking.id, newScheduleId: usd.id, actor: patient }),
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
  });
});

describe('cancel refuses', () => {
  it('a booking that is not scheduled or pending, naming its status', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.advance(90);
    const error = await rejectionOf(
      f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a' } }),
    );
    expect(error).toMatchObject({
      code: 'INVALID_TRANSITION',
      message: 'A completed booking cannot be cancelled',
      details: { status: 'completed' },
    });
    await expect(
      f.engine.cancelBooking({ bookingId: '64b0000000000000000000ff', actor: { role: 'admin', id: 'a' } }),
    ).rejects.toMatchObject({ code: 'BOOKING_NOT_FOUND', message: 'No booking 64b0000000000000000000ff' });
    await expect(
      f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.other } }),
    ).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
      message: "Only the booking's patient, its doctor or an admin may cancel it",
    });
  });

  it('keeps the words a patient gave when cancelling a pending booking', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const { booking: after } = await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'patient', id: PATIENTS.standard },
      reason: 'found another doctor',
    });
    expect(after.history.at(-1)).toMatchObject({ to: 'cancelled', reason: 'found another doctor' });
    expect(after.cancelReason).toBe('by_patient');
  });
});

describe('the end-of-slot jobs and clean-up', () => {
  it('delete every expired slot past retention, batch after batch', async () => {
    const f = createFixture({ rollover: 'none', batchSize: 2 });
    for (let i = 0; i < 5; i++) await f.slot(60 + i * 30);
    f.clock.advanceMinutes(60 + 5 * 30);
    for (let sweep = 0; sweep < 3; sweep++) await f.engine.reconcile(); // two slots per sweep
    expect(await f.engine.listSchedules({ status: 'expired' })).toHaveLength(5);
    f.clock.advanceMinutes(7 * 24 * 60);
    expect(await f.engine.runJob(JOB_NAMES.cleanup)).toBe(5);
    expect(await f.engine.listSchedules()).toEqual([]);
    expect(await f.engine.runJob(JOB_NAMES.cleanup)).toBe(0);
  });

  it('report already_expired for a slot that is expired', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.advance(90);
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('already_expired');
  });

  it('count finished slots in the sweep, and report a failing one under reconcile:slot with its id', async () => {
    const f = createFixture({ rollover: 'none' });
    const a = await f.slot(60);
    const b = await f.slot(120);
    f.clock.advanceMinutes(200);
    const transaction = f.store.transaction.bind(f.store);
    let failOnce = true;
    f.store.transaction = ((work: never) => {
      if (failOnce) {
        failOnce = false;
        return Promise.reject(new Error('db blip'));
      }
      return transaction(work);
    }) as typeof f.store.transaction;
    const report = await f.engine.reconcile();
    expect(report).toMatchObject({ slotsFinished: 1, errors: 1 });
    expect(f.events.find((e) => e.name === 'effect.failed')?.payload).toEqual({
      effect: 'reconcile:slot',
      scheduleId: a.id,
      error: new Error('db blip'),
    });
    expect((await f.engine.getSchedule(b.id)).status).toBe('expired');
    expect((await f.engine.reconcile()).slotsFinished).toBe(1);
  });
});

describe('bad input to each use case', () => {
  it('is INVALID_INPUT whose message starts with the method and names the field', async () => {
    const f = createFixture();
    const actor = { role: 'admin' as const, id: 'a' };
    const cases: [string, Promise<unknown>][] = [
      ['book: patientId must not be empty', f.engine.book({ patientId: '', scheduleId: 's' })],
      ['cancelBooking: bookingId must not be empty', f.engine.cancelBooking({ bookingId: '', actor })],
      [
        'reschedule: newScheduleId must not be empty',
        f.engine.reschedule({ bookingId: 'b', newScheduleId: '', actor }),
      ],
      ['refund: bookingId must not be empty', f.engine.refund({ bookingId: '' })],
      ['listSchedules: doctorId must not be empty', f.engine.listSchedules({ doctorId: '' })],
      ['listBookings: patientId must not be empty', f.engine.listBookings({ patientId: '' })],
    ];
    for (const [message, promise] of cases) {
      await expect(promise).rejects.toMatchObject({ code: 'INVALID_INPUT', message });
    }
  });

  it('refuses a stranger rescheduling, naming the action', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const target = await f.slot(48 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await expect(
      f.engine.reschedule({
        bookingId: booking.id,
        newScheduleId: target.id,
        actor: { role: 'doctor', id: OTHER_DOCTOR },
      }),
    ).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
      message: "Only the booking's patient, its doctor or an admin may reschedule it",
    });
  });
});
