// What every use case shares: the ports, the options, the events, and after-commit effects.
import { EventEmitter } from 'eventemitter3';
import type {
  Actor,
  Booking,
  BookingHistoryEntry,
  BookingPolicy,
  Notification,
  PaymentTransaction,
  RefundRecord,
  Schedule,
} from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import {
  type BookingStatus,
  canTransitionBooking,
  canTransitionSchedule,
  type PaymentStatus,
  type ScheduleStatus,
} from '../domain/status.js';
import type { BookingStore, StoreOperations } from '../ports/booking-store.js';
import type { Clock } from '../ports/clock.js';
import type { JobName, JobScheduler, ScheduledJob } from '../ports/job-scheduler.js';
import type { Notifier } from '../ports/notifier.js';
import type { OutboxRecord } from '../ports/outbox.js';
import type { PatientDirectory } from '../ports/patient-directory.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import type { BookingEngineEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { OutboxEventType } from './outbox-types.js';

/**
 * What must follow a committed change, as data: appended to the outbox in the change's own
 * transaction and delivered after commit (at least once, retried), or run directly when there
 * is no transaction to ride on.
 */
export type EffectSpec =
  | { kind: 'emit'; event: OutboxEventType; args: Record<string, unknown> }
  | { kind: 'notify'; notification: Notification }
  /** The doctor's or admin's "Patient X booked": the patient's name is looked up at delivery. */
  | { kind: 'notify.booked'; booking: Booking; recipient: 'doctor' | 'admin' }
  /** The patient's refund notice: the booking is read at delivery for its times. */
  | { kind: 'notify.refunded'; payment: PaymentTransaction; refund: RefundRecord }
  | { kind: 'job.schedule'; job: ScheduledJob }
  | { kind: 'job.cancel'; name: JobName; id: string }
  | { kind: 'refund.settle'; paymentId: string; refundId: string }
  | { kind: 'checkout.expire'; sessionId: string };

/** A side effect of a committed change; its failure is retried by the outbox, never thrown. */
export interface Effect {
  name: string;
  bookingId?: string;
  scheduleId?: string;
  spec: EffectSpec;
}

/** A record this process appended, leased to it, with the effect it was appended from (null: read back from the store). */
export interface FreshDelivery {
  effect: Effect | null;
  record: OutboxRecord;
}

/** How the context reaches the outbox (set by the engine; see `outbox.ts`). */
export interface OutboxWriter {
  /**
   * Appends the effects' deliveries inside `tx`; returns the keys the fast path delivers, each
   * with the effect it was appended from, for `deliver`.
   */
  append(tx: StoreOperations, effects: readonly Effect[]): Promise<Map<string, FreshDelivery>>;
  /** The fast path: delivers these keys now (what fails stays for the retries). */
  deliver(keys: readonly string[], fresh?: ReadonlyMap<string, FreshDelivery>): Promise<void>;
  /** Delivers whatever of this booking is still pending (after a commit whose outcome was unknown). */
  deliverPendingOf(bookingId: string): Promise<void>;
  /** Delivers everything due, for every consumer (the sweep). */
  drain(): Promise<{ delivered: number; failed: number; dead: number }>;
  /** Deletes delivered records past the retention (the clean-up). */
  prune(): Promise<number>;
}

/** Runs one effect's spec against the ports (the outbox's consumers call it). Set by the engine. */
export type EffectRunner = (effect: Effect, meta: DeliveryMeta) => Promise<void>;

/** What a consumer learns about the delivery it is making. */
export interface DeliveryMeta {
  eventId: string;
  attempt: number;
}

/** The ports a use case talks to, all required: the composition root fills the defaults. */
export interface EnginePorts {
  store: BookingStore;
  payments: PaymentGateway;
  scheduler: JobScheduler;
  notifier: Notifier;
  patients: PatientDirectory;
  clock: Clock;
}

/** A bug guard: the engine asked for a transition the domain's state machine does not allow. */
function illegal(kind: string, from: string | null, to: string): BookingError {
  return new BookingError('INVALID_TRANSITION', `careslot refused a ${kind} transition ${from ?? '(new)'} → ${to}`);
}

export class EngineContext {
  readonly events = new EventEmitter<BookingEngineEvents>();
  readonly store: BookingStore;
  readonly payments: PaymentGateway;
  readonly scheduler: JobScheduler;
  readonly notifier: Notifier;
  readonly patients: PatientDirectory;
  readonly clock: Clock;
  /** Set by the engine's constructor, before any use case runs. */
  outbox!: OutboxWriter;
  runEffect!: EffectRunner;
  private policyInForce: BookingPolicy | undefined;

  constructor(
    ports: EnginePorts,
    readonly options: ResolvedOptions,
  ) {
    this.store = ports.store;
    this.payments = ports.payments;
    this.scheduler = ports.scheduler;
    this.notifier = ports.notifier;
    this.patients = ports.patients;
    this.clock = ports.clock;
  }

  /** The cancellation and reschedule rules in force now, as a booking keeps them when confirmed. */
  currentPolicy(): BookingPolicy {
    // Copied once and frozen: every booking confirmed under these options shares the snapshot.
    this.policyInForce ??= deepFreeze(
      structuredClone({ cancellation: this.options.cancellation, reschedule: this.options.reschedule }),
    );
    return this.policyInForce;
  }

  /** The rules a booking agreed to: its snapshot, or (made before snapshots) the ones in force now. */
  policyOf(booking: Pick<Booking, 'policy'>): BookingPolicy {
    return booking.policy ?? this.currentPolicy();
  }

  now(): Date {
    return this.clock.now();
  }

  /** A history entry, checked against the booking state machine (`canTransitionBooking`). */
  history(
    from: BookingStatus | null,
    to: BookingStatus,
    paymentStatus: PaymentStatus,
    actor: Actor,
    reason: string | null,
  ): BookingHistoryEntry {
    if (!canTransitionBooking(from, to)) throw illegal('booking', from, to);
    return { at: this.now(), from, to, paymentStatus, actor, reason };
  }

  /**
   * Compare-and-set of a slot's status inside `tx`, checked against the slot state machine
   * (`canTransitionSchedule`). `bookedBy` is set when given (the patient, or null to clear it).
   * Null when the slot is no longer in `from`.
   */
  moveSlot(
    tx: StoreOperations,
    args: { id: string; from: ScheduleStatus; to: ScheduleStatus; bookedBy?: string | null },
  ): Promise<Schedule | null> {
    if (!canTransitionSchedule(args.from, args.to)) throw illegal('slot', args.from, args.to);
    return tx.updateScheduleIf({
      id: args.id,
      expectedStatus: args.from,
      set: args.bookedBy === undefined ? { status: args.to } : { status: args.to, bookedBy: args.bookedBy },
    });
  }

  /**
   * Runs `work` in a store transaction and appends `effectsOf(result)` to the outbox in that same
   * transaction; after commit delivers them at once (the fast path). A change that rolled back
   * has no effects; one that committed has all of them, delivered at least once.
   */
  async commit<T>(work: (tx: StoreOperations) => Promise<T>, effectsOf: (result: T) => readonly Effect[]): Promise<T> {
    let fresh: ReadonlyMap<string, FreshDelivery> = new Map();
    const result = await this.store.transaction(async (tx) => {
      const value = await work(tx);
      fresh = await this.outbox.append(tx, effectsOf(value));
      return value;
    });
    await this.outbox.deliver([...fresh.keys()], fresh);
    return result;
  }

  /**
   * Runs effects that follow no transaction of their own (provider clean-up after a failed call)
   * one after another, now; a failing one is reported on `events` and the rest still run.
   */
  async runEffects(effects: readonly Effect[]): Promise<void> {
    for (const effect of effects) {
      try {
        await this.runEffect(effect, { eventId: `direct-${effect.name}`, attempt: 1 });
      } catch (error) {
        this.reportFailure(effect, error);
      }
    }
  }

  reportFailure(effect: Pick<Effect, 'name' | 'bookingId' | 'scheduleId'>, error: unknown): void {
    try {
      this.events.emit('effect.failed', {
        effect: effect.name,
        error,
        ...(effect.bookingId === undefined ? {} : { bookingId: effect.bookingId }),
        ...(effect.scheduleId === undefined ? {} : { scheduleId: effect.scheduleId }),
      });
    } catch {
      // A throwing listener must not turn a committed booking into an error.
    }
  }

  /** Emits without letting a host listener's exception escape into the use case. */
  emit<E extends keyof BookingEngineEvents>(event: E, ...args: Parameters<BookingEngineEvents[E]>): void {
    try {
      (this.events.emit as (event: E, ...rest: Parameters<BookingEngineEvents[E]>) => boolean)(event, ...args);
    } catch (error) {
      if (event !== 'effect.failed') this.reportFailure({ name: `listener:${event}` }, error);
    }
  }

  scheduleJob(job: ScheduledJob, ids: { bookingId?: string; scheduleId?: string }): Effect {
    return { name: `schedule:${job.name}`, ...ids, spec: { kind: 'job.schedule', job } };
  }

  cancelJob(name: JobName, id: string, ids: { bookingId?: string; scheduleId?: string }): Effect {
    return { name: `cancel:${name}`, ...ids, spec: { kind: 'job.cancel', name, id } };
  }

  emitEffect<E extends OutboxEventType>(event: E, ...args: Parameters<BookingEngineEvents[E]>): Effect {
    const [payload] = args as unknown as [Record<string, unknown>];
    const ids = effectIds(payload);
    return { name: `emit:${event}`, ...ids, spec: { kind: 'emit', event, args: payload } };
  }
}

/** The booking and slot an event is about, for the outbox record (and ordering per booking). */
function effectIds(payload: Record<string, unknown>): { bookingId?: string; scheduleId?: string } {
  const booking = payload.booking as { id?: string; scheduleId?: string } | undefined;
  const schedule = (payload.schedule ?? payload.from) as { id?: string } | undefined;
  const payment = payload.payment as { bookingId?: string } | undefined;
  const bookingId = booking?.id ?? (payload.bookingId as string | undefined) ?? payment?.bookingId;
  const scheduleId = booking?.scheduleId ?? schedule?.id;
  return {
    ...(typeof bookingId === 'string' ? { bookingId } : {}),
    ...(typeof scheduleId === 'string' ? { scheduleId } : {}),
  };
}

/** Freezes `value` and everything it holds. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
