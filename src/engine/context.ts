// What every use case shares: the ports, the options, the events, and after-commit effects.
import { EventEmitter } from 'eventemitter3';
import type { Actor, BookingHistoryEntry, Schedule } from '../domain/entities.js';
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
import type { PatientDirectory } from '../ports/patient-directory.js';
import type { PaymentGateway } from '../ports/payment-gateway.js';
import type { BookingEngineEvents } from './events.js';
import type { ResolvedOptions } from './options.js';

/** A side effect to run after a transaction committed; its failure is reported, never thrown. */
export interface Effect {
  name: string;
  bookingId?: string;
  scheduleId?: string;
  run: () => Promise<unknown> | unknown;
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

  /** Runs effects one after another; a failing one is reported on `events` and the rest still run. */
  async runEffects(effects: readonly Effect[]): Promise<void> {
    for (const effect of effects) {
      try {
        await effect.run();
      } catch (error) {
        this.reportFailure(effect, error);
      }
    }
  }

  reportFailure(effect: Omit<Effect, 'run'>, error: unknown): void {
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
    return { name: `schedule:${job.name}`, ...ids, run: () => this.scheduler.schedule(job) };
  }

  cancelJob(name: JobName, id: string, ids: { bookingId?: string; scheduleId?: string }): Effect {
    return { name: `cancel:${name}`, ...ids, run: () => this.scheduler.cancel({ name, id }) };
  }

  emitEffect<E extends keyof BookingEngineEvents>(event: E, ...args: Parameters<BookingEngineEvents[E]>): Effect {
    return { name: `emit:${event}`, run: () => this.emit(event, ...args) };
  }
}
