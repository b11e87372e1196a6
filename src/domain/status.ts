// Slot and booking statuses and the transitions the engine allows between them.

export const SCHEDULE_STATUSES = ['available', 'pending', 'booked', 'expired'] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

export const BOOKING_STATUSES = ['pending', 'scheduled', 'completed', 'cancelled', 'no_show'] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const PAYMENT_STATUSES = ['unpaid', 'paid', 'failed', 'partially_refunded', 'refunded'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Pending and scheduled bookings hold their slot; at most one may exist per slot. */
export function isActiveBookingStatus(status: BookingStatus): boolean {
  return status === 'pending' || status === 'scheduled';
}

const scheduleTransitions: Record<ScheduleStatus, readonly ScheduleStatus[]> = {
  available: ['pending', 'booked', 'expired'],
  pending: ['available', 'booked', 'expired'],
  booked: ['available', 'expired'],
  expired: [],
};

// A status to itself is a history note without a status change: a refund on any booking, and a
// reschedule (scheduled → scheduled on another slot).
const bookingTransitions: Record<BookingStatus, readonly BookingStatus[]> = {
  pending: ['pending', 'scheduled', 'cancelled'],
  scheduled: ['scheduled', 'completed', 'cancelled', 'no_show'],
  completed: ['completed'],
  // Marked by the doctor or an admin; undone (back to scheduled) within the grace period.
  no_show: ['no_show', 'scheduled'],
  // A late payment may revive a booking released for want of payment while its slot is still free.
  cancelled: ['cancelled', 'scheduled'],
};

/** A booking starts pending (paid path) or scheduled (free path). */
const initialBookingStatuses: readonly BookingStatus[] = ['pending', 'scheduled'];

export function canTransitionSchedule(from: ScheduleStatus, to: ScheduleStatus): boolean {
  return scheduleTransitions[from].includes(to);
}

/** `from` null: whether a new booking may start in `to`. The engine checks every history entry against this. */
export function canTransitionBooking(from: BookingStatus | null, to: BookingStatus): boolean {
  return from === null ? initialBookingStatuses.includes(to) : bookingTransitions[from].includes(to);
}

/** Why a booking ended as cancelled; stored on the booking and in its history. */
export const CANCEL_REASONS = [
  'payment_timeout',
  'payment_failed',
  'checkout_expired',
  'payment_provider_error',
  'by_patient',
  'by_doctor',
  'by_admin',
  'by_system',
] as const;
export type CancelReason = (typeof CANCEL_REASONS)[number];

/** Reasons a booking was let go for want of payment; only these may be revived by a late payment. */
export const PAYMENT_RELEASE_REASONS: readonly CancelReason[] = [
  'payment_timeout',
  'payment_failed',
  'checkout_expired',
  'payment_provider_error',
];

export function isPaymentRelease(reason: CancelReason | null): boolean {
  return reason !== null && PAYMENT_RELEASE_REASONS.includes(reason);
}
