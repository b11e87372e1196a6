// Slot and booking statuses and the transitions the engine allows between them.

export const SCHEDULE_STATUSES = ['available', 'pending', 'booked', 'expired'] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

export const BOOKING_STATUSES = ['pending', 'scheduled', 'completed', 'cancelled'] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const PAYMENT_STATUSES = ['unpaid', 'paid', 'failed', 'partially_refunded', 'refunded'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Bookings in these statuses hold their slot; at most one may exist per slot. */
export const ACTIVE_BOOKING_STATUSES: readonly BookingStatus[] = ['pending', 'scheduled'];

export function isActiveBookingStatus(status: BookingStatus): boolean {
  return status === 'pending' || status === 'scheduled';
}

const scheduleTransitions: Record<ScheduleStatus, readonly ScheduleStatus[]> = {
  available: ['pending', 'booked', 'expired'],
  pending: ['available', 'booked', 'expired'],
  booked: ['available', 'expired'],
  expired: [],
};

const bookingTransitions: Record<BookingStatus, readonly BookingStatus[]> = {
  pending: ['scheduled', 'cancelled'],
  scheduled: ['completed', 'cancelled'],
  completed: [],
  // A late payment may revive a cancelled booking while its slot is still free.
  cancelled: ['scheduled'],
};

export function canTransitionSchedule(from: ScheduleStatus, to: ScheduleStatus): boolean {
  return scheduleTransitions[from].includes(to);
}

export function canTransitionBooking(from: BookingStatus, to: BookingStatus): boolean {
  return bookingTransitions[from].includes(to);
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
] as const;
export type CancelReason = (typeof CANCEL_REASONS)[number];
