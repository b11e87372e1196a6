// BookingEngine options, their documented defaults, and fail-fast validation.
import {
  type CancellationPolicy,
  type ReschedulePolicy,
  resolveCancellationPolicy,
  resolveReschedulePolicy,
} from '../domain/cancellation-policy.js';
import type { BookingPolicy } from '../domain/entities.js';
import { assertValidPlanTable, DEFAULT_PLANS, type PlanTable } from '../domain/plan-policy.js';
import type { BookingStore } from '../ports/booking-store.js';
import type { Clock } from '../ports/clock.js';
import type { JobScheduler } from '../ports/job-scheduler.js';
import type { Notifier } from '../ports/notifier.js';
import type { PatientDirectory } from '../ports/patient-directory.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';

export interface NotificationTypes {
  /** To the doctor when a booking is confirmed. @defaultValue 'appointmentBooking' */
  doctorBooking?: string;
  /** To the admin when a booking is confirmed (the original system used 'workoutClassPurchase'). @defaultValue 'newBooking' */
  adminBooking?: string;
  /** To the patient (and doctor, for a confirmed booking) when a booking is cancelled. @defaultValue 'appointmentCancelled' */
  cancelled?: string;
  /** To the patient when money is returned. @defaultValue 'paymentRefunded' */
  refunded?: string;
  /** To the patient and the doctor when a booking moves to another slot. @defaultValue 'appointmentRescheduled' */
  rescheduled?: string;
  /** To the patient ahead of the start, per the `reminders` option. @defaultValue 'appointmentReminder' */
  reminder?: string;
  /** To the patient when the doctor or an admin marks the booking a no-show. @defaultValue 'appointmentNoShow' */
  noShow?: string;
}

/** A reminder to the patient `beforeMinutes` before the start, on `channel` (the host's Notifier renders it). */
export interface Reminder {
  /** Whole minutes before the start, 1 to 525600. */
  beforeMinutes: number;
  /** Free text the Notifier routes by, e.g. `email`, `sms`. @defaultValue 'default' */
  channel?: string;
}

/**
 * Options of `new BookingEngine(...)` from 'careslot'. `N` is the notifier's type, so
 * `engine.notifier` is typed as what was passed (an `EventEmitterNotifier` when none was).
 */
export interface BookingEngineOptions<N extends Notifier = Notifier> {
  /** Where slots, bookings, payments and the ledger live (MemoryStore, MongooseStore). */
  store: BookingStore;
  /** The payment provider (StripeCheckoutGateway, TestPaymentGateway). */
  payments: PaymentGateway;
  /** The host's users: plan and doctor–patient relation. */
  patients: PatientDirectory;
  /**
   * Timed jobs (InProcessScheduler, BullMQScheduler).
   * @defaultValue a new InProcessScheduler on `clock` (timers lost on restart; `reconcile` repairs)
   */
  scheduler?: JobScheduler;
  /**
   * Where notifications go.
   * @defaultValue a new EventEmitterNotifier (listen with `engine.notifier.on('notification', fn)`)
   */
  notifier?: N;
  /** @defaultValue the system clock */
  clock?: Clock;
  /**
   * How long a paid booking holds its slot while the patient pays. Positive, fractions allowed,
   * at most 1440 (a Stripe Checkout Session lives at most 24 hours).
   * @defaultValue 15
   */
  holdMinutes?: number;
  /**
   * A paid booking is refused (SCHEDULE_UNAVAILABLE) when its slot starts sooner than this many
   * minutes from now, so the patient has time to pay before the start. Whatever this is, a
   * hold never outlives the slot's start, and money for a slot that has started is refunded.
   * `0` allows paying up to the start. At most 1440 × 365.
   * @defaultValue `holdMinutes`
   */
  minNoticeMinutes?: number;
  /**
   * The furthest ahead availability rules may let patients book (`setAvailability`'s
   * `horizonDays` is refused above it, and is this when not given). Whole days, 1 to 365.
   * @defaultValue 365
   */
  maxHorizonDays?: number;
  /**
   * Plan name → how that plan books. Replaces the default table entirely when given.
   * @defaultValue DEFAULT_PLANS (none rejected; freeTrial, standard, standardPlus pay; vise free with a relation)
   */
  plans?: PlanTable;
  /**
   * Which ended slots get a copy at the same local time the next day:
   * `booked` (the original system), `all`, or `none`.
   * @defaultValue 'booked'
   */
  rollover?: 'booked' | 'all' | 'none';
  /**
   * Expired slots older than this many days (after their end) are deleted by the daily clean-up.
   * @defaultValue 7
   */
  cleanupAfterDays?: number;
  /**
   * How often the clean-up runs once `engine.start()` registered it.
   * @defaultValue 86_400_000 (daily)
   */
  cleanupEveryMs?: number;
  /**
   * How often the reconciliation sweep runs once `engine.start()` registered it.
   * @defaultValue 60_000 (every minute)
   */
  reconcileEveryMs?: number;
  /**
   * The sweep asks the provider about a pending booking's checkout (in case a webhook was lost)
   * first when the booking is this old or half its hold old, whichever is later, then each time
   * that age doubles; a booking whose hold expired is asked once, by letting its hold go, and a
   * hold that could not be let go is tried again this long after its expiry, then at doubling
   * intervals. So an unpaid 15-minute hold costs two provider calls. Refunds left pending or
   * failed for at least this long are retried.
   * @defaultValue 60_000
   */
  reconcileGraceMs?: number;
  /**
   * How many records one read of a sweep or clean-up pass takes. A pass goes through everything
   * due, page by page in keyset order, and lets the event loop run between pages.
   * @defaultValue 500
   */
  batchSize?: number;
  /** Recipient id of admin notifications. @defaultValue 'admin' */
  adminId?: string;
  /** Notification type names. */
  notificationTypes?: NotificationTypes;
  /**
   * Where Checkout sends the patient after paying. The one place to set return URLs:
   * `book({ successUrl })` overrides it per call; a gateway's own (deprecated) `successUrl`
   * is used only when neither is given.
   */
  successUrl?: string;
  /** Where Checkout sends a patient who gives up; `book({ cancelUrl })` overrides it per call. */
  cancelUrl?: string;
  /**
   * How much a patient gets back when cancelling a paid booking, as refund tiers, and the
   * patient's cutoff. Doctors and admins are never cut off and always refund in full. A
   * booking keeps the policy in force when it was confirmed (`booking.policy`).
   * @defaultValue `{ tiers: [{ hoursBefore: 24, refundPercent: 100 }, { hoursBefore: 0, refundPercent: 50 }] }`
   * (the shorthand `{ fullRefundHoursBefore: 24, lateRefundPercent: 50 }`); nothing after the start
   */
  cancellation?: CancellationPolicy;
  /**
   * Reschedule rules per actor: `patientDeadlineHours` (2), `staffDeadlineHours` (0),
   * `maxPerBooking` (no limit), `fee` ('same'). Kept on the booking at confirmation too.
   * @defaultValue `{ patientDeadlineHours: 2, staffDeadlineHours: 0, fee: 'same' }`
   */
  reschedule?: ReschedulePolicy;
  /**
   * Shorthand for `reschedule.patientDeadlineHours` (doctors and admins are not bound by it).
   * @defaultValue 2
   */
  rescheduleDeadlineHours?: number;
  /** Shorthand for `reschedule.fee`. @defaultValue 'same' */
  rescheduleFee?: 'same' | 'lowerOrEqual' | 'any';
  /**
   * Reminders to the patient before each scheduled booking, e.g.
   * `[{ beforeMinutes: 1440 }, { beforeMinutes: 120, channel: 'sms' }]`. Each goes out once per
   * booking and slot time (a reschedule starts anew).
   * @defaultValue none
   */
  reminders?: readonly Reminder[];
  /** Per doctor id, reminders that replace `reminders` for that doctor's bookings (`[]`: none). @defaultValue none */
  doctorReminders?: Readonly<Record<string, readonly Reminder[]>>;
  /**
   * A booking confirmed after a reminder's time (inside its window): `skip` that reminder, or
   * `sendNow` (the one nearest the start of those it missed, at once; the others are skipped).
   * @defaultValue 'skip'
   */
  lateReminder?: 'skip' | 'sendNow';
  /**
   * How long after a slot's end the doctor or an admin may still mark (or undo) a no-show; the
   * end-of-slot job completes the booking only after it.
   * @defaultValue 0
   */
  noShowGraceMinutes?: number;
  /**
   * Percentage of the payment a no-show gets back (rounded down).
   * @defaultValue 0 (a no-show keeps the payment)
   */
  noShowRefundPercent?: number;
  /**
   * How many unpaid (pending) bookings one patient may hold at once, so one account cannot
   * lock a doctor's whole day.
   * @defaultValue 3
   */
  maxPendingPerPatient?: number;
  /**
   * Failed attempts before a built-in delivery (notification, job, `engine.events`, provider
   * clean-up) is dead: reported on `effect.failed` and `outbox.dead`, listed by
   * `engine.outbox.listDead()`, re-driven by `engine.outbox.redrive(key)`. With the default
   * delays, 20 attempts span about nine hours (1 s doubling to an hour).
   * @defaultValue 20
   */
  outboxMaxAttempts?: number;
  /**
   * The first retry's delay of a failed delivery; each further one doubles, up to `outboxMaxDelayMs`.
   * @defaultValue 1_000
   */
  outboxRetryDelayMs?: number;
  /** @defaultValue 3_600_000 (an hour) */
  outboxMaxDelayMs?: number;
  /**
   * How long a dispatcher holds the deliveries it claimed; a crashed one's are taken over after it.
   * @defaultValue 60_000
   */
  outboxLeaseMs?: number;
  /**
   * Delivered outbox records older than this many days are deleted by the daily clean-up.
   * @defaultValue 7
   */
  outboxRetentionDays?: number;
  /**
   * How often the outbox is drained once `engine.start()` registered it (deliveries that failed,
   * and every subscriber that delivers off the request path, like the webhook sender).
   * @defaultValue 5_000
   */
  outboxEveryMs?: number;
}

/**
 * Options of `BookingEngineCore`: the same, with every port given. The composition root
 * (`BookingEngine` from 'careslot') fills `scheduler`, `notifier` and `clock` with the embedded defaults.
 */
export type BookingEngineCoreOptions<N extends Notifier = Notifier> = Omit<
  BookingEngineOptions<N>,
  'scheduler' | 'notifier' | 'clock'
> & { scheduler: JobScheduler; notifier: N; clock: Clock };

export interface ResolvedOptions {
  holdMinutes: number;
  minNoticeMinutes: number;
  maxHorizonDays: number;
  plans: PlanTable;
  rollover: 'booked' | 'all' | 'none';
  cleanupAfterDays: number;
  cleanupEveryMs: number;
  reconcileEveryMs: number;
  reconcileGraceMs: number;
  batchSize: number;
  outboxMaxAttempts: number;
  outboxRetryDelayMs: number;
  outboxMaxDelayMs: number;
  outboxLeaseMs: number;
  outboxRetentionDays: number;
  outboxEveryMs: number;
  adminId: string;
  notificationTypes: Required<NotificationTypes>;
  successUrl: string | undefined;
  cancelUrl: string | undefined;
  cancellation: BookingPolicy['cancellation'];
  reschedule: BookingPolicy['reschedule'];
  reminders: (doctorId: string) => readonly Required<Reminder>[];
  /** The largest `beforeMinutes` of any reminder: how far ahead the sweep looks. */
  maxReminderMinutes: number;
  lateReminder: 'skip' | 'sendNow';
  noShowGraceMinutes: number;
  noShowRefundPercent: number;
  maxPendingPerPatient: number;
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(
      `BookingEngine: ${name} must be a positive ${integer ? 'whole ' : ''}number (got ${String(value)})`,
    );
  }
  return value;
}

// Checkout providers close sessions within a day (Stripe: 24 hours), so longer holds cannot be honoured.
function atMost(name: string, value: number, max: number): number {
  if (value > max) throw new TypeError(`BookingEngine: ${name} must be at most ${max} (got ${value})`);
  return value;
}

function minNotice(value: number | undefined, holdMinutes: number): number {
  if (value === undefined) return holdMinutes;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 525_600) {
    throw new TypeError(
      `BookingEngine: minNoticeMinutes must be a number of minutes from 0 to 525600 (got ${String(value)})`,
    );
  }
  return value;
}

function requirePort(name: string, value: unknown, methods: readonly string[], hint: string): void {
  if (value === null || typeof value !== 'object')
    throw new TypeError(`BookingEngine: options.${name} is required: ${hint}`);
  for (const method of methods) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new TypeError(`BookingEngine: options.${name}.${method} must be a function: ${hint}`);
    }
  }
}

/** Validates the ports and fills in defaults; throws a TypeError that says what to fix. */
export function resolveOptions(options: BookingEngineCoreOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('BookingEngine: pass an options object ({ store, payments, patients, ... })');
  }
  requirePort(
    'store',
    options.store,
    ['transaction', 'getSchedule', 'getBooking', 'findSchedules', 'findBookings'],
    'pass new MemoryStore() or a MongooseStore',
  );
  requirePort(
    'payments',
    options.payments,
    ['createCheckout', 'expireCheckout', 'retrieveCheckout', 'refund', 'ensureCustomer'],
    'pass a StripeCheckoutGateway or, in tests and demos, a TestPaymentGateway',
  );
  requirePort(
    'patients',
    options.patients,
    ['getPatient', 'hasRelation'],
    'implement PatientDirectory over your users (plan and doctor–patient relation)',
  );
  requirePort('clock', options.clock, ['now'], 'pass { now: () => new Date() }');
  requirePort(
    'scheduler',
    options.scheduler,
    ['schedule', 'cancel', 'scheduleRecurring'],
    "pass an InProcessScheduler or a BullMQScheduler (BookingEngine from 'careslot' makes an InProcessScheduler when none is given)",
  );
  requirePort(
    'notifier',
    options.notifier,
    ['notify'],
    "pass an object with notify(notification) (BookingEngine from 'careslot' makes an EventEmitterNotifier when none is given)",
  );
  const plans = options.plans ?? DEFAULT_PLANS;
  assertValidPlanTable(plans);
  const rollover = options.rollover ?? 'booked';
  if (!['booked', 'all', 'none'].includes(rollover)) {
    throw new TypeError(`BookingEngine: rollover must be 'booked', 'all' or 'none' (got ${String(rollover)})`);
  }
  const holdMinutes = atMost('holdMinutes', positive('holdMinutes', options.holdMinutes, 15), 1440);
  let cancellation: BookingPolicy['cancellation'];
  let reschedule: BookingPolicy['reschedule'];
  try {
    cancellation = resolveCancellationPolicy(options.cancellation ?? {});
    reschedule = resolveReschedulePolicy(options.reschedule, {
      rescheduleDeadlineHours: options.rescheduleDeadlineHours,
      rescheduleFee: options.rescheduleFee,
    });
  } catch (error) {
    throw new TypeError(`BookingEngine: ${(error as Error).message}`);
  }
  const lateReminder = options.lateReminder ?? 'skip';
  if (lateReminder !== 'skip' && lateReminder !== 'sendNow') {
    throw new TypeError(`BookingEngine: lateReminder must be 'skip' or 'sendNow' (got ${String(lateReminder)})`);
  }
  const noShowRefundPercent = options.noShowRefundPercent ?? 0;
  if (typeof noShowRefundPercent !== 'number' || !(noShowRefundPercent >= 0 && noShowRefundPercent <= 100)) {
    throw new TypeError(
      `BookingEngine: noShowRefundPercent must be between 0 and 100 (got ${String(noShowRefundPercent)})`,
    );
  }
  const noShowGraceMinutes = options.noShowGraceMinutes ?? 0;
  if (typeof noShowGraceMinutes !== 'number' || !Number.isFinite(noShowGraceMinutes) || noShowGraceMinutes < 0) {
    throw new TypeError(
      `BookingEngine: noShowGraceMinutes must be a number of minutes >= 0 (got ${String(noShowGraceMinutes)})`,
    );
  }
  return {
    cancellation,
    reschedule,
    ...resolveReminders(options.reminders, options.doctorReminders),
    lateReminder,
    noShowGraceMinutes,
    noShowRefundPercent,
    maxPendingPerPatient: positive('maxPendingPerPatient', options.maxPendingPerPatient, 3, true),
    holdMinutes,
    minNoticeMinutes: minNotice(options.minNoticeMinutes, holdMinutes),
    maxHorizonDays: atMost('maxHorizonDays', positive('maxHorizonDays', options.maxHorizonDays, 365, true), 365),
    plans,
    rollover,
    cleanupAfterDays: positive('cleanupAfterDays', options.cleanupAfterDays, 7),
    cleanupEveryMs: positive('cleanupEveryMs', options.cleanupEveryMs, 86_400_000, true),
    reconcileEveryMs: positive('reconcileEveryMs', options.reconcileEveryMs, 60_000, true),
    reconcileGraceMs: positive('reconcileGraceMs', options.reconcileGraceMs, 60_000, true),
    batchSize: positive('batchSize', options.batchSize, 500, true),
    outboxMaxAttempts: positive('outboxMaxAttempts', options.outboxMaxAttempts, 20, true),
    outboxRetryDelayMs: positive('outboxRetryDelayMs', options.outboxRetryDelayMs, 1_000, true),
    outboxMaxDelayMs: positive('outboxMaxDelayMs', options.outboxMaxDelayMs, 3_600_000, true),
    outboxLeaseMs: positive('outboxLeaseMs', options.outboxLeaseMs, 60_000, true),
    outboxRetentionDays: positive('outboxRetentionDays', options.outboxRetentionDays, 7),
    outboxEveryMs: positive('outboxEveryMs', options.outboxEveryMs, 5_000, true),
    adminId: options.adminId ?? 'admin',
    notificationTypes: {
      doctorBooking: options.notificationTypes?.doctorBooking ?? 'appointmentBooking',
      adminBooking: options.notificationTypes?.adminBooking ?? 'newBooking',
      cancelled: options.notificationTypes?.cancelled ?? 'appointmentCancelled',
      refunded: options.notificationTypes?.refunded ?? 'paymentRefunded',
      rescheduled: options.notificationTypes?.rescheduled ?? 'appointmentRescheduled',
      reminder: options.notificationTypes?.reminder ?? 'appointmentReminder',
      noShow: options.notificationTypes?.noShow ?? 'appointmentNoShow',
    },
    successUrl: options.successUrl,
    cancelUrl: options.cancelUrl,
  };
}

/** Checks a reminder list: whole minutes from 1 to a year, channels non-empty, each pair once. */
function validReminders(list: readonly Reminder[], what: string): Required<Reminder>[] {
  if (!Array.isArray(list)) throw new TypeError(`${what} must be an array of { beforeMinutes, channel? }`);
  const seen = new Set<string>();
  return list.map((r, i) => {
    const before = r?.beforeMinutes;
    if (typeof before !== 'number' || !Number.isInteger(before) || before < 1 || before > 525_600) {
      throw new TypeError(
        `${what}[${i}].beforeMinutes must be a whole number of minutes from 1 to 525600 (got ${String(before)})`,
      );
    }
    const channel = r.channel ?? 'default';
    if (typeof channel !== 'string' || channel.length === 0 || channel.length > 64 || /[:@]/.test(channel)) {
      throw new TypeError(`${what}[${i}].channel must be 1–64 characters without ':' or '@'`);
    }
    const key = `${before}:${channel}`;
    if (seen.has(key)) throw new TypeError(`${what} lists ${key} twice`);
    seen.add(key);
    return { beforeMinutes: before, channel };
  });
}

function resolveReminders(
  all: readonly Reminder[] | undefined,
  perDoctor: Readonly<Record<string, readonly Reminder[]>> | undefined,
): { reminders: (doctorId: string) => readonly Required<Reminder>[]; maxReminderMinutes: number } {
  const fixed = validReminders(all ?? [], 'BookingEngine: reminders');
  if (perDoctor !== undefined && (perDoctor === null || typeof perDoctor !== 'object'))
    throw new TypeError('BookingEngine: doctorReminders must be an object of doctor id → reminders');
  const overrides = new Map(
    Object.entries(perDoctor ?? {}).map(([id, list]) => [
      id,
      validReminders(list, `BookingEngine: doctorReminders.${id}`),
    ]),
  );
  const every = [fixed, ...overrides.values()].flat();
  return {
    reminders: (doctorId) => overrides.get(doctorId) ?? fixed,
    maxReminderMinutes: every.reduce((max, r) => Math.max(max, r.beforeMinutes), 0),
  };
}
