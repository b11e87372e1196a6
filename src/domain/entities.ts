// The records careslot keeps: slots, bookings, payments, the doctor's ledger.
import type { AvailabilityRules } from './availability.js';
import type { Money } from './money.js';
import type { BookingMode } from './plan-policy.js';
import type { BookingStatus, CancelReason, PaymentStatus, ScheduleStatus } from './status.js';

/** Who did something: a patient, a doctor, an admin, or careslot itself (jobs, webhooks). */
export interface Actor {
  role: 'patient' | 'doctor' | 'admin' | 'system';
  id: string;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ role: 'system', id: 'careslot' });

/** A doctor's bookable slot (`DoctorAppointmentSchedule` in the original system). */
export interface Schedule {
  id: string;
  /** The doctor (`createdBy` in the original model). */
  doctorId: string;
  startTime: Date;
  endTime: Date;
  /** IANA zone of the doctor, used for "same local time next day". */
  timeZone: string;
  fee: Money;
  status: ScheduleStatus;
  /** The patient holding the booked slot (`booked_by`); null unless booked. */
  bookedBy: string | null;
  /** The slot this one was rolled over from (next-day creation), if any. */
  rolledOverFrom: string | null;
  /**
   * The wall-clock start (`HH:mm`) its next-day copies keep, set on rolled-over copies: a copy
   * shifted past a daylight-saving gap still says the time the doctor published, so the copy
   * after it returns to that time. Null or absent: the start's own local time.
   */
  localStartTime?: string | null;
  /**
   * The availability version this slot was computed from, set when a patient booked a computed
   * slot (`book({ doctorId, startTime })` materializes the row). Null or absent: published by hand
   * (`createSchedule`) or rolled over. A free row that came from rules is not offered again as
   * itself: the rules decide whether its time is bookable, so a rule change or time off wins.
   */
  availabilityId?: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * One version of a doctor's availability rules, in force for slots starting in
 * `[effectiveFrom, effectiveUntil)`. A newer version ends the ones before it at its own
 * `effectiveFrom`; versions that never came into force end where they began (empty).
 */
export interface AvailabilityRecord {
  id: string;
  doctorId: string;
  /** As validated: currency lowercase, every default filled in. */
  rules: Required<AvailabilityRules>;
  effectiveFrom: Date;
  /** Null while open-ended. */
  effectiveUntil: Date | null;
  createdAt: Date;
}

/** A period the doctor cannot be booked (holiday, conference), half-open `[start, end)`. */
export interface TimeOff {
  id: string;
  doctorId: string;
  start: Date;
  end: Date;
  reason: string | null;
  createdAt: Date;
}

/** A refund tier: cancelling at least `hoursBefore` hours before the start gives back `refundPercent`. */
export interface CancellationTier {
  hoursBefore: number;
  refundPercent: number;
}

/** The policy snapshot a booking keeps (see `Booking.policy`). */
export interface BookingPolicy {
  cancellation: {
    /** Sorted by `hoursBefore`, largest first. */
    tiers: CancellationTier[];
    /** Patients may not cancel inside this many hours of the start; null: no cutoff. */
    patientCutoffHours: number | null;
    afterStart: 'none';
  };
  reschedule: {
    patientDeadlineHours: number;
    staffDeadlineHours: number;
    /** Null: no limit. */
    maxPerBooking: number | null;
    fee: 'same' | 'lowerOrEqual' | 'any';
  };
}

/** One transition in a booking's life. */
export interface BookingHistoryEntry {
  at: Date;
  from: BookingStatus | null;
  to: BookingStatus;
  paymentStatus: PaymentStatus;
  actor: Actor;
  /** Why, e.g. `payment_timeout`, `late_payment_accepted`, `rescheduled`. */
  reason: string | null;
}

/** A patient's booking of a slot (`DoctorPatientScheduleBooking`). */
export interface Booking {
  id: string;
  patientId: string;
  doctorId: string;
  scheduleId: string;
  /** Copies of the slot's times, so history survives the slot's clean-up. */
  slotStart: Date;
  slotEnd: Date;
  timeZone: string;
  mode: BookingMode;
  /** The patient's plan when booking, for quotas and audits. */
  plan: string;
  /** What the patient pays (the slot fee at booking time); the fee is kept even for free bookings. */
  price: Money;
  status: BookingStatus;
  paymentStatus: PaymentStatus;
  cancelReason: CancelReason | null;
  paymentTransactionId: string | null;
  checkoutSessionId: string | null;
  paymentUrl: string | null;
  /** When an unpaid hold is released; null once paid or for free bookings. */
  holdExpiresAt: Date | null;
  idempotencyKey: string | null;
  /** Sum of successful refunds, in `price.currency` minor units. */
  amountRefunded: number;
  /**
   * The rules in force when the booking was confirmed (cancellation tiers, reschedule rules), so
   * a later configuration change never alters what the patient agreed to. Null or absent: made
   * before careslot kept them; the engine's current options apply.
   */
  policy?: BookingPolicy | null;
  /**
   * Keys of the reminders sent for this booking (`<beforeMinutes>:<channel>@<slotStart ISO>`),
   * each added once by a compare-and-set (`markReminderSent`). A reschedule changes the slot start
   * and so the keys: the new time gets its own reminders.
   */
  remindersSent?: string[];
  history: BookingHistoryEntry[];
  createdAt: Date;
  updatedAt: Date;
}

export type RefundStatus = 'pending' | 'succeeded' | 'failed';

export interface RefundRecord {
  /** careslot's id for the refund; also the idempotency key sent to the provider. */
  id: string;
  amount: number;
  status: RefundStatus;
  providerRefundId: string | null;
  reason: string | null;
  failureMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Money received for a booking (`PaymentTransaction`, `referenceId` → booking). */
export interface PaymentTransaction {
  id: string;
  bookingId: string;
  provider: string;
  /** The provider's payment id (Stripe PaymentIntent). Unique per provider. */
  providerPaymentId: string;
  checkoutSessionId: string | null;
  amount: number;
  currency: string;
  /** Whether this money was credited to the doctor's wallet (false for a late payment refunded at once). */
  credited: boolean;
  refunds: RefundRecord[];
  createdAt: Date;
  updatedAt: Date;
}

/** One line of a doctor's wallet; `key` makes each credit or debit happen exactly once. */
export interface LedgerEntry {
  id: string;
  /** Unique: `credit:<bookingId>` or `refund:<refundId>`. */
  key: string;
  doctorId: string;
  bookingId: string;
  kind: 'credit' | 'debit';
  amount: number;
  currency: string;
  createdAt: Date;
}

/** A patient's customer record at a payment provider. */
export interface PaymentCustomer {
  patientId: string;
  provider: string;
  customerId: string;
}

/** A notification for a person, delivered through the Notifier port. */
export interface Notification {
  /** e.g. `appointmentBooking` (doctor), the admin type, `appointmentCancelled` (patient). */
  type: string;
  recipient: { role: 'patient' | 'doctor' | 'admin'; id: string };
  title: string;
  message: string;
  data: Record<string, string>;
}
