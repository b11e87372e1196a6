// What every use case shares: the ports, the options, the events, and after-commit effects.
import { EventEmitter } from 'eventemitter3';
import type { Actor, Booking, BookingHistoryEntry, Notification } from '../domain/entities.js';
import type { BookingStatus, PaymentStatus } from '../domain/status.js';
import type { BookingStore } from '../ports/booking-store.js';
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

export class EngineContext {
  readonly events = new EventEmitter<BookingEngineEvents>();

  constructor(
    readonly store: BookingStore,
    readonly payments: PaymentGateway,
    readonly scheduler: JobScheduler,
    readonly notifier: Notifier,
    readonly patients: PatientDirectory,
    readonly clock: Clock,
    readonly options: ResolvedOptions,
  ) {}

  now(): Date {
    return this.clock.now();
  }

  history(
    from: BookingStatus | null,
    to: BookingStatus,
    paymentStatus: PaymentStatus,
    actor: Actor,
    reason: string | null,
  ): BookingHistoryEntry {
    return { at: this.now(), from, to, paymentStatus, actor, reason };
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

  notify(notification: Notification, bookingId?: string): Effect {
    return {
      name: `notify:${notification.type}`,
      ...(bookingId === undefined ? {} : { bookingId }),
      run: () => this.notifier.notify(notification),
    };
  }

  emitEffect<E extends keyof BookingEngineEvents>(event: E, ...args: Parameters<BookingEngineEvents[E]>): Effect {
    return { name: `emit:${event}`, run: () => this.emit(event, ...args) };
  }
}

/** Deterministic job ids: scheduling twice adds one job. */
export const jobIds = {
  hold: (bookingId: string) => `hold-${bookingId}`,
  complete: (scheduleId: string) => `complete-${scheduleId}`,
  expire: (scheduleId: string) => `expire-${scheduleId}`,
};

export function describeBooking(booking: Booking): Record<string, string> {
  return {
    bookingId: booking.id,
    scheduleId: booking.scheduleId,
    doctorId: booking.doctorId,
    patientId: booking.patientId,
    startTime: booking.slotStart.toISOString(),
  };
}
