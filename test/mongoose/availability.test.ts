// Availability versions and time off on MongooseStore: their collections and documents, argument checks, an index for every query, and ends that conflict instead of overwriting.
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COLLECTION_NAMES,
  DEFAULT_MODEL_NAMES,
  MONGOOSE_STORE_INDEXES,
} from '../../src/adapters/mongoose/index.js';
import { availabilityEndWrite, isInForce } from '../../src/adapters/mongoose/queries.js';
import { availabilityRecord } from '../conformance/availability-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { at, DOC, INJECTIONS, newSchedule, oid } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';
import { supportingIndexes, whyNot } from './support/index-support.js';

const timeOff = (start: number, end: number) => ({ doctorId: DOC, start: at(start), end: at(end), reason: null });

describe('the availability and time-off collections and their documents', () => {
  it('registers CareslotAvailability on careslot_availability and CareslotTimeOff on careslot_time_off, renamable like the others', () => {
    const fake = createFakeMongo();
    expect(fake.store.models.availability.modelName).toBe('CareslotAvailability');
    expect(fake.store.models.availability.collection.collectionName).toBe('careslot_availability');
    expect(fake.store.models.timeOff.modelName).toBe('CareslotTimeOff');
    expect(fake.store.models.timeOff.collection.collectionName).toBe('careslot_time_off');
    expect(DEFAULT_MODEL_NAMES).toMatchObject({ availability: 'CareslotAvailability', timeOff: 'CareslotTimeOff' });
    expect(DEFAULT_COLLECTION_NAMES).toMatchObject({
      availability: 'careslot_availability',
      timeOff: 'careslot_time_off',
    });
    const renamed = createFakeMongo({
      storeOptions: { collectionNames: { availability: 'host_hours', timeOff: 'host_absences' } },
    });
    expect(renamed.store.models.availability.collection.collectionName).toBe('host_hours');
    expect(renamed.store.models.timeOff.collection.collectionName).toBe('host_absences');
  });

  it('stores the doctor as an ObjectId (objectId mode) and the rules as one nested plain object, Dates as Dates', async () => {
    const fake = createFakeMongo();
    const created = await autocommit(fake.store).insertAvailability(availabilityRecord());
    const [row] = fake.rows('availability');
    expect(row?._id).toEqual(oid(created.id));
    expect(row?.doctorId).toEqual(oid(DOC));
    expect(row?.rules).toEqual(availabilityRecord().rules);
    expect(row?.effectiveFrom).toBeInstanceOf(Date);
    expect(row?.effectiveUntil).toBeNull();
    expect(row?.createdAt).toBeInstanceOf(Date);
  });

  it('stores the doctor as the string itself with hostIds: string', async () => {
    const fake = createFakeMongo({ hostIds: 'string' });
    const ops = autocommit(fake.store);
    await ops.insertAvailability(availabilityRecord({ doctorId: 'dr-ana' }));
    await ops.insertTimeOff({ ...timeOff(0, 60), doctorId: 'dr-ana' });
    expect(fake.rows('availability')[0]?.doctorId).toBe('dr-ana');
    expect(fake.rows('timeOff')[0]?.doctorId).toBe('dr-ana');
    expect(await fake.store.findTimeOff({ doctorId: 'dr-ana' })).toHaveLength(1);
  });

  it("keeps a slot's availabilityId as an ObjectId, and writes no field for slots published by hand", async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const version = await ops.insertAvailability(availabilityRecord());
    await ops.insertSchedule(newSchedule({ availabilityId: version.id }));
    await ops.insertSchedule(newSchedule({ startTime: at(60), endTime: at(90), availabilityId: null }));
    const [computed, published] = fake.rows('schedule');
    expect(computed?.availabilityId).toEqual(oid(version.id));
    expect(published).not.toHaveProperty('availabilityId');
    await expect(ops.insertSchedule(newSchedule({ availabilityId: 'v1' }))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'availabilityId' },
    });
  });

  it('refuses rules the schema does not accept (a bad wall-clock time, a weekday, a fractional minute) and writes nothing', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const rules = availabilityRecord().rules;
    for (const bad of [
      { ...rules, weekly: [{ days: ['mon' as const], from: '9:00', to: '12:00' }] },
      { ...rules, weekly: [{ days: ['monday' as 'mon'], from: '09:00', to: '12:00' }] },
      { ...rules, slotMinutes: 30.5 },
      { ...rules, fee: { amount: 5000, currency: 'EUR' } },
    ]) {
      await expect(ops.insertAvailability(availabilityRecord({ rules: bad }))).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    }
    await expect(
      ops.insertAvailability(availabilityRecord({ rules: null as unknown as typeof rules })),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT', details: { field: 'rules' } });
    expect(fake.rows('availability')).toEqual([]);
  });
});

describe('argument checks', () => {
  it('refuses ids that are not plainly ids with INVALID_INPUT, and answers null / false for unknown ones', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    for (const id of ['t1', '', ...INJECTIONS]) {
      await expect(fake.store.getTimeOff(id as string)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(ops.deleteTimeOff(id as string)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(fake.store.findTimeOff({ doctorId: id as string })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
      await expect(
        fake.store.findAvailability({ doctorId: id as string, from: at(0), to: at(1) }),
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(ops.endAvailability({ doctorId: id as string, at: at(0) })).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    }
    const unknown = '64b0000000000000000000f9';
    expect(await fake.store.getTimeOff(unknown)).toBeNull();
    expect(await ops.deleteTimeOff(unknown)).toBe(false);
  });

  it('refuses instants that are not Dates, and a limit that is not a whole number', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const notADate = '2030-01-01' as unknown as Date;
    await expect(fake.store.findAvailability({ doctorId: DOC, from: notADate, to: at(1) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'from' },
    });
    await expect(ops.endAvailability({ doctorId: DOC, at: new Date(Number.NaN) })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'at' },
    });
    await expect(fake.store.findTimeOff({ doctorId: DOC, endAfter: notADate })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'endAfter' },
    });
    await expect(fake.store.findTimeOff({ doctorId: DOC, limit: -1 })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(ops.insertTimeOff({ ...timeOff(0, 60), start: notADate })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { field: 'start' },
    });
    expect(fake.rows('timeOff')).toEqual([]);
  });
});

describe('the ends endAvailability writes', () => {
  it('ends at max(effectiveFrom, at), only while the end is still the one read', () => {
    const _id = new mongoose.Types.ObjectId();
    const running = { _id, effectiveFrom: at(0), effectiveUntil: null };
    expect(availabilityEndWrite(running, at(30))).toEqual({
      filter: { _id, effectiveUntil: null },
      update: { $set: { effectiveUntil: at(30) } },
    });
    const later = { _id, effectiveFrom: at(60), effectiveUntil: at(120) };
    expect(availabilityEndWrite(later, at(30))).toEqual({
      filter: { _id, effectiveUntil: at(120) },
      update: { $set: { effectiveUntil: at(60) } },
    });
    expect(isInForce({ effectiveFrom: at(60), effectiveUntil: at(60) })).toBe(false);
    expect(isInForce({ effectiveFrom: at(60), effectiveUntil: null })).toBe(true);
  });
});

describe('an index for every availability and time-off query', () => {
  it("sends only queries one of the collection's indexes serves (equality on the doctor, the sort in order, the other end on the index keys)", async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.insertAvailability(availabilityRecord());
    const t = await ops.insertTimeOff(timeOff(0, 60));
    fake.queries.length = 0;
    await fake.store.findAvailability({ doctorId: DOC, from: at(0), to: at(60) });
    await ops.endAvailability({ doctorId: DOC, at: at(30) });
    await fake.store.findTimeOff({ doctorId: DOC });
    await fake.store.findTimeOff({ doctorId: DOC, startBefore: at(60), endAfter: at(0), limit: 3 });
    await fake.store.getTimeOff(t.id);
    await ops.deleteTimeOff(t.id);
    const sent = fake.queries.filter((q) => q.collection === 'availability' || q.collection === 'timeOff');
    expect(new Set(sent.map((q) => `${q.collection}.${q.method}`))).toEqual(
      new Set([
        'availability.find',
        'availability.findOneAndUpdate',
        'timeOff.find',
        'timeOff.findOne',
        'timeOff.deleteMany',
      ]),
    );
    const unsupported = sent
      .filter((query) => supportingIndexes(MONGOOSE_STORE_INDEXES[query.collection], query).length === 0)
      .map((query) => ({
        ...query,
        why: MONGOOSE_STORE_INDEXES[query.collection].map((i) => `${i.options.name}: ${whyNot(i, query)}`),
      }));
    expect(unsupported).toEqual([]);
    for (const q of sent.filter((x) => x.method === 'find')) {
      expect(supportingIndexes(MONGOOSE_STORE_INDEXES[q.collection], q)).toContain(
        q.collection === 'availability' ? 'careslot_availability_doctor_from' : 'careslot_time_off_doctor_start',
      );
      expect(q.batchSize).toBeLessThanOrEqual(500);
      if (q.limit !== undefined) expect(q.batchSize).toBe(Math.min(q.limit, 500));
    }
  });
});

describe('concurrent rule changes on the stand-in', () => {
  it('makes the second of two changes that end the same open version conflict and run again, so one version stays open', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.insertAvailability(availabilityRecord({ effectiveFrom: at(0) }));
    let attempts = 0;
    const change = (from: number) =>
      fake.store.transaction(async (tx) => {
        attempts++;
        await tx.endAvailability({ doctorId: DOC, at: at(from) });
        return tx.insertAvailability(availabilityRecord({ effectiveFrom: at(from) }));
      });
    await Promise.all([change(100), change(200)]);
    expect(attempts).toBeGreaterThan(2);
    const open = fake.rows('availability').filter((row) => row.effectiveUntil === null);
    expect(open).toHaveLength(1);
    const inForce = await fake.store.findAvailability({ doctorId: DOC, from: at(-1e4), to: at(1e4) });
    // No two versions in force overlap.
    for (let i = 1; i < inForce.length; i++) {
      expect(inForce[i - 1]?.effectiveUntil?.getTime()).toBeLessThanOrEqual(inForce[i]?.effectiveFrom.getTime() ?? 0);
    }
  });
});
