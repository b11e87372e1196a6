// Pure rules about money taken: what late money does, and what is left to refund.
import type { Booking, PaymentTransaction, Schedule } from './entities.js';
import type { Money } from './money.js';
import { isPaymentRelease } from './status.js';

/**
 * What to do with money that arrived for a booking:
 * - `confirm` (late: false): the booking is pending, still holds its slot, and the slot has not
 *   started;
 * - `confirm` (late: true): the booking was released for want of payment (timeout, failed or
 *   expired checkout) and its slot is still free and in the future, so the payment revives it;
 * - `refund`: anything else (a person cancelled, the slot went to someone else, has started or
 *   is gone, or the booking is already paid) — the money goes back in full. Money for a slot
 *   that has started is always refunded: nothing of it could be refunded after confirmation.
 */
export type LatePaymentDecision = { action: 'confirm'; late: boolean } | { action: 'refund' };

export function decideLatePayment(
  booking: Pick<Booking, 'status' | 'cancelReason'>,
  slot: Pick<Schedule, 'status' | 'startTime'> | null,
  now: Date,
): LatePaymentDecision {
  if (slot === null || slot.startTime <= now) return { action: 'refund' };
  if (booking.status === 'pending' && slot.status === 'pending') return { action: 'confirm', late: false };
  const released = booking.status === 'cancelled' && isPaymentRelease(booking.cancelReason);
  if (released && slot.status === 'available') return { action: 'confirm', late: true };
  return { action: 'refund' };
}

/** Whether money received matches a booking's price exactly (amount and currency). */
export function paysPrice(payment: { amount: number | null; currency: string }, price: Money): boolean {
  return payment.amount === price.amount && payment.currency === price.currency;
}

/**
 * When a paid booking's hold ends: `holdMinutes` after booking, but never after the slot starts
 * (money for a started slot cannot be kept, so the hold must not outlive the start).
 */
export function holdEnd(now: Date, holdMinutes: number, slotStart: Date): Date {
  const end = now.getTime() + holdMinutes * 60_000;
  return new Date(Math.min(end, slotStart.getTime()));
}

/** What is left to refund on a payment: pending and succeeded refunds count, failed ones do not. */
export function refundable(payment: Pick<PaymentTransaction, 'amount' | 'refunds'>): number {
  const committed = payment.refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + r.amount, 0);
  return payment.amount - committed;
}
