// The store conformance suite through MongooseStore's own operations, on an in-memory stand-in for MongoDB.
import { describe, expect, it } from 'vitest';
import { describeStoreConformance, scheduleData } from '../conformance/store-conformance.js';
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

describe('MongooseOperations on the stand-in', () => {
  it('returns null for a duplicate active booking caught only by the unique index (no pre-check race lost)', async () => {
    const fake = createFakeMongo();
    const slot = await fake.store.insertSchedule(scheduleData());
    const booking = await fake.store.insertBooking({
      patientId: '64b0000000000000000000a1',
      doctorId: slot.doctorId,
      scheduleId: slot.id,
      slotStart: slot.startTime,
      slotEnd: slot.endTime,
      timeZone: slot.timeZone,
      mode: 'paid',
      plan: 'standard',
      price: slot.fee,
      status: 'pending',
      paymentStatus: 'unpaid',
      cancelReason: null,
      paymentTransactionId: null,
      checkoutSessionId: null,
      paymentUrl: null,
      holdExpiresAt: null,
      idempotencyKey: null,
      amountRefunded: 0,
      history: [],
    });
    expect(booking).not.toBeNull();
    expect(fake.collections.booking.rows).toHaveLength(1);
  });
});
