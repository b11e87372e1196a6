// The composition root: BookingEngine is BookingEngineCore with the embedded defaults filled in.
import { EventEmitterNotifier } from './adapters/memory/event-emitter-notifier.js';
import { InProcessScheduler } from './adapters/memory/in-process-scheduler.js';
import { BookingEngineCore } from './engine/booking-engine.js';
import type { BookingEngineCoreOptions, BookingEngineOptions } from './engine/options.js';
import { type Clock, systemClock } from './ports/clock.js';
import type { Notifier } from './ports/notifier.js';

function withDefaults<N extends Notifier>(options: BookingEngineOptions<N>): BookingEngineCoreOptions<N> {
  // Not an object: let the engine's own validation say what to pass.
  if (options === null || typeof options !== 'object') return options as unknown as BookingEngineCoreOptions<N>;
  const clock: Clock = options.clock ?? systemClock;
  const validClock = typeof (clock as Partial<Clock> | null)?.now === 'function';
  return {
    ...options,
    clock,
    // A bad clock is reported by the engine's validation, not by a default scheduler built on it.
    scheduler: options.scheduler ?? (validClock ? new InProcessScheduler({ clock }) : (undefined as never)),
    // With no notifier given, N is its default, EventEmitterNotifier.
    notifier: options.notifier ?? (new EventEmitterNotifier() as unknown as N),
  };
}

class BookingEngineWithDefaults<N extends Notifier> extends BookingEngineCore<N> {
  constructor(options: BookingEngineOptions<N>) {
    super(withDefaults(options));
  }
}

/**
 * How `new BookingEngine(...)` is typed: with no notifier given, the engine's notifier is the
 * default `EventEmitterNotifier` (so `engine.notifier.on('notification', fn)` compiles);
 * otherwise it is typed as the notifier passed.
 */
export interface BookingEngineConstructor {
  new (
    options: BookingEngineOptions<EventEmitterNotifier> & { notifier?: undefined },
  ): BookingEngine<EventEmitterNotifier>;
  new <N extends Notifier>(options: BookingEngineOptions<N>): BookingEngine<N>;
  readonly prototype: BookingEngine;
}

/**
 * Runs paid doctor-appointment booking inside the host's backend (see `BookingEngineCore` for
 * every method). Ports left out are filled with the embedded defaults:
 * - `scheduler`: an `InProcessScheduler` on `clock` (timers lost on restart; `reconcile` repairs);
 * - `notifier`: an `EventEmitterNotifier`, typed so `engine.notifier.on('notification', fn)` compiles;
 * - `clock`: the system clock.
 *
 * As a type, `BookingEngine` (without an argument) accepts an engine with any notifier.
 * To subclass, extend `BookingEngineCore` and pass every port.
 */
export type BookingEngine<N extends Notifier = Notifier> = BookingEngineCore<N>;
// Logs and stack traces name the class hosts construct.
Object.defineProperty(BookingEngineWithDefaults, 'name', { value: 'BookingEngine' });
export const BookingEngine: BookingEngineConstructor = BookingEngineWithDefaults as BookingEngineConstructor;
