// Building and checking careslot's indexes: legacy data, failures reported per index, ready() refusing to run without the unique ones.
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { MODEL_KEYS } from '../../src/adapters/mongoose/documents.js';
import { ACTIVE_BOOKING_INDEX, MONGOOSE_STORE_INDEXES, MongooseStore } from '../../src/adapters/mongoose/index.js';
import type { BookingError } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { newSchedule } from '../support/records.js';
import { oid, SLOT } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';

describe('the payment unique index', () => {
  it('builds over legacy payments that have no provider fields (partial on their type), and still refuses a second record of one provider payment', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    fake.seed('payment', [
      { referenceId: null, amount: 5000, currency: 'eur' },
      { referenceId: null, amount: 7000, currency: 'eur' },
    ]);
    await fake.store.createIndexes();
    const names = (await fake.store.models.payment.collection.listIndexes().toArray()).map((i) => i.name);
    expect(names).toContain('careslot_payment_provider_id');
    fake.seed('payment', [{ provider: 'stripe', providerPaymentId: 'pi_1', amount: 1, currency: 'eur' }]);
    expect(() =>
      fake.seed('payment', [{ provider: 'stripe', providerPaymentId: 'pi_1', amount: 1, currency: 'eur' }]),
    ).toThrow(/E11000/);
  });
});

const UNIQUE = Object.values(MONGOOSE_STORE_INDEXES)
  .flat()
  .filter((spec) => spec.options.unique)
  .map((spec) => spec.options.name);

describe('ready() checks the unique indexes the invariants rest on', () => {
  it('refuses with STORE_ERROR naming each missing unique index and saying to run createIndexes(), and writes nothing', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    const error = await fake.store.ready().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', status: 500 });
    const message = (error as Error).message;
    for (const name of UNIQUE) expect(message).toContain(name);
    expect(message).toMatch(/run await store\.createIndexes\(\)/);
    expect(message).not.toMatch(/backfillActiveFlags/);
    expect((error as BookingError).details?.missingIndexes).toHaveLength(UNIQUE.length);
    await expect(fake.store.transaction((tx) => tx.insertSchedule(newSchedule()))).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/careslot_patient_lock/),
    });
    await expect(fake.store.getSchedule(SLOT)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    expect(fake.rows('schedule')).toEqual([]);
  });

  it('names only what is missing, with what it is for', async () => {
    const fake = createFakeMongo({ indexes: { except: ['careslot_patient_lock'] } });
    const error = (await fake.store.ready().catch((e: unknown) => e)) as BookingError;
    expect(error.message).toMatch(
      /unique indexes this database does not have: careslotpatientlocks\.careslot_patient_lock \(the patient lock, for pending holds and free quota under concurrency\)\. run await store\.createIndexes\(\)/,
    );
    expect(error.details?.missingIndexes).toEqual([
      expect.objectContaining({ model: 'patientLock', index: 'careslot_patient_lock' }),
    ]);
  });

  it('lists the indexes once: after it passed, no call lists them again', async () => {
    const fake = createFakeMongo();
    await fake.store.ready();
    await fake.store.ready();
    await autocommit(fake.store).insertSchedule(newSchedule());
    await fake.store.findSchedules({});
    expect(fake.calls.filter((c) => c.endsWith('.listIndexes'))).toHaveLength(MODEL_KEYS.length);
  });

  it('checks again after createIndexes(), and then passes', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    await expect(fake.store.ready()).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await fake.store.createIndexes();
    await fake.store.ready();
    expect(await autocommit(fake.store).insertSchedule(newSchedule())).toMatchObject({ status: 'available' });
  });

  it('mentions backfillActiveFlags() first when legacy bookings without the flag are why the active-booking index is missing', async () => {
    const fake = createFakeMongo({ indexes: { except: [ACTIVE_BOOKING_INDEX] } });
    fake.seed('booking', [{ doctorScheduleId: oid(SLOT), status: 'scheduled' }]);
    const error = (await fake.store.ready().catch((e: unknown) => e)) as BookingError;
    expect(error.message).toMatch(
      /run await store\.backfillActiveFlags\(\) first, then run await store\.createIndexes\(\)/,
    );
    expect(error.details?.legacyActiveFlags).toBe(true);
  });

  it('accepts a unique index a host declared itself under another name (same fields, same options)', async () => {
    const fake = createFakeMongo({ indexes: { except: ['careslot_event_id'] } });
    await fake.store.models.event.collection.createIndex({ eventId: 1 }, { name: 'host_event_id', unique: true });
    await fake.store.ready();
  });

  it('warns (onWarning) about missing query indexes, and still runs', async () => {
    const warnings: [string, string][] = [];
    const fake = createFakeMongo({
      indexes: { except: ['careslot_booking_status_created'] },
      storeOptions: { onWarning: (message, code) => warnings.push([message, code]) },
    });
    await fake.store.ready();
    expect(warnings).toEqual([
      [
        expect.stringMatching(/queries scan.*careslot_booking_status_created \(the sweep of expired holds/),
        'CARESLOT_MISSING_QUERY_INDEXES',
      ],
    ]);
  });

  it('can be turned off for tests that run without an index on purpose', async () => {
    const fake = createFakeMongo({ indexes: 'none', storeOptions: { checkIndexes: false } });
    await fake.store.ready();
    expect(fake.calls.filter((c) => c.endsWith('.listIndexes'))).toEqual([]);
  });
});

describe('createIndexes()', () => {
  it('goes on across models after a failure and reports every failure, naming backfillActiveFlags() when legacy flags are the cause', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    // Legacy data: a cancelled booking still flagged active next to the live one, and a ledger key twice.
    fake.seed('booking', [
      { doctorScheduleId: oid(SLOT), status: 'scheduled', active: true },
      { doctorScheduleId: oid(SLOT), status: 'cancelled', active: true },
    ]);
    fake.seed('ledger', [{ key: 'credit:x' }, { key: 'credit:x' }]);
    const error = (await fake.store.createIndexes().catch((e: unknown) => e)) as BookingError;
    expect(error).toMatchObject({ code: 'STORE_ERROR' });
    expect(error.details?.failures).toEqual([
      expect.objectContaining({ model: 'booking', index: ACTIVE_BOOKING_INDEX, code: 11000 }),
      expect.objectContaining({ model: 'ledger', index: 'careslot_ledger_key', code: 11000 }),
    ]);
    expect(error.message).toMatch(
      /careslot_one_active_booking_per_slot.*run await store\.backfillActiveFlags\(\) first/,
    );
    expect(error.message).toMatch(/careslot_ledger_key.*remove the duplicates/);
    expect(error.cause).toBeInstanceOf(AggregateError);
    // Everything else was built, including the models after the failing ones.
    const all = Object.values(MONGOOSE_STORE_INDEXES).flat().length;
    expect(error.details?.built).toBe(all - 2);
    const names = (await fake.store.models.doctorLock.collection.listIndexes().toArray()).map((i) => i.name);
    expect(names).toContain('careslot_doctor_lock');
    // The way out the message gives: the flags follow the status, and the index builds.
    expect(await fake.store.backfillActiveFlags()).toBe(1);
    fake.seed('ledger', []);
    await expect(fake.store.createIndexes()).rejects.toMatchObject({
      details: { failures: [expect.objectContaining({ index: 'careslot_ledger_key' })] },
    });
  });

  it('says two live bookings hold one slot when the flags are right but the data is not', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    fake.seed('booking', [
      { doctorScheduleId: oid(SLOT), status: 'scheduled', active: true },
      { doctorScheduleId: oid(SLOT), status: 'pending', active: true },
    ]);
    const error = (await fake.store.createIndexes().catch((e: unknown) => e)) as BookingError;
    expect(error.message).toMatch(/two live bookings \(pending or scheduled\) hold one slot: cancel all but one/);
    expect(error.message).not.toMatch(/backfillActiveFlags/);
    expect(error.cause).toMatchObject({ code: 11000 });
  });
});

describe('dropSupersededIndexes()', () => {
  it("drops the indexes earlier releases declared and nothing else (a host's own index stays)", async () => {
    const fake = createFakeMongo();
    const schedules = fake.store.models.schedule.collection;
    await schedules.createIndex({ status: 1, endTime: 1 }, { name: 'careslot_status_end' });
    await schedules.createIndex({ note: 1 }, { name: 'host_note' });
    expect(await fake.store.dropSupersededIndexes()).toEqual({ schedule: ['careslot_status_end'] });
    const names = (await schedules.listIndexes().toArray()).map((i) => i.name);
    expect(names).toContain('host_note');
    expect(names).toContain('careslot_schedule_status_start');
    expect(names).not.toContain('careslot_status_end');
  });
});

describe('a collection shared with a host model', () => {
  it('is warned about when the host registers its model after the store, at the first ready()', async () => {
    const warnings: string[] = [];
    const fake = createFakeMongo({ storeOptions: { onWarning: (message) => warnings.push(message) } });
    fake.connection.model('HostLedger', new mongoose.Schema({ memo: String }), 'doctorwalletledgers');
    await fake.store.ready();
    await fake.store.ready();
    expect(warnings).toEqual([
      expect.stringMatching(/'doctorwalletledgers' .* shared with your model 'HostLedger'.*careslot_ledger_key/),
    ]);
  });

  it("is why ready() refuses once the host's own index sync dropped careslot's unique index", async () => {
    const fake = createFakeMongo({ storeOptions: { onWarning: () => {} } });
    // What the host model's syncIndexes() does to an index its schema does not declare.
    await fake.store.models.booking.collection.dropIndex(ACTIVE_BOOKING_INDEX);
    const again = new MongooseStore({ connection: fake.connection, onWarning: () => {} });
    await expect(again.ready()).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/careslot_one_active_booking_per_slot/),
    });
  });
});
