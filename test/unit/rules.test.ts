// Pure rules the engine consults: late payments, what is left to refund, who may act, money text, transitions.
import { describe, expect, it } from 'vitest';
import { EngineContext } from '../../src/engine/context.js';
import { resolveOptions } from '../../src/engine/options.js';
import {
  assertMayAct,
  type Booking,
  BookingError,
  canTransitionBooking,
  canTransitionSchedule,
  decideLatePayment,
  EventEmitterNotifier,
  formatMoney,
  holdEnd,
  InProcessScheduler,
  isPaymentRelease,
  MemoryStore,
  mayActOnBooking,
  type PaymentTransaction,
  paysPrice,
  refundable,
  SYSTEM_ACTOR,
} from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { autocommit } from '../support/autocommit.js';

const now = new Date('2030-03-01T08:00:00Z');
const future = new Date('2030-03-01T09:00:00Z');
const past = new Date('2030-03-01T07:59:59Z');

describe('decideLatePayment', () => {
  it('confirms a pending booking whose slot it still holds', () => {
    expect(
      decideLatePayment({ status: 'pending', cancelReason: null }, { status: 'pending', startTime: future }, now),
    ).toEqual({ action: 'confirm', late: false });
  });

  it('revives a booking released for want of payment while its slot is free and in the future', () => {
    for (const reason of ['payment_timeout', 'payment_failed', 'checkout_expired', 'payment_provider_error'] as const) {
      expect(
        decideLatePayment(
          { status: 'cancelled', cancelReason: reason },
          { status: 'available', startTime: future },
          now,
        ),
      ).toEqual({ action: 'confirm', late: true });
    }
  });

  it('refunds when the released booking’s slot has already started, even though it is free', () => {
    const booking = { status: 'cancelled' as const, cancelReason: 'payment_timeout' as const };
    expect(decideLatePayment(booking, { status: 'available', startTime: past }, now)).toEqual({ action: 'refund' });
    expect(decideLatePayment(booking, { status: 'available', startTime: now }, now)).toEqual({ action: 'refund' });
  });

  it('refunds when a person cancelled, the slot went to someone else, or the slot is gone', () => {
    for (const reason of ['by_patient', 'by_doctor', 'by_admin'] as const) {
      expect(
        decideLatePayment(
          { status: 'cancelled', cancelReason: reason },
          { status: 'available', startTime: future },
          now,
        ),
      ).toEqual({ action: 'refund' });
    }
    const released = { status: 'cancelled' as const, cancelReason: 'payment_timeout' as const };
    expect(decideLatePayment(released, { status: 'pending', startTime: future }, now)).toEqual({ action: 'refund' });
    expect(decideLatePayment(released, { status: 'booked', startTime: future }, now)).toEqual({ action: 'refund' });
    expect(decideLatePayment(released, null, now)).toEqual({ action: 'refund' });
    expect(
      decideLatePayment({ status: 'pending', cancelReason: null }, { status: 'booked', startTime: future }, now),
    ).toEqual({ action: 'refund' });
    expect(
      decideLatePayment({ status: 'scheduled', cancelReason: null }, { status: 'booked', startTime: future }, now),
    ).toEqual({ action: 'refund' });
  });

  it('refunds a pending booking whose slot has started, though it still holds it', () => {
    const pending = { status: 'pending' as const, cancelReason: null };
    expect(decideLatePayment(pending, { status: 'pending', startTime: now }, now)).toEqual({ action: 'refund' });
    expect(decideLatePayment(pending, { status: 'pending', startTime: past }, now)).toEqual({ action: 'refund' });
  });

  it('clips a hold to the slot start and checks that money pays the price exactly', () => {
    expect(holdEnd(now, 15, future).getTime()).toBe(now.getTime() + 15 * 60_000);
    expect(holdEnd(now, 120, future).getTime()).toBe(future.getTime());
    expect(paysPrice({ amount: 5000, currency: 'eur' }, { amount: 5000, currency: 'eur' })).toBe(true);
    expect(paysPrice({ amount: 4999, currency: 'eur' }, { amount: 5000, currency: 'eur' })).toBe(false);
    expect(paysPrice({ amount: 5000, currency: 'usd' }, { amount: 5000, currency: 'eur' })).toBe(false);
    expect(paysPrice({ amount: null, currency: 'eur' }, { amount: 5000, currency: 'eur' })).toBe(false);
  });

  it('counts only payment releases as revivable', () => {
    expect(isPaymentRelease('payment_timeout')).toBe(true);
    expect(isPaymentRelease('by_patient')).toBe(false);
    expect(isPaymentRelease(null)).toBe(false);
  });
});

describe('refundable', () => {
  const refund = (amount: number, status: 'pending' | 'succeeded' | 'failed') => ({
    id: `r-${amount}-${status}`,
    amount,
    status,
    providerRefundId: null,
    reason: null,
    failureMessage: null,
    createdAt: now,
    updatedAt: now,
  });
  it('subtracts pending and succeeded refunds, never failed ones', () => {
    const payment: Pick<PaymentTransaction, 'amount' | 'refunds'> = {
      amount: 5000,
      refunds: [refund(1000, 'succeeded'), refund(700, 'pending'), refund(2000, 'failed')],
    };
    expect(refundable(payment)).toBe(3300);
    expect(refundable({ amount: 5000, refunds: [] })).toBe(5000);
  });
});

describe('who may act on a booking', () => {
  const booking = { patientId: 'p1', doctorId: 'd1' } as Pick<Booking, 'patientId' | 'doctorId'>;
  it('lets its patient, its doctor, any admin and careslot itself act, and nobody else', () => {
    expect(mayActOnBooking({ role: 'patient', id: 'p1' }, booking)).toBe(true);
    expect(mayActOnBooking({ role: 'doctor', id: 'd1' }, booking)).toBe(true);
    expect(mayActOnBooking({ role: 'admin', id: 'anyone' }, booking)).toBe(true);
    expect(mayActOnBooking(SYSTEM_ACTOR, booking)).toBe(true);
    expect(mayActOnBooking({ role: 'patient', id: 'd1' }, booking)).toBe(false);
    expect(mayActOnBooking({ role: 'doctor', id: 'p1' }, booking)).toBe(false);
    expect(mayActOnBooking({ role: 'nurse', id: 'p1' } as never, booking)).toBe(false);
  });

  it('throws NOT_ALLOWED naming the action', () => {
    expect(() => assertMayAct({ role: 'patient', id: 'p2' }, booking, 'cancel')).toThrow(
      expect.objectContaining({ code: 'NOT_ALLOWED', message: expect.stringContaining('may cancel it') }),
    );
  });
});

describe('formatMoney', () => {
  it('uses the currency’s minor-unit digits and symbol as Intl knows them: JPY 5000 is ¥5,000', () => {
    expect(formatMoney({ amount: 5000, currency: 'eur' })).toBe('€50.00');
    expect(formatMoney({ amount: 5000, currency: 'jpy' })).toBe('¥5,000');
    expect(formatMoney({ amount: 5005, currency: 'kwd' })).toBe('KWD\u00a05.005');
    expect(formatMoney({ amount: 1, currency: 'usd' })).toBe('$0.01');
    expect(formatMoney({ amount: 123456, currency: 'eur' }, 'de-DE')).toBe('1.234,56\u00a0€');
  });
});

describe('the state machines', () => {
  it('lets a booking start pending or scheduled only', () => {
    expect(canTransitionBooking(null, 'pending')).toBe(true);
    expect(canTransitionBooking(null, 'scheduled')).toBe(true);
    expect(canTransitionBooking(null, 'cancelled')).toBe(false);
    expect(canTransitionBooking(null, 'completed')).toBe(false);
  });

  it('lists the history notes that keep the status (reschedule, refund) and nothing out of an end state', () => {
    expect(canTransitionBooking('scheduled', 'scheduled')).toBe(true);
    expect(canTransitionBooking('completed', 'completed')).toBe(true);
    expect(canTransitionBooking('cancelled', 'cancelled')).toBe(true);
    expect(canTransitionBooking('completed', 'scheduled')).toBe(false);
    expect(canTransitionBooking('scheduled', 'pending')).toBe(false);
    expect(canTransitionSchedule('booked', 'pending')).toBe(false);
    expect(canTransitionSchedule('expired', 'booked')).toBe(false);
  });

  it('is what the engine consults: an illegal history entry or slot move is refused before any write', async () => {
    const clock = new ManualClock(now);
    const store = new MemoryStore();
    const ports = {
      store,
      payments: new TestPaymentGateway({ clock }),
      scheduler: new InProcessScheduler({ clock, timers: false }),
      notifier: new EventEmitterNotifier(),
      patients: new MemoryPatientDirectory(),
      clock,
    };
    const ctx = new EngineContext(ports, resolveOptions(ports));
    expect(() => ctx.history('completed', 'scheduled', 'paid', SYSTEM_ACTOR, null)).toThrow(BookingError);
    expect(ctx.history('scheduled', 'scheduled', 'paid', SYSTEM_ACTOR, 'rescheduled_from:x')).toMatchObject({
      from: 'scheduled',
      to: 'scheduled',
    });
    const slot = await autocommit(store).insertSchedule({
      doctorId: 'd1',
      startTime: future,
      endTime: new Date(future.getTime() + 1_800_000),
      timeZone: 'UTC',
      fee: { amount: 5000, currency: 'eur' },
      status: 'expired',
      bookedBy: null,
      rolledOverFrom: null,
    });
    await expect(
      store.transaction(async (tx) => ctx.moveSlot(tx, { id: slot.id, from: 'expired', to: 'available' })),
    ).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    expect((await store.getSchedule(slot.id))?.status).toBe('expired');
  });
});
