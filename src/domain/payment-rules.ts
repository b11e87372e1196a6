// Pure rules about money taken: what late money does, and what is left to refund.
import type { Booking, PaymentTransaction, Schedule } from './entities.js';
import { isPaymentRelease } from './status.js';

/**
 * What to do with money that arrived for a booking:
 * - `confirm` (late: false): the booking is pending and still holds its slot;
 * - `confirm` (late: true): the booking was released for want of payment (timeout, failed or
 *   expired checkout) and its slot is still free and in the future, so the payment revives it;
 * - `refund`: anything else (a person cancelled, the slot went to someone else, has started or
 *   is gone, or the booking is already paid) — the money goes back in full.
 */
export type LatePaymentDecision = { action: 'confirm'; late: boolean } | { action: 'refund' };

export function decideLatePayment(
  booking: Pick<Booking, 'status' | 'cancelReason'>,
  slot: Pick<Schedule, 'status' | 'startTime'> | null,
  now: Date,
): LatePaymentDecision {
  if (slot === null) return { action: 'refund' };
  if (booking.status === 'pending' && slot.status === 'pending') return { action: 'confirm', late: false };
  const released = booking.status === 'cancelled' && isPaymentRelease(booking.cancelReason);
  if (released && slot.status === 'available' && slot.startTime > now) return { action: 'confirm', late: true };
  return { action: 'refund' };
}

/** What is left to refund on a payment: pending and succeeded refunds count, failed ones do not. */
export function refundable(payment: Pick<PaymentTransaction, 'amount' | 'refunds'>): number {
  const committed = payment.refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + r.amount, 0);
  return payment.amount - committed;
}
