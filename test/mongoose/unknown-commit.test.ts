// A confirmation whose commit outcome came back unknown: when it did commit, the engine still runs the after-commit work (jobs, booking.confirmed, notifications) once.
import { setImmediate as nextTurn } from 'node:timers/promises';
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

const { MongoServerError } = mongoose.mongo;

/** The driver gives up on a commit whose reply timed out on the server (MaxTimeMSExpired is not retried). */
function unknownCommitResult() {
  return new MongoServerError({
    ok: 0,
    errmsg: 'operation exceeded time limit',
    code: 50,
    codeName: 'MaxTimeMSExpired',
    errorLabels: ['UnknownTransactionCommitResult'],
  });
}

/** A fixture on the stand-in whose next commit, once armed, commits or not and then answers "unknown". */
function fixtureWithLossyCommit() {
  const clock = new ManualClock('2030-03-01T08:00:00Z');
  const next: { mode: 'none' | 'commit-then-unknown' | 'unknown-without-commit' } = { mode: 'none' };
  const fake = createFakeMongo({
    clock,
    onCommit: async (_n, apply) => {
      const mode = next.mode;
      next.mode = 'none';
      if (mode !== 'unknown-without-commit') apply();
      if (mode === 'none') return;
      await nextTurn();
      throw unknownCommitResult();
    },
  });
  const f = createFixture({ store: fake.store, clock });
  return { f, fake, next };
}

async function pendingPaidBooking(f: ReturnType<typeof createFixture>) {
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const session = f.gateway.sessionForBooking(booking.id);
  if (!session) throw new Error('no checkout session');
  return { booking, event: f.gateway.pay(session.id) };
}

describe('a confirmation commit whose outcome is unknown', () => {
  it('confirms and runs the after-commit work when the commit did happen, and a replay of the webhook changes nothing', async () => {
    const { f, next } = fixtureWithLossyCommit();
    const { booking, event } = await pendingPaidBooking(f);
    f.events.length = 0;
    f.notifications.length = 0;
    next.mode = 'commit-then-unknown';
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'confirmed', bookingId: booking.id });
    expect(f.events.filter((e) => e.name === 'booking.confirmed')).toHaveLength(1);
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    expect(f.scheduler.pending().map((j) => j.name)).toContain(JOB_NAMES.completeBooked);
    expect(f.scheduler.pending().map((j) => j.name)).not.toContain(JOB_NAMES.holdTimeout);
    expect((await f.engine.getWallet(booking.doctorId)).balances).toEqual({ eur: 5000 });
    // The provider's retry of the same event: a duplicate, no second notification.
    expect(await f.engine.handlePaymentEvent(event)).toMatchObject({ outcome: 'duplicate' });
    expect(f.notifications).toHaveLength(2);
  });

  it('keeps the STORE_ERROR when the commit did not happen, so the provider retries and the retry confirms', async () => {
    const { f, next } = fixtureWithLossyCommit();
    const { booking, event } = await pendingPaidBooking(f);
    next.mode = 'unknown-without-commit';
    await expect(f.engine.handlePaymentEvent(event)).rejects.toMatchObject({
      code: 'STORE_ERROR',
      details: { commitOutcome: 'unknown' },
    });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'confirmed', bookingId: booking.id });
    expect(f.events.filter((e) => e.name === 'booking.confirmed')).toHaveLength(1);
  });
});
