// Tests that set up or poke a store one write at a time: every write runs in its own transaction.
import type { BookingStore, StoreOperations } from '../../src/index.js';

/** Every write and lock of the store port: only inside a transaction. */
export const STORE_WRITES = [
  'insertSchedule',
  'updateScheduleIf',
  'deleteSchedulesIf',
  'insertBooking',
  'updateBookingIf',
  'insertPaymentTransaction',
  'upsertRefund',
  'appendLedgerEntry',
  'recordProcessedEvent',
  'lockPatient',
  'lockDoctor',
  'savePaymentCustomer',
  'appendOutbox',
  'claimOutbox',
  'completeOutbox',
  'failOutbox',
  'releaseOutbox',
  'redriveOutbox',
  'deleteDeliveredOutbox',
  'insertAvailability',
  'endAvailability',
  'insertTimeOff',
  'deleteTimeOff',
  'markReminderSent',
] as const satisfies readonly (keyof StoreOperations)[];

/**
 * The store's operations with each write wrapped in a transaction of its own (reads go to the
 * store as they are). The port allows writes only inside `transaction`; this is for test setup.
 */
export function autocommit(store: BookingStore): StoreOperations {
  const ops = Object.create(null) as Record<string, unknown>;
  for (const name of STORE_WRITES) {
    ops[name] = (...args: unknown[]) =>
      store.transaction((tx) => (tx[name] as (...a: unknown[]) => Promise<unknown>)(...args));
  }
  return new Proxy(ops, {
    get: (target, key) => {
      if (typeof key === 'string' && key in target) return target[key];
      const value = (store as unknown as Record<string | symbol, unknown>)[key];
      return typeof value === 'function' ? value.bind(store) : value;
    },
  }) as unknown as StoreOperations;
}
