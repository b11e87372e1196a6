// The MongoDB stand-in's isolation: snapshot reads, first writer wins with the driver's retry, write skew allowed, only created unique indexes enforced.
import mongoose from 'mongoose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACTIVE_BOOKING_INDEX } from '../../src/adapters/mongoose/index.js';
import type { Schedule, StoreOperations } from '../../src/index.js';
import { bookingData, DOC1, DOC2, PAT1, PAT2 } from '../conformance/store-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { at, ledgerEntry, newSchedule } from '../support/records.js';
import { createFakeMongo } from './support/fake-mongo.js';

const { MongoServerError, ClientSession } = mongoose.mongo;

afterEach(() => {
  vi.restoreAllMocks();
});

/** Resolves for everyone once `parties` callers have arrived: makes two transactions interleave. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((resolve) => {
    open = resolve;
  });
  return async () => {
    arrived++;
    if (arrived >= parties) open();
    await all;
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** The shape and labels mongod gives a write-write conflict, as the driver raises it. */
function expectWriteConflict(error: unknown): void {
  expect(error).toBeInstanceOf(MongoServerError);
  expect(error).toMatchObject({ code: 112, codeName: 'WriteConflict' });
  expect((error as InstanceType<typeof MongoServerError>).hasErrorLabel('TransientTransactionError')).toBe(true);
}

async function oneSlot() {
  const fake = createFakeMongo();
  const slot = await autocommit(fake.store).insertSchedule(newSchedule());
  return { fake, slot };
}

describe('first writer wins, and the driver runs the loser again', () => {
  it("fails a write to a document another open transaction wrote with the server's labelled WriteConflict, and connection.transaction's own retry runs the function again", async () => {
    const { fake, slot } = await oneSlot();
    const connectionTransaction = vi.spyOn(fake.connection, 'transaction');
    const withTransaction = vi.spyOn(ClientSession.prototype, 'withTransaction');
    const firstWrote = deferred();
    const release = deferred();
    const first = fake.store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      firstWrote.resolve();
      await release.promise;
      return 'first';
    });
    await firstWrote.promise;

    let attempts = 0;
    const errors: unknown[] = [];
    const second = fake.store.transaction(async (tx) => {
      attempts++;
      try {
        return await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'booked' } });
      } catch (error) {
        errors.push(error);
        release.resolve();
        throw error;
      }
    });

    expect(await first).toBe('first');
    // The second attempt ran after the first transaction committed: the slot is no longer available.
    expect(await second).toBeNull();
    expect(attempts).toBe(2);
    expect(errors).toHaveLength(1);
    expectWriteConflict(errors[0]);
    // One connection.transaction call and one withTransaction per store transaction: the retry was the driver's.
    expect(connectionTransaction).toHaveBeenCalledTimes(2);
    expect(withTransaction).toHaveBeenCalledTimes(2);
    expect((await fake.store.getSchedule(slot.id))?.status).toBe('pending');
    expect(fake.db.openTransactions).toBe(0);
  });

  it('fails a write to a document committed after the snapshot the same way (not a lost update)', async () => {
    const { fake, slot } = await oneSlot();
    const read = deferred();
    const committed = deferred();
    let attempts = 0;
    const errors: unknown[] = [];
    const late = fake.store.transaction(async (tx) => {
      attempts++;
      const seen = await tx.getSchedule(slot.id);
      if (attempts === 1) {
        read.resolve();
        await committed.promise;
      }
      try {
        return await tx.updateScheduleIf({
          id: slot.id,
          expectedStatus: seen?.status ?? 'available',
          set: { status: 'expired' },
        });
      } catch (error) {
        errors.push(error);
        throw error;
      }
    });
    await read.promise;
    await autocommit(fake.store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'booked' },
    });
    committed.resolve();

    // Run again on the new state, the compare-and-set expects 'booked' and applies.
    expect(await late).toMatchObject({ status: 'expired' });
    expect(attempts).toBe(2);
    expectWriteConflict(errors[0]);
  });

  it('aborts the transaction on the server at the conflict: its later statements get NoSuchTransaction, transient too', async () => {
    const { fake, slot } = await oneSlot();
    const firstWrote = deferred();
    const release = deferred();
    const first = fake.store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      firstWrote.resolve();
      await release.promise;
    });
    await firstWrote.promise;
    let attempts = 0;
    let afterConflict: unknown = null;
    const second = fake.store.transaction(async (tx) => {
      attempts++;
      if (attempts > 1) return 'again';
      await tx
        .updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'booked' } })
        .catch(() => {});
      afterConflict = await tx.getSchedule(slot.id).catch((e: unknown) => e);
      release.resolve();
      throw afterConflict;
    });
    await first;
    expect(await second).toBe('again');
    expect(afterConflict).toBeInstanceOf(MongoServerError);
    expect(afterConflict).toMatchObject({ code: 251, codeName: 'NoSuchTransaction' });
    expect((afterConflict as InstanceType<typeof MongoServerError>).hasErrorLabel('TransientTransactionError')).toBe(
      true,
    );
  });
});

describe('snapshot reads', () => {
  it("reads its snapshot plus its own writes: not another transaction's uncommitted writes, not writes committed after its first read", async () => {
    const { fake, slot } = await oneSlot();
    const other = await autocommit(fake.store).insertSchedule(newSchedule({ startTime: at(120), endTime: at(150) }));
    const steps = { readerStarted: deferred(), writerWrote: deferred(), writerCommitted: deferred() };
    const seen: Record<string, string | undefined> = {};

    const reader = fake.store.transaction(async (tx) => {
      seen.atStart = (await tx.getSchedule(slot.id))?.status;
      steps.readerStarted.resolve();
      await steps.writerWrote.promise;
      seen.whileUncommitted = (await tx.getSchedule(slot.id))?.status;
      await steps.writerCommitted.promise;
      seen.afterCommit = (await tx.getSchedule(slot.id))?.status;
      seen.listedAfterCommit = (await tx.findSchedules({ doctorId: DOC1, status: 'pending' })).map((s) => s.id).join();
      await tx.updateScheduleIf({ id: other.id, expectedStatus: 'available', set: { status: 'expired' } });
      seen.ownWrite = (await tx.getSchedule(other.id))?.status;
    });

    await steps.readerStarted.promise;
    const writer = fake.store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      seen.outsideWhileUncommitted = (await fake.store.getSchedule(slot.id))?.status;
      steps.writerWrote.resolve();
      // Let the reader read while this write is still uncommitted.
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    await writer;
    seen.outsideAfterCommit = (await fake.store.getSchedule(slot.id))?.status;
    seen.outsideOtherBeforeReaderCommit = (await fake.store.getSchedule(other.id))?.status;
    steps.writerCommitted.resolve();
    await reader;

    expect(seen).toEqual({
      atStart: 'available',
      whileUncommitted: 'available',
      afterCommit: 'available',
      listedAfterCommit: '',
      ownWrite: 'expired',
      outsideWhileUncommitted: 'available',
      outsideAfterCommit: 'pending',
      outsideOtherBeforeReaderCommit: 'available',
    });
    expect((await fake.store.getSchedule(other.id))?.status).toBe('expired');
  });

  it('takes the snapshot at the first statement, as mongod does, not when the function starts', async () => {
    const { fake, slot } = await oneSlot();
    const started = deferred();
    const committed = deferred();
    const reader = fake.store.transaction(async (tx) => {
      started.resolve();
      await committed.promise;
      return (await tx.getSchedule(slot.id))?.status;
    });
    await started.promise;
    await autocommit(fake.store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'booked' },
    });
    committed.resolve();
    expect(await reader).toBe('booked');
  });
});

/** Creates a slot of DOC1 from `start` for 30 minutes unless one of the doctor's live slots overlaps it. */
async function createIfFree(
  tx: StoreOperations,
  start: number,
  options: { lock: boolean; afterRead: () => Promise<void> },
): Promise<Schedule | 'overlap'> {
  const overlapping = await tx.findSchedules({
    doctorId: DOC1,
    status: ['available', 'pending', 'booked'],
    startBefore: at(start + 30),
    endAfter: at(start),
  });
  await options.afterRead();
  // Taken after the read only so that both reads happen before either commits; where it is
  // taken does not matter: any conflict runs the whole function again.
  if (options.lock) await tx.lockDoctor(DOC1);
  if (overlapping.length > 0) return 'overlap';
  return tx.insertSchedule(newSchedule({ doctorId: DOC1, startTime: at(start), endTime: at(start + 30) }));
}

async function concurrentCreates(fake: ReturnType<typeof createFakeMongo>, lock: boolean) {
  const bothRead = barrier(2);
  const attempts = [0, 0];
  const results = await Promise.all(
    [0, 15].map((start, i) =>
      fake.store.transaction((tx) => {
        attempts[i] = (attempts[i] ?? 0) + 1;
        return createIfFree(tx, start, { lock, afterRead: attempts[i] === 1 ? bothRead : async () => {} });
      }),
    ),
  );
  return { results, attempts };
}

/** For the tests of what a missing index lets through: ready() would refuse to run without it. */
const NO_INDEX_CHECK = { checkIndexes: false } as const;

describe('write skew, and the lock documents that prevent it', () => {
  it('commits both of two transactions that read the same slots and insert disjoint ones: snapshot isolation allows write skew (two overlapping slots)', async () => {
    const fake = createFakeMongo();
    const { results, attempts } = await concurrentCreates(fake, false);
    expect(results.filter((r) => r !== 'overlap')).toHaveLength(2);
    expect(attempts).toEqual([1, 1]);
    expect(fake.rows('schedule')).toHaveLength(2);
  });

  it('makes the second of them run again and see the first slot when both take the doctor lock', async () => {
    const fake = createFakeMongo();
    const { results, attempts } = await concurrentCreates(fake, true);
    expect(results.filter((r) => r === 'overlap')).toHaveLength(1);
    expect([...attempts].sort()).toEqual([1, 2]);
    expect(fake.rows('schedule')).toHaveLength(1);
    expect(fake.rows('doctorLock')).toEqual([expect.objectContaining({ locks: 2 })]);
  });

  it('does not serialize first-time lockers when the doctor-lock unique index was never built: two lock documents, write skew again', async () => {
    const fake = createFakeMongo({ indexes: { except: ['careslot_doctor_lock'] }, storeOptions: NO_INDEX_CHECK });
    const { results } = await concurrentCreates(fake, true);
    expect(results.filter((r) => r !== 'overlap')).toHaveLength(2);
    expect(fake.rows('doctorLock')).toHaveLength(2);
  });
});

describe('unique indexes', () => {
  /** Two first bookings of one slot whose duplicate checks both run before either inserts. */
  async function concurrentFirstBookings(fake: ReturnType<typeof createFakeMongo>, slot: Schedule) {
    const bothChecked = barrier(2);
    const attempts = [0, 0];
    const errors: unknown[] = [];
    const results = await Promise.all(
      [PAT1, PAT2].map((patientId, i) =>
        fake.store.transaction(async (tx) => {
          attempts[i] = (attempts[i] ?? 0) + 1;
          const holder = await tx.findActiveBooking(slot.id);
          if (attempts[i] === 1) await bothChecked();
          if (holder) return null;
          return tx.insertBooking(bookingData(slot, { patientId })).catch((error: unknown) => {
            errors.push(error);
            throw error;
          });
        }),
      ),
    );
    return { results, attempts, errors };
  }

  it('lets only one of two concurrent inserts of an active booking for one slot commit; the other gets WriteConflict at its insert and runs again', async () => {
    const { fake, slot } = await oneSlot();
    const { results, attempts, errors } = await concurrentFirstBookings(fake, slot);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect([...attempts].sort()).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
    expectWriteConflict(errors[0]);
    expect(fake.rows('booking')).toHaveLength(1);
  });

  it('answers a unique key committed after the snapshot with WriteConflict, so the adapter runs again and answers false', async () => {
    const fake = createFakeMongo();
    const entry = ledgerEntry({ key: 'credit:b1', doctorId: DOC1 });
    const read = deferred();
    const committed = deferred();
    let attempts = 0;
    const late = fake.store.transaction(async (tx) => {
      attempts++;
      await tx.findLedgerEntries({ doctorId: DOC1 });
      if (attempts === 1) {
        read.resolve();
        await committed.promise;
      }
      return tx.appendLedgerEntry(entry);
    });
    await read.promise;
    expect(await autocommit(fake.store).appendLedgerEntry(entry)).toBe(true);
    committed.resolve();
    expect(await late).toBe(false);
    expect(attempts).toBe(2);
    expect(fake.rows('ledger')).toHaveLength(1);
  });

  it('does not enforce a unique index that was not created: both first bookings of one slot commit', async () => {
    const fake = createFakeMongo({ indexes: { except: [ACTIVE_BOOKING_INDEX] }, storeOptions: NO_INDEX_CHECK });
    const slot = await autocommit(fake.store).insertSchedule(newSchedule());
    const { results, attempts } = await concurrentFirstBookings(fake, slot);
    expect(results.filter((r) => r !== null)).toHaveLength(2);
    expect(attempts).toEqual([1, 1]);
    expect(fake.rows('booking').filter((b) => b.active === true)).toHaveLength(2);
    // Building it now fails on the duplicates, as the server's index build does.
    await expect(fake.store.createIndexes()).rejects.toMatchObject({
      code: 'STORE_ERROR',
      cause: expect.objectContaining({ code: 11000 }),
    });
  });

  it('enforces an index once createIndexes() built it', async () => {
    const fake = createFakeMongo({ indexes: 'none' });
    await fake.store.createIndexes();
    const slot = await autocommit(fake.store).insertSchedule(newSchedule());
    const { results } = await concurrentFirstBookings(fake, slot);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect((await fake.store.models.booking.collection.listIndexes().toArray()).map((i) => i.name)).toContain(
      ACTIVE_BOOKING_INDEX,
    );
  });

  it('checks unique indexes again at commit, against committed data: an index built while a transaction was open holds for it', async () => {
    const fake = createFakeMongo({ indexes: { except: ['careslot_ledger_key'] }, storeOptions: NO_INDEX_CHECK });
    const entry = ledgerEntry({ key: 'credit:b1', doctorId: DOC1 });
    const inserted = deferred();
    const indexed = deferred();
    let attempts = 0;
    const open = fake.store.transaction(async (tx) => {
      attempts++;
      const appended = await tx.appendLedgerEntry(entry);
      if (attempts === 1) {
        inserted.resolve();
        await indexed.promise;
      }
      return appended;
    });
    await inserted.promise;
    // The same key for another doctor: a write to another wallet total, so only the key collides.
    expect(await autocommit(fake.store).appendLedgerEntry({ ...entry, doctorId: DOC2 })).toBe(true);
    await fake.store.createIndexes();
    const commit = vi.spyOn(fake.db, 'commit');
    indexed.resolve();
    expect(await open).toBe(false);
    expect(attempts).toBe(2);
    expect(fake.rows('ledger')).toHaveLength(1);
    // The first attempt's commit was refused (the retry came from the commit, not from a write).
    const refused = commit.mock.results.filter((r) => r.type === 'throw');
    expect(refused).toHaveLength(1);
    expectWriteConflict(refused[0]?.value);
  });

  it('refuses a visible duplicate with E11000 (not transient), and the server aborts that transaction', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const slot = await ops.insertSchedule(newSchedule());
    const held = await ops.insertBooking(bookingData(slot));
    const raw = fake.rows('booking')[0];
    const error = await fake.connection
      .transaction((session) =>
        fake.deps.collections.booking.insertOne({ ...raw, _id: new mongoose.Types.ObjectId() } as never, { session }),
      )
      .catch((e: unknown) => e);
    expect(held).not.toBeNull();
    expect(error).toBeInstanceOf(MongoServerError);
    expect(error).toMatchObject({ code: 11000, codeName: 'DuplicateKey', keyPattern: { doctorScheduleId: 1 } });
    expect((error as InstanceType<typeof MongoServerError>).hasErrorLabel('TransientTransactionError')).toBe(false);
    expect(fake.rows('booking')).toHaveLength(1);
    expect(fake.db.openTransactions).toBe(0);
  });
});

describe('honest outside transactions', () => {
  it('refuses a write without a transaction, so a write that escapes store.transaction shows up in the tests', async () => {
    const fake = createFakeMongo();
    const doc = { _id: new mongoose.Types.ObjectId(), createdBy: new mongoose.Types.ObjectId(DOC1) };
    await expect(fake.deps.collections.schedule.insertOne(doc as never, {})).rejects.toThrow(
      /outside a transaction; careslot writes only inside store.transaction/,
    );
    expect(fake.rows('schedule')).toEqual([]);
  });

  it('discards every write of a function that throws, and ends the session', async () => {
    const fake = createFakeMongo();
    const endSession = vi.spyOn(ClientSession.prototype, 'endSession');
    await expect(
      fake.store.transaction(async (tx) => {
        await tx.insertSchedule(newSchedule());
        await tx.lockPatient(PAT1);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(fake.rows('schedule')).toEqual([]);
    expect(fake.rows('patientLock')).toEqual([]);
    expect(fake.db.openTransactions).toBe(0);
    expect(endSession).toHaveBeenCalledTimes(1);
  });
});
