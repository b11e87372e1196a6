// The deadline of every store.transaction(fn) (timeoutMS), which the driver's withTransaction ignores, and what a caller learns about the commit when time runs out.
import { setImmediate as nextTurn } from 'node:timers/promises';
import mongoose from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_TRANSACTION_TIMEOUT_MS, MongooseStore } from '../../src/adapters/mongoose/mongoose-store.js';
import { TransactionDeadline } from '../../src/adapters/mongoose/transaction-deadline.js';
import { newSchedule } from '../support/records.js';
import { createFakeMongo } from './support/fake-mongo.js';

const { MongoServerError } = mongoose.mongo;

function writeConflict() {
  return new MongoServerError({
    ok: 0,
    errmsg: 'Write conflict during plan execution',
    code: 112,
    codeName: 'WriteConflict',
    errorLabels: ['TransientTransactionError'],
  });
}

/** What the driver raises after a commit whose write concern timed out: labelled unknown. */
function unknownCommit(codeName = 'WriteConcernFailed', code = 64) {
  return new MongoServerError({
    ok: 0,
    errmsg: 'waiting for replication timed out',
    code,
    codeName,
    errorLabels: ['UnknownTransactionCommitResult'],
  });
}

/** The promise of connection.transaction (the driver's loop), to see when it really ends. */
function captureDriverLoop(connection: mongoose.Connection): Promise<unknown>[] {
  const loops: Promise<unknown>[] = [];
  const original = connection.transaction.bind(connection);
  vi.spyOn(connection, 'transaction').mockImplementation(((fn: never, options: never) => {
    const loop = original(fn, options);
    loops.push(loop.catch((e: unknown) => e));
    return loop;
  }) as never);
  return loops;
}

describe('the transaction deadline (timeoutMS)', () => {
  it('defaults to 30 s and refuses a deadline that is not a whole number of milliseconds > 0', () => {
    const connection = mongoose.createConnection();
    expect(new MongooseStore({ connection }).timeoutMS).toBe(DEFAULT_TRANSACTION_TIMEOUT_MS);
    expect(DEFAULT_TRANSACTION_TIMEOUT_MS).toBe(30_000);
    for (const bad of [0, -1, 1.5, '100', Number.POSITIVE_INFINITY]) {
      expect(() => new MongooseStore({ connection, timeoutMS: bad as number })).toThrow(
        /options\.timeoutMS must be a whole number of milliseconds > 0/,
      );
    }
  });

  it('ends a conflict that never clears at the deadline (not after the driver 120 s), with nothing committed, and stops the driver retrying', async () => {
    const fake = createFakeMongo({ storeOptions: { timeoutMS: 250 } });
    await fake.store.ready();
    const loops = captureDriverLoop(fake.connection);
    let attempts = 0;
    const started = Date.now();
    const error = await fake.store
      .transaction(async (tx) => {
        attempts++;
        await tx.insertSchedule(newSchedule());
        throw writeConflict();
      })
      .catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/did not finish within timeoutMS \(250 ms\); nothing was committed/),
      details: { timeoutMS: 250, commitOutcome: 'not_committed' },
    });
    expect(attempts).toBeGreaterThan(1);
    expect(elapsed).toBeLessThan(5_000);
    // The driver's loop ends too (the next attempt is refused), so nothing runs on in the background.
    const stoppedWith = await loops[0];
    const after = attempts;
    expect(stoppedWith).toMatchObject({ name: 'TransactionDeadlineError' });
    expect(attempts).toBe(after);
    expect(fake.rows('schedule')).toEqual([]);
  });

  it('answers at the deadline when the commit reply never comes, saying the outcome is unknown', async () => {
    const fake = createFakeMongo({ storeOptions: { timeoutMS: 200 }, onCommit: () => new Promise<void>(() => {}) });
    await fake.store.ready();
    const error = await fake.store.transaction((tx) => tx.insertSchedule(newSchedule())).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/its commit was sent and its outcome is unknown: it may have committed/),
      details: { timeoutMS: 200, commitOutcome: 'unknown' },
    });
  });

  it('ends commit retries of an unknown commit result at the deadline, outcome unknown, and the driver stops retrying the commit', async () => {
    let commits = 0;
    const fake = createFakeMongo({
      storeOptions: { timeoutMS: 250 },
      onCommit: async () => {
        commits++;
        await nextTurn();
        throw unknownCommit();
      },
    });
    await fake.store.ready();
    const loops = captureDriverLoop(fake.connection);
    let runs = 0;
    const error = await fake.store
      .transaction(async (tx) => {
        runs++;
        return tx.insertSchedule(newSchedule());
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', details: { commitOutcome: 'unknown' } });
    // The commit was retried, the function was not.
    expect(runs).toBe(1);
    expect(commits).toBeGreaterThan(1);
    expect(await loops[0]).toMatchObject({ name: 'TransactionDeadlineError' });
    const after = commits;
    await nextTurn();
    expect(commits).toBe(after);
  });

  it("marks an unknown commit result the driver gives up on (MaxTimeMSExpired is not retried) with commitOutcome: 'unknown'", async () => {
    const fake = createFakeMongo({
      onCommit: async () => {
        await nextTurn();
        throw unknownCommit('MaxTimeMSExpired', 50);
      },
    });
    const error = await fake.store.transaction((tx) => tx.insertSchedule(newSchedule())).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/the commit's outcome is unknown \(it may have committed\)/),
      details: { commitOutcome: 'unknown' },
      cause: expect.objectContaining({ codeName: 'MaxTimeMSExpired' }),
    });
  });

  it('lets a transaction that finishes in time return its result and commit', async () => {
    const fake = createFakeMongo({ storeOptions: { timeoutMS: 1_000 } });
    const slot = await fake.store.transaction((tx) => tx.insertSchedule(newSchedule()));
    expect(slot.status).toBe('available');
    expect(fake.rows('schedule')).toHaveLength(1);
  });

  it('says not_committed when the deadline passes between attempts, after a commit refused as transient', async () => {
    const deadline = new TransactionDeadline(50);
    const session = {
      commitTransaction: async () => {
        throw writeConflict();
      },
    };
    const error = await deadline
      .run(async () => {
        await deadline.attempt(session, async () => 1);
        await session.commitTransaction().catch(() => {});
        await new Promise(() => {}); // the driver's backoff before the next attempt
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ details: { commitOutcome: 'not_committed' } });
  });
});
