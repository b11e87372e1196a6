// The store conformance suite through MongooseStore's own code, on the snapshot-isolation MongoDB stand-in.
import { describe, expect, it } from 'vitest';
import { UniqueConflictError } from '../../src/adapters/mongoose/errors.js';
import {
  type ClientSession,
  MongooseOperations,
  type StoreCollections,
} from '../../src/adapters/mongoose/mongoose-operations.js';
import { bookingData, DOC1, describeStoreConformance, PAT2 } from '../conformance/store-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { ledgerEntry, newSchedule } from '../support/records.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Runs everywhere: mapping, filters, sort orders, compare-and-set, unique-key handling and the
// transaction path (connection.transaction, the driver's withTransaction and its retries) are
// the adapter's and the driver's; isolation is MongoDB's snapshot isolation as the stand-in
// models it. The same suite runs on a real replica set in store.conformance.test.ts.
for (const hostIds of ['objectId', 'string'] as const) {
  const fake = createFakeMongo({ hostIds });
  describeStoreConformance(`MongooseStore on the snapshot-isolation MongoDB stand-in (hostIds: ${hostIds})`, {
    fresh: async () => {
      fake.reset();
      return fake.store;
    },
  });
}

describe('unique keys the checks did not see (a concurrent writer got there first)', () => {
  // The pre-checks are bypassed (every findOne answers null), so only the unique index can say no.
  function blindOperations() {
    const fake = createFakeMongo();
    const blind = Object.fromEntries(
      Object.entries(fake.deps.collections).map(([key, collection]) => [
        key,
        Object.assign(Object.create(collection), { findOne: async () => null }),
      ]),
    ) as unknown as StoreCollections;
    /** Runs `fn` on blind operations inside a real transaction of the stand-in, once (no retry). */
    const once = <T>(fn: (ops: MongooseOperations) => Promise<T>): Promise<T> =>
      fake.connection.transaction((session: ClientSession) =>
        fn(new MongooseOperations({ ...fake.deps, collections: blind }, session)),
      );
    return { fake, once };
  }

  const ledger = ledgerEntry({ key: 'credit:b1', doctorId: DOC1 });

  it('asks for the transaction to run again instead of answering from an aborted one', async () => {
    const { fake, once } = blindOperations();
    const slot = await autocommit(fake.store).insertSchedule(newSchedule());
    await once((ops) => ops.insertBooking(bookingData(slot)));
    await expect(once((ops) => ops.insertBooking(bookingData(slot, { patientId: PAT2 })))).rejects.toBeInstanceOf(
      UniqueConflictError,
    );
    await once((ops) => ops.appendLedgerEntry(ledger));
    await expect(once((ops) => ops.appendLedgerEntry(ledger))).rejects.toBeInstanceOf(UniqueConflictError);
    expect(fake.rows('booking')).toHaveLength(1);
    expect(fake.rows('ledger')).toHaveLength(1);
  });

  it('carries the E11000 as the cause, and the server aborted the transaction (nothing of it commits)', async () => {
    const { fake, once } = blindOperations();
    const slot = await autocommit(fake.store).insertSchedule(newSchedule());
    await once((ops) => ops.insertBooking(bookingData(slot)));
    const error = await once(async (ops) => {
      await ops.insertSchedule(newSchedule());
      return ops.insertBooking(bookingData(slot, { patientId: PAT2 }));
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UniqueConflictError);
    expect((error as Error).cause).toMatchObject({ name: 'MongoServerError', code: 11000, codeName: 'DuplicateKey' });
    expect(fake.rows('schedule')).toHaveLength(1);
    expect(fake.db.openTransactions).toBe(0);
  });

  it('runs the whole function again on the store, where the check sees the key and answers null', async () => {
    const fake = createFakeMongo();
    const slot = await autocommit(fake.store).insertSchedule(newSchedule());
    await autocommit(fake.store).insertBooking(bookingData(slot));
    const collection = fake.deps.collections.booking;
    const findOne = collection.findOne.bind(collection);
    let attempts = 0;
    Object.assign(collection, {
      findOne: (...args: Parameters<typeof findOne>) => (attempts === 1 ? Promise.resolve(null) : findOne(...args)),
    });
    const result = await fake.store.transaction(async (tx) => {
      attempts++;
      return tx.insertBooking(bookingData(slot, { patientId: PAT2 }));
    });
    expect(result).toBeNull();
    expect(attempts).toBe(2);
    expect(fake.rows('booking')).toHaveLength(1);
  });
});
