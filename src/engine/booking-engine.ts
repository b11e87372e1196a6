// BookingEngineCore: the public face of the use cases, over ports only (the composition root adds defaults).
import type { EventEmitter } from 'eventemitter3';
import type { Actor, AvailabilityRecord, Booking, Schedule, TimeOff } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import type { BookingStore } from '../ports/booking-store.js';
import { ALL_JOB_NAMES, JOB_NAMES, type JobData, type JobName, type RecurringJob } from '../ports/job-scheduler.js';
import type { Notifier } from '../ports/notifier.js';
import type { PaymentEvent, PaymentGateway } from '../ports/payment-gateway.js';
import {
  type AddTimeOffInput,
  type AddTimeOffOutcome,
  addTimeOff,
  clearAvailability,
  type FindSlotsQuery,
  findSlots,
  getAvailability,
  listTimeOff,
  removeTimeOff,
  type SetAvailabilityInput,
  type SlotPage,
  setAvailability,
  withdrawSchedule,
} from './availability.js';
import { type BookInput, type BookResult, book } from './book.js';
import {
  type CancelInput,
  type CancellationQuote,
  type CancelOutcome,
  cancelBooking,
  quoteCancellation,
} from './cancel.js';
import { EngineContext } from './context.js';
import { runEffect } from './effects.js';
import type { BookingEngineEvents } from './events.js';
import { getWallet, type Wallet, type WalletPage } from './ledger.js';
import { markNoShow, undoNoShow } from './no-show.js';
import { type BookingEngineCoreOptions, resolveOptions } from './options.js';
import { OutboxDispatcher } from './outbox.js';
import type { EngineOutbox } from './outbox-types.js';
import { type HandlePaymentEventOptions, handlePaymentEvent, type PaymentEventResult } from './payment-events.js';
import { type ReconcileReport, reconcile } from './reconcile.js';
import { type RefundInput, type RefundOutcome, refund } from './refund.js';
import { releaseHold } from './release.js';
import { sendDueReminders } from './reminders.js';
import { type RescheduleInput, type RescheduleOutcome, reschedule } from './reschedule.js';
import {
  type CreateScheduleInput,
  cleanupExpiredSchedules,
  createSchedule,
  finishSlot,
  type ListSchedulesQuery,
  listSchedules,
} from './schedules.js';
import { listBookingsSchema, parseId, parseInput } from './validation.js';

export interface ListBookingsQuery {
  patientId?: string;
  doctorId?: string;
  scheduleId?: string;
  status?: Booking['status'];
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
}

/**
 * Runs paid doctor-appointment booking inside the host's backend. Every state change is a
 * compare-and-set inside a store transaction that also appends its effects to the outbox;
 * provider, queue and notifier calls happen after commit, at least once, retried until
 * delivered (a delivery that exhausts its retries is reported on `events` 'effect.failed').
 *
 * This class takes every port explicitly. Hosts normally use `BookingEngine` from 'careslot',
 * which is this class with the embedded defaults (in-process scheduler, event-emitter notifier,
 * system clock) filled in.
 */
export class BookingEngineCore<N extends Notifier = Notifier> {
  /** Typed domain events: 'booking.confirmed', 'booking.cancelled', 'effect.failed', ... */
  readonly events: EventEmitter<BookingEngineEvents>;
  /** The notifier in use, typed as passed (so `engine.notifier.on(...)` compiles for an emitter). */
  readonly notifier: N;
  /** The payment gateway in use; `createWebhookHandler({ engine })` verifies webhooks with it. */
  readonly payments: PaymentGateway;
  /** The store in use. */
  readonly store: BookingStore;
  /**
   * The transactional outbox: every effect of a committed change is delivered at least once from
   * it. `subscribe` to receive careslot's events durably; `listDead` / `redrive` for deliveries
   * that exhausted their retries.
   */
  readonly outbox: EngineOutbox;
  private readonly ctx: EngineContext;

  constructor(options: BookingEngineCoreOptions<N>) {
    const resolved = resolveOptions(options);
    this.notifier = options.notifier;
    this.payments = options.payments;
    this.store = options.store;
    this.ctx = new EngineContext(options, resolved);
    const outbox = new OutboxDispatcher(this.ctx);
    this.ctx.outbox = outbox;
    this.ctx.runEffect = (effect, meta) => runEffect(this.ctx, effect, meta);
    this.outbox = outbox;
    this.events = this.ctx.events;
    options.scheduler.bind?.((name, data) => this.runJob(name, data));
  }

  /**
   * Registers the recurring clean-up and sweep with the scheduler; safe to call in every process
   * on every start. Rejects when the scheduler cannot be reached (e.g. Redis down), so a process
   * fails at startup rather than running without its sweep.
   */
  async start(): Promise<void> {
    for (const job of this.recurringJobs()) await this.ctx.scheduler.scheduleRecurring(job);
  }

  /** The recurring jobs `start()` registers, for hosts that manage schedulers themselves. */
  recurringJobs(): RecurringJob[] {
    return [
      { name: JOB_NAMES.cleanup, everyMs: this.ctx.options.cleanupEveryMs },
      { name: JOB_NAMES.reconcile, everyMs: this.ctx.options.reconcileEveryMs },
      { name: JOB_NAMES.outbox, everyMs: this.ctx.options.outboxEveryMs },
    ];
  }

  /** Publishes a bookable slot and schedules its end-of-slot job. */
  createSchedule(input: CreateScheduleInput): Promise<Schedule> {
    return createSchedule(this.ctx, input);
  }

  /**
   * Takes a free slot off offer (deletes it): the slot's doctor or an admin; SCHEDULE_UNAVAILABLE
   * when it is held or booked (cancel the booking first).
   */
  withdrawSchedule(input: {
    scheduleId: string;
    actor: { role: 'patient' | 'doctor' | 'admin' | 'system'; id: string };
  }): Promise<Schedule> {
    return withdrawSchedule(this.ctx, input);
  }

  /**
   * States the doctor's availability as rules (weekly hours in their zone, slot length and step,
   * buffers, notice, horizon, fee), in force from `effectiveFrom` (default now) for times not yet
   * booked. A new version; earlier ones end there. Existing bookings never move.
   */
  setAvailability(input: SetAvailabilityInput): Promise<AvailabilityRecord> {
    return setAvailability(this.ctx, input);
  }

  /** Ends the doctor's rules from `effectiveFrom` (default now) on; published slots are untouched. */
  clearAvailability(input: { doctorId: string; effectiveFrom?: Date | string }): Promise<{ ended: number }> {
    return clearAvailability(this.ctx, input);
  }

  /** The rules in force for the doctor at `at` (default now), or null. */
  getAvailability(input: { doctorId: string; at?: Date | string }): Promise<AvailabilityRecord | null> {
    return getAvailability(this.ctx, input);
  }

  /**
   * The bookable slots computed from the doctor's rules in `[from, to)` (at most 62 days), minus
   * time off, live slots and their buffers, notice and horizon; a page at a time.
   */
  findSlots(query: FindSlotsQuery): Promise<SlotPage> {
    return findSlots(this.ctx, query);
  }

  /**
   * Blocks a period for the doctor: free slots in it are withdrawn, computed slots are not
   * offered, and its bookings are refused (`onConflict: 'reject'`, the default) or cancelled by
   * the doctor with a full refund (`'cancelAndRefund'`). Safe to call again with the same period.
   */
  addTimeOff(input: AddTimeOffInput): Promise<AddTimeOffOutcome> {
    return addTimeOff(this.ctx, input);
  }

  /** Deletes a time off; TIME_OFF_NOT_FOUND when there is none with that id. */
  removeTimeOff(input: { timeOffId: string }): Promise<TimeOff> {
    return removeTimeOff(this.ctx, input);
  }

  /** The doctor's time off overlapping `[from, to)` (default: not yet ended), by start. */
  listTimeOff(query: {
    doctorId: string;
    from?: Date | string;
    to?: Date | string;
    limit?: number;
  }): Promise<TimeOff[]> {
    return listTimeOff(this.ctx, query);
  }

  /**
   * Books a slot for a patient: a published one (`scheduleId`) or one computed from the
   * doctor's rules (`doctorId` and `startTime`, as `findSlots` lists it). Free plans get a
   * scheduled booking at once; paying plans get a pending booking that holds the slot for
   * `holdMinutes` and a `paymentUrl`.
   */
  book(input: BookInput): Promise<BookResult> {
    return book(this.ctx, input);
  }

  /**
   * Applies a normalized provider event (from `gateway.parseWebhook`); replays change nothing.
   * With `{ verified: true }` (what the webhook handler passes) an event that can never apply is
   * acknowledged as ignored instead of throwing, so the provider stops retrying it.
   */
  handlePaymentEvent(event: PaymentEvent, options?: HandlePaymentEventOptions): Promise<PaymentEventResult> {
    return handlePaymentEvent(this.ctx, event, options);
  }

  /**
   * Cancels a booking as its patient, its doctor or an admin (NOT_ALLOWED otherwise). A pending
   * booking's checkout is expired and its hold released; a scheduled one frees its future slot
   * and is refunded per the `cancellation` policy (doctors and admins: in full).
   */
  cancelBooking(input: CancelInput): Promise<CancelOutcome> {
    return cancelBooking(this.ctx, input);
  }

  /**
   * What cancelling as `actor` would give back now, by the policy the booking agreed to:
   * `{ allowed, refund, kept, reason, tier, cutoffHours }`. `cancelBooking` applies the same numbers.
   */
  quoteCancellation(input: { bookingId: string; actor: Actor }): Promise<CancellationQuote> {
    return quoteCancellation(this.ctx, input);
  }

  /**
   * Marks a scheduled booking a no-show: its doctor or an admin, from the start until
   * `noShowGraceMinutes` after the end. The payment is kept unless `noShowRefundPercent` says otherwise.
   */
  markNoShow(input: { bookingId: string; actor: Actor }): Promise<Booking> {
    return markNoShow(this.ctx, input);
  }

  /** Takes a no-show back (scheduled again) until `noShowGraceMinutes` after the end. */
  undoNoShow(input: { bookingId: string; actor: Actor }): Promise<Booking> {
    return undoNoShow(this.ctx, input);
  }

  /**
   * Refunds a paid booking, fully (default) or partly, never more than is left. The refund is
   * recorded before the provider is called and retried by the sweep if the provider fails
   * (this call then throws PAYMENT_PROVIDER_ERROR naming the recorded refund).
   */
  refund(input: RefundInput): Promise<RefundOutcome> {
    return refund(this.ctx, input);
  }

  /**
   * Moves a scheduled booking to another available slot of the same doctor, atomically and
   * without a second payment; refused inside the booking's reschedule deadline for the actor
   * (`reschedule.patientDeadlineHours` for patients, `staffDeadlineHours` for the doctor and
   * admins) or past `maxPerBooking` moves.
   */
  reschedule(input: RescheduleInput): Promise<RescheduleOutcome> {
    return reschedule(this.ctx, input);
  }

  /**
   * Runs one timed job by name: what every queue processor calls. Each job re-reads state,
   * so running it twice, late, or early is safe.
   */
  async runJob(name: JobName, data: JobData = {}): Promise<unknown> {
    if (!ALL_JOB_NAMES.includes(name)) {
      throw new BookingError(
        'INVALID_INPUT',
        `Unknown job ${String(name)}; expected one of ${ALL_JOB_NAMES.join(', ')}`,
      );
    }
    if (data === null || typeof data !== 'object')
      throw new BookingError('INVALID_INPUT', 'Job data must be an object');
    switch (name) {
      case JOB_NAMES.holdTimeout:
        return releaseHold(this.ctx, parseId(data.bookingId, `${name}: bookingId`), { inHoldJob: true });
      case JOB_NAMES.completeBooked:
      case JOB_NAMES.expireUnbooked:
        return finishSlot(this.ctx, data.scheduleId);
      case JOB_NAMES.cleanup: {
        // Expired slots past their retention, then delivered outbox records past theirs.
        const deleted = await cleanupExpiredSchedules(this.ctx);
        await this.ctx.outbox.prune();
        return deleted;
      }
      case JOB_NAMES.reconcile:
        return reconcile(this.ctx);
      case JOB_NAMES.outbox:
        return this.ctx.outbox.drain();
      case JOB_NAMES.reminder:
        return sendDueReminders(this.ctx, parseId(data.bookingId, `${name}: bookingId`));
    }
  }

  /** The sweep: releases expired holds, confirms payments whose webhook was lost, finishes ended slots, retries refunds. */
  reconcile(): Promise<ReconcileReport> {
    return reconcile(this.ctx);
  }

  async getBooking(id: string): Promise<Booking> {
    const booking = await this.ctx.store.getBooking(parseId(id, 'bookingId'));
    if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${id}`);
    return booking;
  }

  async getSchedule(id: string): Promise<Schedule> {
    const schedule = await this.ctx.store.getSchedule(parseId(id, 'scheduleId'));
    if (!schedule) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
    return schedule;
  }

  listSchedules(query: ListSchedulesQuery = {}): Promise<Schedule[]> {
    return listSchedules(this.ctx, query);
  }

  async listBookings(query: ListBookingsQuery = {}): Promise<Booking[]> {
    const args = parseInput(listBookingsSchema, query, 'listBookings');
    return this.ctx.store.findBookings({
      ...(args.patientId === undefined ? {} : { patientId: args.patientId }),
      ...(args.doctorId === undefined ? {} : { doctorId: args.doctorId }),
      ...(args.scheduleId === undefined ? {} : { scheduleId: args.scheduleId }),
      ...(args.status === undefined ? {} : { status: args.status }),
      limit: args.limit ?? 100,
    });
  }

  /** The doctor's balances per currency and one page of the ledger (oldest first; `nextCursor` for more). */
  getWallet(doctorId: string, page: WalletPage = {}): Promise<Wallet> {
    return getWallet(this.ctx, doctorId, page);
  }
}
