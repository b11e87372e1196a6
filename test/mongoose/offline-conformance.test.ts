// The store conformance suite through MongooseStore's own operations, on an in-memory stand-in for MongoDB.
import { describe, expect, it } from 'vitest';
import { UniqueConflictError } from '../../src/adapters/mongoose/errors.js';
import {
  type ClientSession,
  MongooseOperations,
  type StoreCollections,
} from '../../src/adapters/mongoose/mongoose-operations.js';
import { bookingData, DOC1, describeStoreConformance, PAT2 } from '../conformance/store-conformance.js';
import { ledgerEntry, newSchedule } from '../support/records.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Runs everywhere: mapping, filters, sort orders, compare-and-set and unique-key handling of the
// adapter are exercised without a server. Transaction isolation here is the stand-in's; the
// same suite runs on a real replica set in store.conformance.test.ts when mongod is available.
for (const hostIds of ['objectId', 'string'] as const) {
  const fake = createFakeMongo({ hostIds });
  describeStoreConformance(`MongooseOperations on an in-memory MongoDB stand-in (hostIds: ${hostIds})`, {
    fresh: async () => {
      fake.reset();
      return fake.store;
    },
  });
}

describe('unique keys the checks did not see (a concurrent writer got there first)', () => {
  // The pre-checks are bypassed (every findOne answers null), so only the unique index can say no.
  function blindOperations(inTransaction: boolean) {
    const fake = createFakeMongo();
    const blind = Object.fromEntries(
      Object.entries(fake.collections).map(([key, collection]) => [
        key,
        Object.assign(Object.create(collection), { findOne: async () => null }),
      ]),
    ) as unknown as StoreCollections;
    const session = inTransaction ? ({} as ClientSession) : null;
    return { fake, ops: new MongooseOperations({ ...fake.deps, collections: blind }, session) };
  }

  const ledger = ledgerEntry({ key: 'credit:b1', doctorId: DOC1 });

  it('answers null or false outside a transaction when the index refuses the write', async () => {
    const { fake, ops } = blindOperations(false);
    const slot = await fake.store.insertSchedule(newSchedule());
    expect(await ops.insertBooking(bookingData(slot))).not.toBeNull();
    expect(await ops.insertBooking(bookingData(slot, { patientId: PAT2 }))).toBeNull();
    expect(await ops.appendLedgerEntry(ledger)).toBe(true);
    expect(await ops.appendLedgerEntry(ledger)).toBe(false);
    expect(await ops.recordProcessedEvent({ id: 'evt_1', type: 't', at: new Date() })).toBe(true);
    expect(await ops.recordProcessedEvent({ id: 'evt_1', type: 't', at: new Date() })).toBe(false);
    const cancelled = await ops.insertBooking(bookingData(slot, { patientId: PAT2, status: 'cancelled' }));
    expect(
      await ops.updateBookingIf({ id: cancelled?.id ?? '', expectedStatus: 'cancelled', set: { status: 'scheduled' } }),
    ).toBeNull();
    expect(fake.collections.booking.rows).toHaveLength(2);
  });

  it('asks for the transaction to run again inside a transaction, instead of answering from an aborted one', async () => {
    const { fake, ops } = blindOperations(true);
    const slot = await fake.store.insertSchedule(newSchedule());
    expect(await ops.insertBooking(bookingData(slot))).not.toBeNull();
    await expect(ops.insertBooking(bookingData(slot, { patientId: PAT2 }))).rejects.toBeInstanceOf(UniqueConflictError);
    expect(await ops.appendLedgerEntry(ledger)).toBe(true);
    await expect(ops.appendLedgerEntry(ledger)).rejects.toBeInstanceOf(UniqueConflictError);
  });
});
