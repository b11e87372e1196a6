// Drives the engine through every use case that reads (listings, booking, confirmation, refunds, the sweep, the clean-up, the wallet) on any store, so the queries it sends can be checked against the indexes (MongoDB's and PostgreSQL's query-plan tests).
import { type BookingStore, DEFAULT_PLANS, JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS } from './engine-fixture.js';

/** The fixture options the workload needs: a plan with a free quota, so the free-quota count runs too. */
export const WORKLOAD_PLANS = { ...DEFAULT_PLANS, freeTrial: { mode: 'pay' as const, freeQuota: 1 } };

/** A fixture on `store` ready for `runQueryWorkload`. */
export function workloadFixture(store: BookingStore): Fixture {
  return createFixture({ store, plans: WORKLOAD_PLANS });
}

/**
 * Every read path of the engine, once: slot creation and its overlap check (also refused),
 * listings of slots and bookings by each owner with and without a status, a paid booking with an
 * idempotency key and its retry, a free-quota booking, a VISE booking, confirmation by webhook
 * (session lookup, provider payment, processed event), a lost webhook found by the sweep, slot
 * listings in keyset pages, the reminder sweep's window pages and its compare-and-set, a refund with its ledger debit, the wallet (and its second page), the hold timeout, the end of slots with rollover,
 * the reconciliation sweep and the clean-up; then availability rules (set, read, computed slots, a booking of one
 * that materializes it, time off added, listed and removed, the rules cleared).
 */
export async function runQueryWorkload(f: Fixture, store: BookingStore): Promise<void> {
  const { engine, gateway } = f;
  const first = await f.slot(24 * 60);
  const second = await f.slot(26 * 60);
  const third = await f.slot(28 * 60);
  const fourth = await f.slot(30 * 60);
  await f.slot(24 * 60 + 15).catch(() => null); // overlaps `first`: refused

  await engine.listSchedules();
  await engine.listSchedules({ doctorId: DOCTOR });
  await engine.listSchedules({ doctorId: DOCTOR, status: 'available' });
  await engine.listSchedules({ status: 'available' });
  await engine.listSchedules({ from: f.clock.now(), to: new Date(f.clock.now().getTime() + 86_400_000 * 3) });
  await engine.listSchedules({ doctorId: DOCTOR, from: f.clock.now() });
  // The same listings in (startTime, id) pages, resumed after a slot (the sweep's and the
  // clean-up's shapes too): the keyset must be read from the index in order.
  const cursor = { startTime: first.startTime, id: first.id };
  const soon = new Date(f.clock.now().getTime() + 86_400_000 * 3);
  for (const query of [
    {},
    { doctorId: DOCTOR },
    { doctorId: DOCTOR, status: 'available' as const },
    { status: 'available' as const },
    { status: ['available', 'pending'] as const, endBefore: soon },
    { status: 'expired' as const, endBefore: soon },
    { startFrom: f.clock.now(), startBefore: soon },
    { doctorId: DOCTOR, startFrom: f.clock.now() },
  ]) {
    await store.findSchedules({ ...query, after: cursor, limit: 2 });
  }

  const paid = await engine.book({ patientId: PATIENTS.standard, scheduleId: first.id, idempotencyKey: 'k-1' });
  await engine.book({ patientId: PATIENTS.standard, scheduleId: first.id, idempotencyKey: 'k-1' });
  const session = gateway.sessionForBooking(paid.booking.id);
  // Without the booking id in its metadata: found by its Checkout Session.
  if (session) {
    const event = gateway.pay(session.id);
    await engine.handlePaymentEvent(event.type === 'payment.succeeded' ? { ...event, bookingId: null } : event);
  }

  await engine.book({ patientId: PATIENTS.trial, scheduleId: second.id }); // free quota: free
  await engine.book({ patientId: PATIENTS.vise, scheduleId: third.id });
  const lost = await engine.book({ patientId: PATIENTS.other, scheduleId: fourth.id });
  const lostSession = gateway.sessionForBooking(lost.booking.id);
  if (lostSession) gateway.pay(lostSession.id); // the webhook never arrives: the sweep asks

  for (const query of [
    {},
    { patientId: PATIENTS.standard },
    { patientId: PATIENTS.standard, status: 'scheduled' as const },
    { doctorId: DOCTOR },
    { doctorId: DOCTOR, status: 'pending' as const },
    { scheduleId: first.id },
    { scheduleId: first.id, status: 'scheduled' as const },
    { status: 'pending' as const },
  ]) {
    await engine.listBookings(query);
  }

  // The reminder sweep: scheduled bookings starting in a window, in (createdAt, id) pages, each
  // reminder marked once by a compare-and-set.
  const window = {
    status: 'scheduled' as const,
    slotStartFrom: f.clock.now(),
    slotStartBefore: new Date(f.clock.now().getTime() + 2 * 86_400_000),
  };
  const [due] = await store.findBookings({ ...window, limit: 1 });
  if (due) {
    await store.findBookings({ ...window, after: { createdAt: due.createdAt, id: due.id }, limit: 1 });
    await store.transaction((tx) =>
      tx.markReminderSent({ bookingId: due.id, key: '1440:email', slotStart: due.slotStart }),
    );
  }
  await store.countBookings(window);

  await engine.getWallet(DOCTOR);
  await store.ledgerBalances({ doctorId: DOCTOR });
  await engine.cancelBooking({ bookingId: paid.booking.id, actor: { role: 'patient', id: PATIENTS.standard } });
  await engine.getWallet(DOCTOR);
  // The ledger in pages: the second page resumes after the first by (createdAt, _id).
  const firstPage = await engine.getWallet(DOCTOR, { limit: 1 });
  if (firstPage.nextCursor) await engine.getWallet(DOCTOR, { limit: 1, cursor: firstPage.nextCursor });

  await f.advance(20); // holds time out
  await engine.reconcile();
  await f.advance(31 * 60); // every slot ends: expired, completed, rolled over
  await engine.reconcile();
  await f.advance(9 * 24 * 60); // past the clean-up retention
  await engine.runJob(JOB_NAMES.cleanup, {});
  await engine.reconcile();

  await engine.setAvailability({
    doctorId: DOCTOR,
    timeZone: 'UTC',
    weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '08:00', to: '18:00' }],
    slotMinutes: 30,
    fee: { amount: 5000, currency: 'eur' },
  });
  await engine.getAvailability({ doctorId: DOCTOR });
  const day = 86_400_000;
  const from = new Date(f.clock.now().getTime() + day);
  const page = await engine.findSlots({ doctorId: DOCTOR, from, to: new Date(from.getTime() + day), limit: 3 });
  const computed = page.slots[0];
  if (computed) await engine.book({ patientId: PATIENTS.standard, doctorId: DOCTOR, startTime: computed.start });
  const off = await engine.addTimeOff({
    doctorId: DOCTOR,
    start: new Date(from.getTime() + 2 * day),
    end: new Date(from.getTime() + 3 * day),
    reason: 'conference',
  });
  await engine.listTimeOff({ doctorId: DOCTOR });
  await engine.listTimeOff({ doctorId: DOCTOR, from, to: new Date(from.getTime() + 5 * day), limit: 5 });
  await engine.removeTimeOff({ timeOffId: off.timeOff.id });
  await engine.clearAvailability({ doctorId: DOCTOR });
}
