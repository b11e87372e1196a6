// No-shows through the public API: the window from the start to the grace after the end, undo, completion after grace, money and reports.
import { describe, expect, it } from 'vitest';
import type { Actor, BookingEngineOptions } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, OTHER_DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

const doctor: Actor = { role: 'doctor', id: DOCTOR };
const GRACE = 30;

async function paidBooking(f: Fixture, startInMinutes = 120) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return f.engine.getBooking(booking.id);
}

const at = (f: Fixture, instant: Date, plusMinutes = 0) =>
  f.clock.set(new Date(instant.getTime() + plusMinutes * 60_000));

function fixture(options: Partial<BookingEngineOptions> = {}) {
  return createFixture({ noShowGraceMinutes: GRACE, ...options });
}

describe('markNoShow', () => {
  it('marks a scheduled booking from its start until the grace after its end; the payment is kept', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, -1);
    expect(await rejectionOf(f.engine.markNoShow({ bookingId: booking.id, actor: doctor }))).toMatchObject({
      code: 'NOT_ALLOWED',
      details: { from: booking.slotStart.toISOString() },
    });
    at(f, booking.slotStart);
    const marked = await f.engine.markNoShow({ bookingId: booking.id, actor: doctor });
    expect(marked).toMatchObject({ status: 'no_show', paymentStatus: 'paid' });
    expect(marked.history.at(-1)).toMatchObject({ from: 'scheduled', to: 'no_show', actor: doctor, reason: 'no_show' });
    expect((await f.engine.getSchedule(booking.scheduleId)).status).toBe('booked');
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect(f.events.some((e) => e.name === 'booking.noShow')).toBe(true);
    expect(f.notifications.at(-1)).toMatchObject({
      type: 'appointmentNoShow',
      recipient: { role: 'patient', id: PATIENTS.standard },
    });
    expect((await f.engine.listBookings({ status: 'no_show' })).map((b) => b.id)).toEqual([booking.id]);
  });

  it('accepts the last moment of the grace and refuses the next', async () => {
    const f = fixture();
    const first = await paidBooking(f, 120);
    const second = await paidBooking(f, 240);
    at(f, first.slotEnd, GRACE);
    expect((await f.engine.markNoShow({ bookingId: first.id, actor: doctor })).status).toBe('no_show');
    at(f, second.slotEnd, GRACE);
    f.clock.set(new Date(f.clock.now().getTime() + 1));
    expect((await rejectionOf(f.engine.markNoShow({ bookingId: second.id, actor: doctor }))).code).toBe('NOT_ALLOWED');
  });

  it('only the booking’s doctor or an admin may mark it; only a scheduled booking can be', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 5);
    for (const actor of [
      { role: 'patient' as const, id: PATIENTS.standard },
      { role: 'doctor' as const, id: OTHER_DOCTOR },
    ]) {
      expect((await rejectionOf(f.engine.markNoShow({ bookingId: booking.id, actor }))).code).toBe('NOT_ALLOWED');
    }
    await f.engine.markNoShow({ bookingId: booking.id, actor: { role: 'admin', id: 'root' } });
    expect((await rejectionOf(f.engine.markNoShow({ bookingId: booking.id, actor: doctor }))).code).toBe(
      'INVALID_TRANSITION',
    );
    expect(
      (await rejectionOf(f.engine.markNoShow({ bookingId: '64b0000000000000000000ff', actor: doctor }))).code,
    ).toBe('BOOKING_NOT_FOUND');
    expect((await rejectionOf(f.engine.markNoShow({ bookingId: booking.id } as never))).code).toBe('INVALID_INPUT');
  });

  it('gives part of the payment back when noShowRefundPercent says so, and then cannot be undone', async () => {
    const f = fixture({ noShowRefundPercent: 25 });
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 5);
    const marked = await f.engine.markNoShow({ bookingId: booking.id, actor: doctor });
    expect(marked).toMatchObject({ amountRefunded: 1250, paymentStatus: 'partially_refunded' });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 3750 });
    expect((await rejectionOf(f.engine.undoNoShow({ bookingId: booking.id, actor: doctor }))).code).toBe('NOT_ALLOWED');
  });
});

describe('undoNoShow and completion', () => {
  it('takes a no-show back within the grace; the end-of-slot job completes only after the grace', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 10);
    await f.engine.markNoShow({ bookingId: booking.id, actor: doctor });
    at(f, booking.slotEnd, 10);
    await f.scheduler.runDue();
    expect((await f.engine.getSchedule(booking.scheduleId)).status).toBe('booked');
    const undone = await f.engine.undoNoShow({ bookingId: booking.id, actor: doctor });
    expect(undone).toMatchObject({ status: 'scheduled' });
    expect(undone.history.at(-1)).toMatchObject({ from: 'no_show', to: 'scheduled', reason: 'no_show_undone' });
    expect(f.events.some((e) => e.name === 'booking.noShowUndone')).toBe(true);
    at(f, booking.slotEnd, GRACE);
    await f.scheduler.runDue();
    expect((await f.engine.getBooking(booking.id)).status).toBe('completed');
    expect((await f.engine.getSchedule(booking.scheduleId)).status).toBe('expired');
  });

  it('after the grace a no-show stays one: undo refused, the slot expires, the sweep finishes it', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 1);
    await f.engine.markNoShow({ bookingId: booking.id, actor: doctor });
    at(f, booking.slotEnd, GRACE + 1);
    expect((await rejectionOf(f.engine.undoNoShow({ bookingId: booking.id, actor: doctor }))).code).toBe('NOT_ALLOWED');
    await f.engine.reconcile();
    expect((await f.engine.getBooking(booking.id)).status).toBe('no_show');
    expect((await f.engine.getSchedule(booking.scheduleId)).status).toBe('expired');
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('the sweep does not complete a booked slot inside the grace', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotEnd, GRACE - 1);
    await f.engine.reconcile();
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
    at(f, booking.slotEnd, GRACE);
    await f.engine.reconcile();
    expect((await f.engine.getBooking(booking.id)).status).toBe('completed');
  });

  it('undoNoShow refuses bad input, unknown bookings and patients', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 1);
    await f.engine.markNoShow({ bookingId: booking.id, actor: doctor });
    expect((await rejectionOf(f.engine.undoNoShow({ bookingId: { $gt: '' } } as never))).code).toBe('INVALID_INPUT');
    expect(
      (await rejectionOf(f.engine.undoNoShow({ bookingId: '64b0000000000000000000ff', actor: doctor }))).code,
    ).toBe('BOOKING_NOT_FOUND');
    expect(
      (
        await rejectionOf(
          f.engine.undoNoShow({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.standard } }),
        )
      ).code,
    ).toBe('NOT_ALLOWED');
    expect((await f.engine.getBooking(booking.id)).status).toBe('no_show');
  });

  it('undo of a booking that is not a no-show is INVALID_TRANSITION', async () => {
    const f = fixture();
    const booking = await paidBooking(f);
    at(f, booking.slotStart, 1);
    expect((await rejectionOf(f.engine.undoNoShow({ bookingId: booking.id, actor: doctor }))).code).toBe(
      'INVALID_TRANSITION',
    );
  });
});
