// Availability through the public API: rules, computed slots, booking them, time off, versions, withdrawal.
import { describe, expect, it } from 'vitest';
import type { BookingEngine, SetAvailabilityInput } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, OTHER_DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

// The fixture's clock starts on Friday 2030-03-01 08:00Z, 09:00 in Berlin (CET, UTC+1).
const MON = '2030-03-04';
const TUE = '2030-03-05';
/** A Berlin wall-clock time in early March 2030 (CET) as an instant. */
const berlin = (date: string, hhmm: string) => new Date(`${date}T${hhmm}:00+01:00`);
const iso = (d: Date) => d.toISOString();

const HOURS: SetAvailabilityInput = {
  doctorId: DOCTOR,
  timeZone: 'Europe/Berlin',
  weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '12:00' }],
  slotMinutes: 30,
  fee: { amount: 6000, currency: 'EUR' },
};

async function starts(engine: BookingEngine, from: Date, to: Date, doctorId = DOCTOR): Promise<string[]> {
  const page = await engine.findSlots({ doctorId, from, to, limit: 1000 });
  return page.slots.map((s) => iso(s.start));
}

const mondayStarts = (f: Fixture) => starts(f.engine, berlin(MON, '00:00'), berlin(TUE, '00:00'));

/** Publishes a 50 EUR slot of DOCTOR from `start` to `end`. */
function publish(f: Fixture, start: Date, end: Date) {
  return f.engine.createSchedule({
    doctorId: DOCTOR,
    startTime: start,
    endTime: end,
    fee: { amount: 5000, currency: 'eur' },
    timeZone: 'Europe/Berlin',
  });
}

async function pay(f: Fixture, bookingId: string): Promise<void> {
  const session = f.gateway.sessionForBooking(bookingId);
  await f.engine.handlePaymentEvent(f.gateway.pay(session?.id ?? ''));
}

describe('setAvailability and findSlots', () => {
  it('lists the slots of the weekly hours with start, end, fee, zone and the version that offers them', async () => {
    const f = createFixture();
    const record = await f.engine.setAvailability(HOURS);
    expect(record).toMatchObject({
      doctorId: DOCTOR,
      effectiveFrom: f.clock.now(),
      effectiveUntil: null,
      rules: {
        timeZone: 'Europe/Berlin',
        slotMinutes: 30,
        stepMinutes: 30,
        bufferBeforeMinutes: 0,
        bufferAfterMinutes: 0,
        minNoticeMinutes: 15, // the engine's minNoticeMinutes: every listed slot can be paid for
        horizonDays: 365,
        fee: { amount: 6000, currency: 'eur' },
      },
    });
    const page = await f.engine.findSlots({ doctorId: DOCTOR, from: berlin(MON, '00:00'), to: berlin(TUE, '00:00') });
    expect(page.nextCursor).toBeNull();
    expect(page.slots.map((s) => iso(s.start))).toEqual(
      ['09:00', '09:30', '10:00', '10:30', '11:00', '11:30'].map((t) => iso(berlin(MON, t))),
    );
    expect(page.slots[0]).toEqual({
      doctorId: DOCTOR,
      start: berlin(MON, '09:00'),
      end: berlin(MON, '09:30'),
      timeZone: 'Europe/Berlin',
      fee: { amount: 6000, currency: 'eur' },
      availabilityId: record.id,
    });
    expect(f.events.map((e) => e.name)).toContain('availability.changed');
    expect(await f.engine.getAvailability({ doctorId: DOCTOR })).toEqual(record);
    expect(await f.engine.getAvailability({ doctorId: OTHER_DOCTOR })).toBeNull();
  });

  it('pages through a range with a cursor, each slot once', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const from = berlin(MON, '00:00');
    const to = berlin('2030-03-09', '00:00');
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const page = await f.engine.findSlots({ doctorId: DOCTOR, from, to, limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.slots.map((s) => iso(s.start)));
      if (page.nextCursor === null) break;
      expect(page.slots).toHaveLength(4);
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(await starts(f.engine, from, to));
    expect(seen).toHaveLength(30); // Monday to Friday, six each
    expect(new Set(seen).size).toBe(30);
  });

  it('honours minimum notice and the horizon', async () => {
    const f = createFixture();
    await f.engine.setAvailability({ ...HOURS, minNoticeMinutes: 90, horizonDays: 4 });
    // Now is Friday 09:00 Berlin: 10:30 is the first start 90 minutes ahead.
    expect(await starts(f.engine, berlin('2030-03-01', '00:00'), berlin('2030-03-02', '00:00'))).toEqual(
      ['10:30', '11:00', '11:30'].map((t) => iso(berlin('2030-03-01', t))),
    );
    // Four days ahead ends Tuesday 09:00: only that start on Tuesday.
    expect(await starts(f.engine, berlin(TUE, '00:00'), berlin('2030-03-06', '00:00'))).toEqual([
      iso(berlin(TUE, '09:00')),
    ]);
  });

  it('keeps the buffers around live slots, published ones included', async () => {
    const f = createFixture();
    await f.engine.setAvailability({ ...HOURS, stepMinutes: 15, bufferBeforeMinutes: 10, bufferAfterMinutes: 20 });
    await publish(f, berlin(MON, '10:00'), berlin(MON, '10:30'));
    // Each visit occupies [start - 10, end + 20), the published one too: s + 30 + 20 <= 10:00 - 10,
    // or s - 10 >= 10:30 + 20.
    expect(await mondayStarts(f)).toEqual(['09:00', '11:00', '11:15', '11:30'].map((t) => iso(berlin(MON, t))));
  });

  it('a later version applies from its effectiveFrom; earlier times keep the rules before', async () => {
    const f = createFixture();
    const first = await f.engine.setAvailability(HOURS);
    const second = await f.engine.setAvailability({
      ...HOURS,
      weekly: [{ days: ['mon', 'tue'], from: '14:00', to: '15:00' }],
      fee: { amount: 9000, currency: 'eur' },
      effectiveFrom: berlin(TUE, '00:00'),
    });
    const monday = await f.engine.findSlots({ doctorId: DOCTOR, from: berlin(MON, '00:00'), to: berlin(TUE, '00:00') });
    expect(monday.slots.map((s) => [iso(s.start), s.fee.amount, s.availabilityId])).toEqual(
      ['09:00', '09:30', '10:00', '10:30', '11:00', '11:30'].map((t) => [iso(berlin(MON, t)), 6000, first.id]),
    );
    const tuesday = await f.engine.findSlots({
      doctorId: DOCTOR,
      from: berlin(TUE, '00:00'),
      to: berlin('2030-03-06', '00:00'),
    });
    expect(tuesday.slots.map((s) => [iso(s.start), s.fee.amount, s.availabilityId])).toEqual([
      [iso(berlin(TUE, '14:00')), 9000, second.id],
      [iso(berlin(TUE, '14:30')), 9000, second.id],
    ]);
    expect((await f.engine.getAvailability({ doctorId: DOCTOR }))?.id).toBe(first.id);
    expect((await f.engine.getAvailability({ doctorId: DOCTOR, at: berlin(TUE, '08:00') }))?.id).toBe(second.id);
  });

  it('takes the engine’s minNoticeMinutes, rounded up to a whole minute, as the default notice', async () => {
    const f = createFixture({ holdMinutes: 0.05 });
    expect((await f.engine.setAvailability(HOURS)).rules.minNoticeMinutes).toBe(1);
  });

  it('a past effectiveFrom means now', async () => {
    const f = createFixture();
    const record = await f.engine.setAvailability({ ...HOURS, effectiveFrom: '2020-01-01T00:00:00Z' });
    expect(record.effectiveFrom).toEqual(f.clock.now());
  });

  it('clearAvailability ends the rules: nothing computed from then on, published slots untouched', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const published = await f.slot(5 * 24 * 60);
    expect(await f.engine.clearAvailability({ doctorId: DOCTOR, effectiveFrom: berlin(MON, '10:00') })).toEqual({
      ended: 1,
    });
    expect(await mondayStarts(f)).toEqual([iso(berlin(MON, '09:00')), iso(berlin(MON, '09:30'))]);
    expect((await f.engine.getSchedule(published.id)).status).toBe('available');
    expect(await f.engine.getAvailability({ doctorId: DOCTOR, at: berlin(MON, '10:00') })).toBeNull();
  });

  it('a rule change never moves or cancels a booking already made', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const { booking } = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:30'),
    });
    await pay(f, booking.id);
    await f.engine.setAvailability({ ...HOURS, weekly: [{ days: ['sat'], from: '09:00', to: '10:00' }] });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'scheduled',
      slotStart: berlin(MON, '09:30'),
    });
    expect(await mondayStarts(f)).toEqual([]);
  });
});

describe('book a computed slot', () => {
  it('materializes the slot in the booking transaction and runs the paid flow on it', async () => {
    const f = createFixture();
    const record = await f.engine.setAvailability(HOURS);
    const result = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: iso(berlin(MON, '10:00')),
    });
    expect(result.paymentUrl).toMatch(/^http:\/\/127\.0\.0\.1\/checkout/);
    const slot = await f.engine.getSchedule(result.booking.scheduleId);
    expect(slot).toMatchObject({
      doctorId: DOCTOR,
      startTime: berlin(MON, '10:00'),
      endTime: berlin(MON, '10:30'),
      status: 'pending',
      fee: { amount: 6000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
      availabilityId: record.id,
    });
    expect(result.booking).toMatchObject({ status: 'pending', price: { amount: 6000, currency: 'eur' } });
    expect(await mondayStarts(f)).not.toContain(iso(berlin(MON, '10:00')));

    await pay(f, result.booking.id);
    expect(await f.engine.getBooking(result.booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 6000 });

    // At the end the booking completes like any other, and no next-day copy appears.
    f.clock.set(berlin(MON, '10:31'));
    await f.scheduler.runDue();
    expect((await f.engine.getBooking(result.booking.id)).status).toBe('completed');
    expect(await f.engine.listSchedules({ doctorId: DOCTOR, status: 'available' })).toEqual([]);
  });

  it('books a free plan at once', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const { booking, paymentUrl } = await f.engine.book({
      patientId: PATIENTS.vise,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:00'),
    });
    expect(paymentUrl).toBeUndefined();
    expect(booking).toMatchObject({ status: 'scheduled', mode: 'free' });
    expect((await f.engine.getSchedule(booking.scheduleId)).status).toBe('booked');
  });

  it('refuses a time the rules do not offer, saying why', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const offGrid = await rejectionOf(
      f.engine.book({ patientId: PATIENTS.standard, doctorId: DOCTOR, startTime: berlin(MON, '09:10') }),
    );
    expect(offGrid).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', status: 409 });
    const noRules = await rejectionOf(
      f.engine.book({ patientId: PATIENTS.standard, doctorId: OTHER_DOCTOR, startTime: berlin(MON, '09:00') }),
    );
    expect(noRules).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'The doctor offers no slots at this time' });
    await f.engine.addTimeOff({ doctorId: DOCTOR, start: berlin(MON, '00:00'), end: berlin(TUE, '00:00') });
    const away = await rejectionOf(
      f.engine.book({ patientId: PATIENTS.standard, doctorId: DOCTOR, startTime: berlin(MON, '09:00') }),
    );
    expect(away).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'The doctor is away at this time' });
    expect(await f.engine.listBookings({})).toEqual([]);
    expect(await f.engine.listSchedules({ doctorId: DOCTOR })).toEqual([]);
  });

  it('a second patient cannot take the same time, or one inside its buffers', async () => {
    const f = createFixture();
    await f.engine.setAvailability({ ...HOURS, stepMinutes: 15, bufferAfterMinutes: 15 });
    await f.engine.book({ patientId: PATIENTS.standard, doctorId: DOCTOR, startTime: berlin(MON, '10:00') });
    // Visits occupy [start, end + 15): 09:45 and 10:30 would touch 10:00–10:30's occupied time.
    for (const t of ['10:00', '10:15', '10:30', '09:45', '09:30']) {
      const code = await f.engine.book({ patientId: PATIENTS.other, doctorId: DOCTOR, startTime: berlin(MON, t) }).then(
        () => 'booked',
        (e: { code?: string }) => e.code,
      );
      expect(code, t).toBe('SCHEDULE_UNAVAILABLE');
    }
    const { booking } = await f.engine.book({
      patientId: PATIENTS.other,
      doctorId: DOCTOR,
      startTime: berlin(MON, '10:45'),
    });
    expect(booking.slotStart).toEqual(berlin(MON, '10:45'));
  });

  it('a retry returns the first booking; a key reused for another time is INVALID_INPUT', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const input = {
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:00'),
      idempotencyKey: 'k1',
    };
    const first = await f.engine.book(input);
    const again = await f.engine.book(input);
    expect(again.booking.id).toBe(first.booking.id);
    const noKey = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:00'),
    });
    expect(noKey.booking.id).toBe(first.booking.id);
    const reused = await rejectionOf(f.engine.book({ ...input, startTime: berlin(MON, '10:00') }));
    expect(reused).toMatchObject({ code: 'INVALID_INPUT', details: { bookingId: first.booking.id } });
    expect(await f.engine.listBookings({})).toHaveLength(1);
  });

  it('a hold that times out gives the time back to the rules; the next booking replaces the freed row', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const { booking } = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:00'),
    });
    await f.advance(16);
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
    expect(await mondayStarts(f)).toContain(iso(berlin(MON, '09:00')));
    const freed = await f.engine.getSchedule(booking.scheduleId);
    expect(freed.status).toBe('available');
    // Booking the freed row by id books the computed time: a fresh row, the freed one gone.
    const next = await f.engine.book({ patientId: PATIENTS.other, scheduleId: freed.id });
    expect(next.booking.scheduleId).not.toBe(freed.id);
    expect(next.booking.slotStart).toEqual(berlin(MON, '09:00'));
    expect(await f.store.getSchedule(freed.id)).toBeNull();
  });

  it('a freed computed row is not offered once the rules no longer offer its time', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const { booking } = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '09:00'),
    });
    await f.advance(16);
    await f.engine.setAvailability({ ...HOURS, weekly: [{ days: ['mon'], from: '13:00', to: '14:00' }] });
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.other, scheduleId: booking.scheduleId }));
    expect(error.code).toBe('SCHEDULE_UNAVAILABLE');
    // Money that arrives late for it (the provider took it anyway) is refunded, not confirmed on a
    // time the doctor no longer works.
    const session = f.gateway.sessionForBooking(booking.id);
    if (session) session.status = 'open';
    expect((await f.engine.handlePaymentEvent(f.gateway.pay(session?.id ?? ''))).outcome).toBe('late_refund');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded' });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({});
  });

  it('a published slot keeps working beside the rules and blocks the computed ones it overlaps', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const published = await publish(f, berlin(MON, '09:15'), berlin(MON, '09:45'));
    expect(await mondayStarts(f)).toEqual(['10:00', '10:30', '11:00', '11:30'].map((t) => iso(berlin(MON, t))));
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: published.id });
    expect(booking).toMatchObject({ scheduleId: published.id, price: { amount: 5000, currency: 'eur' } });
  });
});

describe('daylight-saving days through the public API', () => {
  const cases: [string, string, string, string, string[]][] = [
    // Berlin springs forward 02:00 → 03:00 on 31 March 2030: 00:30–04:00 is 2.5 hours of work.
    ['Europe/Berlin', '2030-03-31', '00:30', '04:00', ['2030-03-30T23:30:00.000Z', '2030-03-31T00:30:00.000Z']],
    // New York falls back on 3 November: 01:00–02:00 is worked twice, so 00:30–02:30 is 3 hours.
    [
      'America/New_York',
      '2030-11-03',
      '00:30',
      '02:30',
      ['2030-11-03T04:30:00.000Z', '2030-11-03T05:30:00.000Z', '2030-11-03T06:30:00.000Z'],
    ],
    // Lord Howe moves half an hour (02:00 → 02:30) on 6 October 2030: 01:00–04:00 is 2.5 hours.
    ['Australia/Lord_Howe', '2030-10-06', '01:00', '04:00', ['2030-10-05T14:30:00.000Z', '2030-10-05T15:30:00.000Z']],
  ];
  it.each(cases)(
    '%s on %s from %s to %s: the list and the booking agree',
    async (timeZone, date, from, to, expected) => {
      const f = createFixture({ start: '2030-03-20T00:00:00Z' });
      if (date >= '2030-10-01') f.clock.set(new Date(`${date.slice(0, 8)}01T00:00:00Z`));
      await f.engine.setAvailability({
        doctorId: DOCTOR,
        timeZone,
        weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from, to }],
        slotMinutes: 60,
        fee: { amount: 6000, currency: 'eur' },
      });
      const dayStart = new Date(`${date}T00:00:00Z`);
      const window = {
        from: new Date(dayStart.getTime() - 14 * 3_600_000),
        to: new Date(dayStart.getTime() + 14 * 3_600_000),
      };
      const listed = await f.engine.findSlots({ doctorId: DOCTOR, ...window });
      const onDay = listed.slots.filter((slot) => slot.start.toLocaleDateString('en-CA', { timeZone }) === date);
      expect(onDay.map((slot) => iso(slot.start))).toEqual(expected);
      for (const slot of onDay) expect(slot.end.getTime() - slot.start.getTime()).toBe(3_600_000);
      // Every listed start books; a start half an hour off the grid does not.
      for (const slot of onDay) {
        const { booking } = await f.engine.book({ patientId: PATIENTS.vise, doctorId: DOCTOR, startTime: slot.start });
        expect(booking).toMatchObject({ status: 'scheduled', slotStart: slot.start, slotEnd: slot.end, timeZone });
      }
      const first = onDay[0]?.start ?? dayStart;
      const offGrid = await rejectionOf(
        f.engine.book({
          patientId: PATIENTS.vise,
          doctorId: DOCTOR,
          startTime: new Date(first.getTime() + 30 * 60_000),
        }),
      );
      expect(offGrid.code).toBe('SCHEDULE_UNAVAILABLE');
    },
  );
});

describe('time off', () => {
  it('hides computed slots, withdraws free published ones, and refuses new slots inside it', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const published = await publish(f, berlin(MON, '13:00'), berlin(MON, '13:30'));
    const outcome = await f.engine.addTimeOff({
      doctorId: DOCTOR,
      start: berlin(MON, '10:00'),
      end: berlin(MON, '14:00'),
      reason: 'conference',
    });
    expect(outcome.timeOff).toMatchObject({ doctorId: DOCTOR, reason: 'conference', start: berlin(MON, '10:00') });
    expect(outcome.cancelled).toEqual([]);
    expect(outcome.withdrawn.map((s) => s.id)).toEqual([published.id]);
    expect(await f.store.getSchedule(published.id)).toBeNull();
    expect(f.events.map((e) => e.name)).toEqual(expect.arrayContaining(['timeOff.added', 'schedule.withdrawn']));
    expect(await mondayStarts(f)).toEqual([iso(berlin(MON, '09:00')), iso(berlin(MON, '09:30'))]);
    const clash = await rejectionOf(publish(f, berlin(MON, '13:45'), berlin(MON, '14:15')));
    expect(clash).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', details: { timeOffId: outcome.timeOff.id } });
    expect(await f.engine.listTimeOff({ doctorId: DOCTOR })).toEqual([outcome.timeOff]);

    const removed = await f.engine.removeTimeOff({ timeOffId: outcome.timeOff.id });
    expect(removed.id).toBe(outcome.timeOff.id);
    expect(await mondayStarts(f)).toHaveLength(6);
    expect(await rejectionOf(f.engine.removeTimeOff({ timeOffId: outcome.timeOff.id }))).toMatchObject({
      code: 'TIME_OFF_NOT_FOUND',
      status: 404,
    });
  });

  it('reject: refuses a period with bookings in it, naming them, and stores nothing', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const { booking } = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '10:00'),
    });
    const error = await rejectionOf(
      f.engine.addTimeOff({ doctorId: DOCTOR, start: berlin(MON, '00:00'), end: berlin(TUE, '00:00') }),
    );
    expect(error).toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      details: { bookingIds: [booking.id], scheduleIds: [booking.scheduleId] },
    });
    expect(await f.engine.listTimeOff({ doctorId: DOCTOR })).toEqual([]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('cancelAndRefund: cancels the bookings as the doctor with a full refund, and is safe to repeat', async () => {
    const f = createFixture({ cancellation: { fullRefundHoursBefore: 24, lateRefundPercent: 0 } });
    await f.engine.setAvailability(HOURS);
    const paid = await f.engine.book({
      patientId: PATIENTS.standard,
      doctorId: DOCTOR,
      startTime: berlin(MON, '10:00'),
    });
    await pay(f, paid.booking.id);
    const held = await f.engine.book({ patientId: PATIENTS.other, doctorId: DOCTOR, startTime: berlin(MON, '11:00') });
    const input = {
      doctorId: DOCTOR,
      start: berlin(MON, '00:00'),
      end: berlin(TUE, '00:00'),
      onConflict: 'cancelAndRefund' as const,
    };
    const outcome = await f.engine.addTimeOff(input);
    expect(outcome.cancelled.map((c) => c.booking.id).sort()).toEqual([paid.booking.id, held.booking.id].sort());
    const cancelled = await f.engine.getBooking(paid.booking.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', cancelReason: 'by_doctor', paymentStatus: 'refunded' });
    expect(cancelled.history.find((h) => h.to === 'cancelled')).toMatchObject({
      actor: { role: 'doctor', id: DOCTOR },
      reason: 'time_off',
    });
    expect(await f.engine.getBooking(held.booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'by_doctor',
    });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
    expect(f.notifications.some((n) => n.recipient.id === PATIENTS.standard && n.type === 'appointmentCancelled')).toBe(
      true,
    );
    // The freed rows are withdrawn, nothing is offered that day.
    expect(await f.engine.listSchedules({ doctorId: DOCTOR, status: 'available' })).toEqual([]);
    expect(await mondayStarts(f)).toEqual([]);

    const again = await f.engine.addTimeOff(input);
    expect(again.timeOff.id).toBe(outcome.timeOff.id);
    expect(again.cancelled).toEqual([]);
    expect(await f.engine.listTimeOff({ doctorId: DOCTOR })).toHaveLength(1);
  });
});

describe('withdrawSchedule', () => {
  it('deletes a free published slot for its doctor or an admin; never a held one, never for others', async () => {
    const f = createFixture();
    const a = await f.slot(24 * 60);
    const b = await f.slot(26 * 60);
    const c = await f.slot(28 * 60);
    const notAllowed = [
      { role: 'patient' as const, id: PATIENTS.standard },
      { role: 'doctor' as const, id: OTHER_DOCTOR },
    ];
    for (const actor of notAllowed) {
      expect(await rejectionOf(f.engine.withdrawSchedule({ scheduleId: a.id, actor }))).toMatchObject({
        code: 'NOT_ALLOWED',
      });
    }
    expect((await f.engine.withdrawSchedule({ scheduleId: a.id, actor: { role: 'doctor', id: DOCTOR } })).id).toBe(
      a.id,
    );
    expect(await f.store.getSchedule(a.id)).toBeNull();
    expect(f.events.find((e) => e.name === 'schedule.withdrawn')?.payload).toMatchObject({
      schedule: { id: a.id },
      reason: 'withdrawn',
    });
    await f.engine.withdrawSchedule({ scheduleId: b.id, actor: { role: 'admin', id: 'root' } });
    await f.engine.book({ patientId: PATIENTS.standard, scheduleId: c.id });
    expect(
      await rejectionOf(f.engine.withdrawSchedule({ scheduleId: c.id, actor: { role: 'doctor', id: DOCTOR } })),
    ).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', details: { status: 'pending' } });
    expect(
      await rejectionOf(f.engine.withdrawSchedule({ scheduleId: a.id, actor: { role: 'doctor', id: DOCTOR } })),
    ).toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
  });
});

describe('bad input names the field', () => {
  const cases: [string, Partial<SetAvailabilityInput> & Record<string, unknown>, string][] = [
    ['an unknown zone', { timeZone: 'Mars/Olympus' }, 'timeZone'],
    [
      'overlapping weekly ranges',
      {
        weekly: [
          { days: ['mon'], from: '09:00', to: '12:00' },
          { days: ['mon', 'tue'], from: '11:00', to: '13:00' },
        ],
      },
      'weekly[1]',
    ],
    ['to before from', { weekly: [{ days: ['mon'], from: '12:00', to: '09:00' }] }, 'weekly[0].to'],
    ['a bad wall-clock time', { weekly: [{ days: ['mon'], from: '9am', to: '12:00' }] }, 'weekly[0].from'],
    ['an unknown weekday', { weekly: [{ days: ['monday' as never], from: '09:00', to: '12:00' }] }, 'weekly[0].days'],
    ['a slot longer than every range', { slotMinutes: 240 }, 'slotMinutes'],
    ['a negative buffer', { bufferBeforeMinutes: -5 }, 'bufferBeforeMinutes'],
    ['a fractional step', { stepMinutes: 7.5 }, 'stepMinutes'],
    ['a horizon beyond the configured maximum', { horizonDays: 31 }, 'horizonDays'],
    ['a fee of zero', { fee: { amount: 0, currency: 'eur' } }, 'fee.amount'],
    ['an operator object as doctor id', { doctorId: { $gt: '' } as never }, 'doctorId'],
  ];
  it.each(cases)(
    'setAvailability with %s → INVALID_INPUT naming %s, and nothing stored',
    async (_, override, field) => {
      const f = createFixture({ maxHorizonDays: 30 });
      const error = await rejectionOf(f.engine.setAvailability({ ...HOURS, ...override } as SetAvailabilityInput));
      expect(error).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
      const issues = (error as { details?: { issues?: { path: string }[] } }).details?.issues ?? [];
      expect(issues.map((i) => i.path)).toContain(field);
      expect(await f.engine.getAvailability({ doctorId: DOCTOR })).toBeNull();
    },
  );

  it('findSlots: to before from, a range over 62 days, a bad cursor', async () => {
    const f = createFixture();
    await f.engine.setAvailability(HOURS);
    const from = berlin(MON, '00:00');
    const field = async (query: Record<string, unknown>) => {
      const error = await rejectionOf(
        f.engine.findSlots({ doctorId: DOCTOR, from, to: berlin(TUE, '00:00'), ...query }),
      );
      expect(error.code).toBe('INVALID_INPUT');
      return (error as { details?: { field?: string } }).details?.field;
    };
    expect(await field({ to: berlin('2030-03-03', '00:00') })).toBe('to');
    expect(await field({ to: new Date(from.getTime() + 63 * 86_400_000) })).toBe('to');
    expect(await field({ cursor: 'not-a-cursor' })).toBe('cursor');
    expect(
      await rejectionOf(f.engine.findSlots({ doctorId: DOCTOR, from: 'yesterday', to: berlin(TUE, '00:00') })),
    ).toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('addTimeOff: end before start, longer than 366 days, already over, an unknown onConflict', async () => {
    const f = createFixture();
    const base = { doctorId: DOCTOR, start: berlin(MON, '10:00'), end: berlin(MON, '12:00') };
    for (const override of [
      { end: berlin(MON, '09:00') },
      { end: new Date(berlin(MON, '10:00').getTime() + 367 * 86_400_000) },
      { start: '2020-01-01T00:00:00Z', end: '2020-01-02T00:00:00Z' },
      { onConflict: 'ignore' },
    ]) {
      const error = await rejectionOf(f.engine.addTimeOff({ ...base, ...override } as never));
      expect(error.code, JSON.stringify(override)).toBe('INVALID_INPUT');
    }
    expect(await f.engine.listTimeOff({ doctorId: DOCTOR, from: '2000-01-01T00:00:00Z' })).toEqual([]);
  });

  it('book: both a scheduleId and a time, or a time without its doctor', async () => {
    const f = createFixture();
    const slot = await f.slot();
    for (const input of [
      { patientId: PATIENTS.standard, scheduleId: slot.id, doctorId: DOCTOR, startTime: berlin(MON, '09:00') },
      { patientId: PATIENTS.standard, startTime: berlin(MON, '09:00') },
      { patientId: PATIENTS.standard },
    ]) {
      expect((await rejectionOf(f.engine.book(input as never))).code).toBe('INVALID_INPUT');
    }
  });
});
