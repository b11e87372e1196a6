// A BookingEngine on the embedded defaults with a manual clock, plus helpers the engine tests share.
import { afterEach, expect } from 'vitest';
import type { BookingEngineEvents, BookingEngineOptions, BookingStore, Notification } from '../../src/index.js';
import {
  BOOKING_ENGINE_EVENTS,
  BookingEngine,
  EventEmitterNotifier,
  InProcessScheduler,
  MemoryStore,
} from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { findViolations } from './invariants.js';

export const DOCTOR = '64b0000000000000000000d1';
export const OTHER_DOCTOR = '64b0000000000000000000d2';
export const PATIENTS = {
  standard: '64b0000000000000000000a1',
  vise: '64b0000000000000000000a2',
  none: '64b0000000000000000000a3',
  trial: '64b0000000000000000000a4',
  other: '64b0000000000000000000a5',
  viseStranger: '64b0000000000000000000a6',
} as const;

export interface Fixture {
  engine: BookingEngine;
  store: BookingStore;
  clock: ManualClock;
  gateway: TestPaymentGateway;
  patients: MemoryPatientDirectory;
  scheduler: InProcessScheduler;
  notifier: EventEmitterNotifier;
  notifications: Notification[];
  events: { name: keyof BookingEngineEvents; payload: unknown }[];
  /** A slot `startInMinutes` from now, lasting 30 minutes, fee 50.00 EUR unless overridden. */
  slot(
    startInMinutes?: number,
    overrides?: { doctorId?: string; amount?: number; timeZone?: string },
  ): ReturnType<BookingEngine['createSchedule']>;
  /** Moves the clock and runs whatever jobs became due. */
  advance(minutes: number): Promise<void>;
  /**
   * Opts this fixture out of the invariant check that runs after the test (see below); only for
   * a test that breaks an invariant on purpose. `reason` says which one and why.
   */
  skipInvariantCheck(reason: string): void;
}

/**
 * The store invariant check after every test. Each fixture registers itself here when created;
 * the `afterEach` below (registered once per test file, when the file imports this module)
 * asserts `findViolations` is empty for every fixture the test created, at that fixture's clock.
 * A test that fails anyway is not checked again (its own failure says more). To break an
 * invariant on purpose, call `f.skipInvariantCheck('why')` in that test.
 */
const createdInThisTest: { store: BookingStore; clock: ManualClock; skipped: string | null }[] = [];

afterEach(async ({ task }) => {
  const fixtures = createdInThisTest.splice(0);
  if (task.result?.state === 'fail') return;
  for (const [i, fixture] of fixtures.entries()) {
    if (fixture.skipped !== null) continue;
    const violations = await findViolations(fixture.store, { now: fixture.clock.now() });
    expect(violations, `store invariants after the test (fixture ${i + 1} of ${fixtures.length})`).toEqual([]);
  }
});

/**
 * `keepDeliveredOutbox`: the test reads delivered outbox records, so a MemoryStore keeps them
 * (its default deletes each once delivered); the database stores keep them anyway.
 */
type StoreFactory = (clock: ManualClock, options: { keepDeliveredOutbox: boolean }) => BookingStore;
let defaultStore: StoreFactory = (clock, { keepDeliveredOutbox }) => new MemoryStore({ clock, keepDeliveredOutbox });
let defaultStoreName = 'MemoryStore';

/**
 * Makes every fixture without an explicit store use this one instead of a MemoryStore, so a
 * test file can run the engine suites on another store: call it, then `await import` the suites
 * (see test/memory/engine-suites.snapshot.test.ts, test/mongoose/engine-suites.offline.test.ts).
 * `name` labels the suites that name their store.
 */
export function useStoreForFixtures(factory: StoreFactory, name = 'the store given to useStoreForFixtures'): void {
  defaultStore = factory;
  defaultStoreName = name;
}

/** What fixtures without an explicit store run on, for suite labels. */
export function fixtureStoreName(): string {
  return defaultStoreName;
}

export function createFixture(
  fixtureOptions: Partial<BookingEngineOptions> & {
    store?: BookingStore;
    start?: string;
    /** The test reads delivered outbox records: a MemoryStore made here keeps them. */
    keepDeliveredOutbox?: boolean;
  } = {},
): Fixture {
  const { keepDeliveredOutbox = false, ...options } = fixtureOptions;
  const clock =
    options.clock instanceof ManualClock ? options.clock : new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  const store = options.store ?? defaultStore(clock, { keepDeliveredOutbox });
  const gateway = new TestPaymentGateway({ clock, checkoutBaseUrl: 'http://127.0.0.1/checkout' });
  const patients = new MemoryPatientDirectory(
    [
      { id: PATIENTS.standard, name: 'Ada Standard', plan: 'standard' },
      { id: PATIENTS.vise, name: 'Vera Vise', plan: 'vise' },
      { id: PATIENTS.none, name: 'Nick None', plan: 'none' },
      { id: PATIENTS.trial, name: 'Tina Trial', plan: 'freeTrial' },
      { id: PATIENTS.other, name: 'Otto Other', plan: 'standardPlus' },
      { id: PATIENTS.viseStranger, name: 'Sam Stranger', plan: 'vise' },
    ],
    [{ doctorId: DOCTOR, patientId: PATIENTS.vise }],
  );
  const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
  const notifier = new EventEmitterNotifier();
  const notifications: Notification[] = [];
  notifier.on('notification', (n) => notifications.push(n));
  const engine = new BookingEngine({
    store,
    payments: gateway,
    patients,
    scheduler,
    notifier,
    clock,
    ...options,
  });
  const events: Fixture['events'] = [];
  const tracked = { store, clock, skipped: null as string | null };
  createdInThisTest.push(tracked);

  for (const name of BOOKING_ENGINE_EVENTS)
    engine.events.on(name, (payload: unknown) => events.push({ name, payload }));
  return {
    engine,
    store,
    clock,
    gateway,
    patients,
    scheduler,
    notifier,
    notifications,
    events,
    slot: (startInMinutes = 24 * 60, overrides = {}) => {
      const start = new Date(clock.now().getTime() + startInMinutes * 60_000);
      return engine.createSchedule({
        doctorId: overrides.doctorId ?? DOCTOR,
        startTime: start,
        endTime: new Date(start.getTime() + 30 * 60_000),
        fee: { amount: overrides.amount ?? 5000, currency: 'EUR' },
        timeZone: overrides.timeZone ?? 'Europe/Berlin',
      });
    },
    advance: async (minutes: number) => {
      clock.advanceMinutes(minutes);
      await scheduler.runDue();
    },
    skipInvariantCheck: (reason: string) => {
      if (!reason.trim())
        throw new TypeError('skipInvariantCheck needs a reason: which invariant the test breaks, and why');
      tracked.skipped = reason;
    },
  };
}

/** Resolves with the error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(
  promise: Promise<unknown>,
): Promise<{ code?: string; status?: number; message: string; cause?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; status?: number; message: string };
  }
  throw new Error('expected the promise to reject');
}
