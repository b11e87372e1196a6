// MongooseStore against a real server: stored shapes, indexes, races through the index, readiness, migrations.
import mongoose from 'mongoose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIVE_BOOKING_INDEX, MONGOOSE_STORE_INDEXES, MongooseStore } from '../../src/adapters/mongoose/index.js';
import type { StoreOperations } from '../../src/index.js';
import { bookingData, DOC1, PAT1, patientId } from '../conformance/store-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { at, ledgerEntry, newPaymentTransaction, newSchedule, refundRecord } from '../support/records.js';
import {
  announceSkip,
  clearCollections,
  mongod,
  openConnection,
  sharedReplSet,
  startStandalone,
} from './support/mongo-server.js';

announceSkip('MongoDB store tests (test/mongoose/store.mongo.test.ts)');
const replSet = sharedReplSet();

describe.skipIf(!mongod.available)('MongooseStore on a real server', () => {
  let connection: mongoose.Connection;
  let store: MongooseStore;
  /** Each write in a transaction of its own. */
  let ops: StoreOperations;

  beforeAll(async () => {
    connection = await openConnection(await replSet.uri(), 'careslot_store');
    store = new MongooseStore({ connection });
    ops = autocommit(store);
    await store.createIndexes();
  });
  beforeEach(async () => {
    await clearCollections(store);
  });
  afterAll(async () => {
    await connection?.close();
    await replSet.stop();
  });

  it('stores slots and bookings under the original collection and field names, with ObjectId refs', async () => {
    const slot = await ops.insertSchedule(newSchedule());
    await ops.updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'booked', bookedBy: PAT1 },
    });
    const booking = await ops.insertBooking(bookingData(slot, { status: 'scheduled' }));
    const db = connection.db as mongoose.mongo.Db;
    const slotDoc = await db.collection('doctorappointmentschedules').findOne({});
    expect(slotDoc).toMatchObject({
      status: 'booked',
      timeZone: 'Europe/Berlin',
      fee: { amount: 5000, currency: 'eur' },
    });
    expect(slotDoc?.createdBy).toEqual(new mongoose.Types.ObjectId(DOC1));
    expect(slotDoc?.booked_by).toEqual(new mongoose.Types.ObjectId(PAT1));
    const bookingDoc = await db.collection('doctorpatientschedulebookings').findOne({});
    expect(bookingDoc?._id.toHexString()).toBe(booking?.id);
    expect(bookingDoc?.doctorScheduleId).toEqual(new mongoose.Types.ObjectId(slot.id));
    expect(bookingDoc).toMatchObject({ status: 'scheduled', active: true, paymentStatus: 'unpaid' });
  });

  it('builds every listed index, including the unique partial index on active bookings', async () => {
    for (const [key, specs] of Object.entries(MONGOOSE_STORE_INDEXES)) {
      const model = store.models[key as keyof typeof MONGOOSE_STORE_INDEXES];
      const names = (await model.collection.listIndexes().toArray()).map((i) => i.name);
      expect(names).toEqual(expect.arrayContaining(specs.map((s) => s.options.name)));
    }
    const indexes = await store.models.booking.collection.listIndexes().toArray();
    expect(indexes.find((i) => i.name === ACTIVE_BOOKING_INDEX)).toMatchObject({
      key: { doctorScheduleId: 1 },
      unique: true,
      partialFilterExpression: { active: true },
    });
  });

  it('refuses a second active booking for a slot even when it is written around careslot', async () => {
    const slot = await ops.insertSchedule(newSchedule());
    const first = await ops.insertBooking(bookingData(slot));
    const raw = await store.models.booking.collection.findOne({ _id: new mongoose.Types.ObjectId(first?.id) });
    const copy = { ...raw, _id: new mongoose.Types.ObjectId(), patientId: new mongoose.Types.ObjectId(patientId(1)) };
    await expect(store.models.booking.collection.insertOne(copy)).rejects.toMatchObject({ code: 11000 });
    await store.models.booking.collection.insertOne({ ...copy, status: 'cancelled', active: false });
    expect(await store.countBookings({ scheduleId: slot.id })).toBe(2);
  });

  it('lets exactly one of 50 concurrent transactions inserting an active booking win', async () => {
    const slot = await ops.insertSchedule(newSchedule());
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ops.insertBooking(bookingData(slot, { patientId: patientId(i) }))),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await store.countBookings({ scheduleId: slot.id })).toBe(1);
  });

  it('credits once when 20 concurrent transactions append the same ledger key', async () => {
    const entry = ledgerEntry({ doctorId: DOC1, createdAt: new Date() });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.transaction((tx) => tx.appendLedgerEntry(entry))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.findLedgerEntries({ doctorId: DOC1 })).toHaveLength(1);
  });

  it("keeps the wallet's running total equal to its lines when 20 transactions append to it at once (the server's write conflicts, retried)", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.transaction((tx) =>
          tx.appendLedgerEntry(
            ledgerEntry({
              key: `line:${i}`,
              doctorId: DOC1,
              kind: i % 4 === 3 ? 'debit' : 'credit',
              amount: 100 + i,
              createdAt: new Date(),
            }),
          ),
        ),
      ),
    );
    expect(results.every(Boolean)).toBe(true);
    const lines = await store.findLedgerEntries({ doctorId: DOC1 });
    const sum = lines.reduce((n, l) => n + (l.kind === 'credit' ? l.amount : -l.amount), 0);
    expect(await store.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: sum });
    const totals = await store.models.walletBalance.collection.find({}).toArray();
    expect(totals).toEqual([expect.objectContaining({ doctorId: new mongoose.Types.ObjectId(DOC1), balance: sum })]);
  });

  it('backfills the totals of ledger lines an older careslot wrote, and marks it done so balances read the totals', async () => {
    const doctorId = new mongoose.Types.ObjectId(DOC1);
    const line = (key: string, amount: number, currency = 'eur') => ({
      key,
      doctorId,
      bookingId: new mongoose.Types.ObjectId(),
      kind: 'credit',
      amount,
      currency,
      createdAt: new Date(),
      __v: 0,
    });
    await store.models.ledger.collection.insertMany([line('old:1', 4000), line('old:2', 600), line('old:3', 9, 'usd')]);
    await store.models.migration.collection.deleteMany({});
    const upgraded = new MongooseStore({ connection, onWarning: () => {} });
    // Without the marker, balances are summed from the ledger (correct, not yet from totals).
    expect(await upgraded.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: 4600, usd: 9 });
    expect(await upgraded.backfillWalletBalances()).toEqual({ ran: true, doctors: 1, totals: 2 });
    expect(await store.models.migration.collection.countDocuments({ state: 'done' })).toBe(1);
    await autocommit(upgraded).appendLedgerEntry(ledgerEntry({ key: 'new:1', doctorId: DOC1, amount: 1 }));
    expect(await upgraded.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: 4601, usd: 9 });
    expect(await upgraded.backfillWalletBalances()).toMatchObject({ ran: false });
  });

  it('records one payment when 10 transactions insert the same provider payment at once', async () => {
    const payment = newPaymentTransaction({ providerPaymentId: 'pi_race', checkoutSessionId: null });
    const results = await Promise.all(
      Array.from({ length: 10 }, () => store.transaction((tx) => tx.insertPaymentTransaction(payment))),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await store.findPaymentTransactions({ bookingId: payment.bookingId })).toHaveLength(1);
  });

  it('keeps concurrent refund writes to one payment: none is lost', async () => {
    const created = await ops.insertPaymentTransaction(
      newPaymentTransaction({ providerPaymentId: 'pi_refunds', checkoutSessionId: null }),
    );
    const at = new Date();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        ops.upsertRefund({
          paymentTransactionId: created?.id ?? '',
          refund: refundRecord({
            id: `r${i}`,
            amount: 500,
            status: 'succeeded',
            reason: null,
            createdAt: at,
            updatedAt: at,
          }),
        }),
      ),
    );
    const payment = await store.getPaymentTransaction(created?.id ?? '');
    expect(payment?.refunds.map((r) => r.id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`).sort());
    const raw = await store.models.payment.collection.findOne({});
    expect(raw).toMatchObject({ status: 'refunded', __v: 10 });
  });

  it("answers a write another open transaction made with the server's WriteConflict labelled TransientTransactionError, which the driver retries", async () => {
    const slot = await ops.insertSchedule(newSchedule());
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let wrote!: () => void;
    const firstWrote = new Promise<void>((resolve) => {
      wrote = resolve;
    });
    const first = store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      wrote();
      await held;
    });
    await firstWrote;
    let attempts = 0;
    const errors: unknown[] = [];
    const second = store.transaction(async (tx) => {
      attempts++;
      try {
        return await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'booked' } });
      } catch (error) {
        errors.push(error);
        release();
        throw error;
      }
    });
    await first;
    expect(await second).toBeNull();
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toMatchObject({ name: 'MongoServerError', code: 112 });
    expect((errors[0] as mongoose.mongo.MongoServerError).hasErrorLabel('TransientTransactionError')).toBe(true);
  });

  it('keeps two concurrent overlap checks of one doctor from both inserting when both take the doctor lock', async () => {
    let arrived = 0;
    let open!: () => void;
    const bothRead = new Promise<void>((resolve) => {
      open = resolve;
    });
    const attempts = [0, 0];
    const results = await Promise.all(
      [0, 15].map((start, i) =>
        store.transaction(async (tx) => {
          attempts[i] = (attempts[i] ?? 0) + 1;
          const overlapping = await tx.findSchedules({
            doctorId: DOC1,
            startBefore: at(start + 30),
            endAfter: at(start),
          });
          if (attempts[i] === 1) {
            arrived++;
            if (arrived === 2) open();
            await bothRead;
          }
          await tx.lockDoctor(DOC1);
          if (overlapping.length > 0) return 'overlap';
          return tx.insertSchedule(newSchedule({ doctorId: DOC1, startTime: at(start), endTime: at(start + 30) }));
        }),
      ),
    );
    expect(results.filter((r) => r === 'overlap')).toHaveLength(1);
    expect(await store.findSchedules({ doctorId: DOC1 })).toHaveLength(1);
  });

  it('never closes the host connection and leaves the default mongoose connection alone', async () => {
    await store.transaction(async (tx) => tx.insertSchedule(newSchedule()));
    expect(connection.readyState).toBe(1);
    expect(mongoose.connection.readyState).toBe(0);
    expect(mongoose.modelNames()).toEqual([]);
  });

  it('sets the active flag of legacy bookings so the one-active-per-slot rule covers them', async () => {
    const slot = await ops.insertSchedule(newSchedule());
    const created = await ops.insertBooking(bookingData(slot));
    await store.models.booking.collection.updateOne(
      { _id: new mongoose.Types.ObjectId(created?.id) },
      { $unset: { active: '' } },
    );
    expect(await store.findActiveBooking(slot.id)).toBeNull();
    expect(await store.backfillActiveFlags()).toBe(1);
    expect((await store.findActiveBooking(slot.id))?.id).toBe(created?.id);
  });

  it('refuses to run on a database without its unique indexes, and runs once createIndexes() built them', async () => {
    const other = await openConnection(await replSet.uri(), 'careslot_no_indexes');
    try {
      const fresh = new MongooseStore({ connection: other });
      await expect(fresh.ready()).rejects.toMatchObject({
        code: 'STORE_ERROR',
        message: expect.stringMatching(/careslot_one_active_booking_per_slot.*run await store\.createIndexes\(\)/),
      });
      await fresh.createIndexes();
      await fresh.ready();
    } finally {
      await other.dropDatabase();
      await other.close();
    }
  });

  it('builds every other index when legacy bookings make the active-booking index fail, and names backfillActiveFlags()', async () => {
    const other = await openConnection(await replSet.uri(), 'careslot_legacy_indexes');
    try {
      const fresh = new MongooseStore({ connection: other });
      const slotId = new mongoose.Types.ObjectId();
      await fresh.models.booking.collection.insertMany([
        { doctorScheduleId: slotId, status: 'scheduled', active: true },
        { doctorScheduleId: slotId, status: 'cancelled', active: true },
      ]);
      const error = await fresh.createIndexes().catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'STORE_ERROR',
        details: { failures: [expect.objectContaining({ index: ACTIVE_BOOKING_INDEX, code: 11000 })] },
        message: expect.stringMatching(/backfillActiveFlags\(\)/),
      });
      const names = (await fresh.models.doctorLock.collection.listIndexes().toArray()).map((i) => i.name);
      expect(names).toContain('careslot_doctor_lock');
      expect(await fresh.backfillActiveFlags()).toBe(1);
      await fresh.createIndexes();
      await fresh.ready();
    } finally {
      await other.dropDatabase();
      await other.close();
    }
  });

  it("loses its unique index to a sharing host model's syncIndexes() unless the host declares MONGOOSE_STORE_INDEXES, and ready() then says so", async () => {
    const other = await openConnection(await replSet.uri(), 'careslot_shared');
    try {
      const careslot = new MongooseStore({ connection: other, onWarning: () => {} });
      await careslot.createIndexes();
      const bare = other.model('HostEvents', new mongoose.Schema({ note: String }), 'processedpaymentevents');
      await bare.syncIndexes();
      const afterBare = new MongooseStore({ connection: other, onWarning: () => {} });
      await expect(afterBare.ready()).rejects.toMatchObject({ message: expect.stringMatching(/careslot_event_id/) });
      await careslot.createIndexes();
      const schema = new mongoose.Schema({ note: String });
      for (const i of MONGOOSE_STORE_INDEXES.event) schema.index(i.fields, i.options);
      const declared = other.model('HostEventsDeclared', schema, 'processedpaymentevents');
      await declared.syncIndexes();
      await new MongooseStore({ connection: other, onWarning: () => {} }).ready();
    } finally {
      await other.dropDatabase();
      await other.close();
    }
  });

  it('drops only indexes careslot did not declare on syncIndexes', async () => {
    await store.models.event.collection.createIndex({ type: 1 }, { name: 'stray_type' });
    const dropped = await store.syncIndexes();
    expect(dropped.event).toEqual(['stray_type']);
    expect(dropped.booking).toEqual([]);
  });
});

describe.skipIf(!mongod.available)('MongooseStore on a standalone mongod', () => {
  it('fails fast with STORE_ERROR saying that transactions need a replica set', async () => {
    const server = await startStandalone();
    const connection = await openConnection(server.getUri(), 'careslot_standalone');
    try {
      const store = new MongooseStore({ connection });
      await expect(store.ready()).rejects.toMatchObject({
        code: 'STORE_ERROR',
        message: expect.stringMatching(/needs a replica set/),
      });
      await expect(store.transaction((tx) => tx.insertSchedule(newSchedule()))).rejects.toMatchObject({
        code: 'STORE_ERROR',
      });
    } finally {
      await connection.close();
      await server.stop();
    }
  });
});
