// The typed domain events on `engine.events`.
import type {
  AvailabilityRecord,
  Booking,
  PaymentTransaction,
  RefundRecord,
  Schedule,
  TimeOff,
} from '../domain/entities.js';
import type { OutboxRecord } from '../ports/outbox.js';
import type { PaymentEvent } from '../ports/payment-gateway.js';

export interface BookingEngineEvents {
  'schedule.created': (e: { schedule: Schedule }) => void;
  /** A slot's end passed: it will not be booked any more. */
  'schedule.expired': (e: { schedule: Schedule }) => void;
  /** A held or booked slot is bookable again. */
  'schedule.released': (e: { schedule: Schedule; bookingId: string; reason: string }) => void;
  'schedule.rolledOver': (e: { from: Schedule; to: Schedule }) => void;
  /** A free slot was taken off offer (`withdrawSchedule`, or time off covering it). */
  'schedule.withdrawn': (e: { schedule: Schedule; reason: string }) => void;
  /** A doctor's availability changed from `record.effectiveFrom` on (`record` null: cleared). */
  'availability.changed': (e: { doctorId: string; effectiveFrom: Date; record: AvailabilityRecord | null }) => void;
  'timeOff.added': (e: { timeOff: TimeOff }) => void;
  'timeOff.removed': (e: { timeOff: TimeOff }) => void;
  /** A booking was made: pending (paid path) or scheduled (free path). */
  'booking.created': (e: { booking: Booking }) => void;
  /** A booking became scheduled: paid, or free. */
  'booking.confirmed': (e: { booking: Booking; payment: PaymentTransaction | null }) => void;
  'booking.cancelled': (e: { booking: Booking; reason: string }) => void;
  'booking.completed': (e: { booking: Booking }) => void;
  /** The doctor or an admin marked the booking a no-show. */
  'booking.noShow': (e: { booking: Booking }) => void;
  /** A no-show was taken back within the grace period: the booking is scheduled again. */
  'booking.noShowUndone': (e: { booking: Booking }) => void;
  'booking.rescheduled': (e: { booking: Booking; from: Schedule; to: Schedule }) => void;
  'refund.succeeded': (e: { payment: PaymentTransaction; refund: RefundRecord }) => void;
  /** A refund the provider did not make; the sweep retries it with the same idempotency key. */
  'refund.failed': (e: { payment: PaymentTransaction; refund: RefundRecord; error: unknown }) => void;
  /** Money arrived that could not be matched to a bookable slot, and is being refunded. */
  'payment.lateRefund': (e: { booking: Booking; payment: PaymentTransaction }) => void;
  /**
   * Money whose amount or currency differs from the booking's price (or came without an
   * amount): recorded, refunded in full, and the hold released on schedule. `event` is null
   * when the hold timeout or the sweep found the payment at the provider.
   */
  'payment.mismatch': (e: { event: PaymentEvent | null; booking: Booking; payment: PaymentTransaction }) => void;
  /** A verified payment event careslot did not act on (unknown booking, stale session). */
  'payment.ignored': (e: { event: PaymentEvent; reason: string }) => void;
  /**
   * A side effect after commit (notification, job scheduling, provider clean-up) exhausted its
   * outbox retries (`outboxMaxAttempts`), or a host listener threw (`listener:<event>`). The
   * booking stands; the delivery is listed by `engine.outbox.listDead()` and can be re-driven.
   */
  'effect.failed': (e: { effect: string; error: unknown; bookingId?: string; scheduleId?: string }) => void;
  /** A delivery exhausted its retries (or was given up at once): listed by `engine.outbox.listDead()`. */
  'outbox.dead': (e: { record: OutboxRecord; error: unknown }) => void;
}

/** Every event name on `engine.events`, e.g. to forward them all to a log. */
export const BOOKING_ENGINE_EVENTS = [
  'schedule.created',
  'schedule.expired',
  'schedule.released',
  'schedule.rolledOver',
  'schedule.withdrawn',
  'availability.changed',
  'timeOff.added',
  'timeOff.removed',
  'booking.created',
  'booking.confirmed',
  'booking.cancelled',
  'booking.completed',
  'booking.noShow',
  'booking.noShowUndone',
  'booking.rescheduled',
  'refund.succeeded',
  'refund.failed',
  'payment.lateRefund',
  'payment.mismatch',
  'payment.ignored',
  'effect.failed',
  'outbox.dead',
] as const satisfies readonly (keyof BookingEngineEvents)[];

// Fails to compile when an event is added to the interface but not to the list.
type Missing = Exclude<keyof BookingEngineEvents, (typeof BOOKING_ENGINE_EVENTS)[number]>;
const everyEventListed: Missing extends never ? true : Missing = true;
void everyEventListed;
