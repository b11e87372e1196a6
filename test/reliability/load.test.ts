// Load: 10,000 mixed operations from 50 concurrent simulated patients with timeouts firing, then whole-store invariants.
import { describe, expect, it } from 'vitest';
import { type Booking, isBookingError, type PaymentEvent } from '../../src/index.js';
import { createFixture, DOCTOR, OTHER_DOCTOR } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const OPERATIONS = 10_000;
const PATIENTS = 50;
const SEED = 20261125;

describe('load', () => {
  it(`keeps every invariant after ${OPERATIONS} mixed operations from ${PATIENTS} concurrent patients`, async () => {
    const random = prng(SEED);
    const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
    const f = createFixture({
      plans: {
        standard: { mode: 'pay' },
        freeTrial: { mode: 'pay', freeQuota: 1 },
        vise: { mode: 'free', relationRequired: true },
      },
    });
    const patients = Array.from({ length: PATIENTS }, (_, i) => {
      const id = `64b00000000000000000${(0x5000 + i).toString(16)}`;
      const plan = i % 10 === 0 ? 'vise' : i % 7 === 0 ? 'freeTrial' : 'standard';
      f.patients.addPatient({ id, name: `Load ${i}`, plan });
      if (plan === 'vise') f.patients.addRelation({ doctorId: DOCTOR, patientId: id });
      return id;
    });
    // 600 slots over the next 25 days for two doctors, all starting at least a day out.
    const slots: string[] = [];
    for (let i = 0; i < 600; i++) {
      const slot = await f.slot(24 * 60 + i * 60, { doctorId: i % 2 === 0 ? DOCTOR : OTHER_DOCTOR });
      slots.push(slot.id);
    }

    let done = 0;
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    const unexpected: unknown[] = [];
    const mine = async (patientId: string, status: Booking['status']) =>
      f.engine.listBookings({ patientId, status, limit: 20 });
    const deliver = async (event: PaymentEvent) => {
      await f.engine.handlePaymentEvent(event);
      if (random() < 0.2) await f.engine.handlePaymentEvent(event); // duplicate delivery
    };

    const act = async (patientId: string): Promise<string> => {
      const roll = random();
      if (roll < 0.35) {
        await f.engine.book({ patientId, scheduleId: pick(slots) ?? '' });
        return 'book';
      }
      if (roll < 0.6) {
        const booking = pick(await mine(patientId, 'pending'));
        const session = booking && f.gateway.sessionForBooking(booking.id);
        if (session?.status !== 'open') return 'noop';
        await deliver(f.gateway.pay(session.id));
        return 'pay';
      }
      if (roll < 0.68) {
        const booking = pick(await mine(patientId, 'pending'));
        const session = booking && f.gateway.sessionForBooking(booking.id);
        if (session?.status !== 'open') return 'noop';
        f.gateway.decline(session.id);
        if (random() < 0.5) await deliver(f.gateway.failPayment(session.id));
        return 'decline';
      }
      if (roll < 0.8) {
        const booking = pick([...(await mine(patientId, 'pending')), ...(await mine(patientId, 'scheduled'))]);
        if (!booking) return 'noop';
        const actor =
          random() < 0.8
            ? { role: 'patient' as const, id: patientId }
            : { role: 'doctor' as const, id: booking.doctorId };
        await f.engine.cancelBooking({ bookingId: booking.id, actor });
        return 'cancel';
      }
      if (roll < 0.92) {
        const booking = pick(await mine(patientId, 'scheduled'));
        if (!booking) return 'noop';
        await f.engine.reschedule({
          bookingId: booking.id,
          newScheduleId: pick(slots) ?? '',
          actor: { role: 'patient', id: patientId },
        });
        return 'reschedule';
      }
      const booking = pick(await mine(patientId, 'scheduled'));
      if (booking?.paymentStatus !== 'paid') return 'noop';
      await f.engine.refund({ bookingId: booking.id, amount: 1 + Math.floor(random() * 1000) });
      return 'refund';
    };

    // Each patient makes its share of the operations: a shared counter would let whoever's calls
    // take the fewest ticks (a free plan's instant booking, a refusal) crowd the others out.
    const patientLoop = async (patientId: string) => {
      for (let own = 0; own < OPERATIONS / PATIENTS; own++) {
        done++;
        try {
          count(await act(patientId));
        } catch (error) {
          if (isBookingError(error)) count(`error:${error.code}`);
          else unexpected.push(error);
        }
        // Every 250 operations time moves on 4 minutes and due jobs (hold timeouts) fire.
        if (done % 250 === 0) await f.advance(4);
      }
    };
    await Promise.all(patients.map(patientLoop));

    // Let every remaining hold time out, then sweep.
    await f.advance(20);
    await f.engine.reconcile();

    console.log(`load: ${done} operations`, Object.fromEntries([...outcomes].sort()));
    expect(unexpected).toEqual([]);
    expect(done).toBeGreaterThanOrEqual(OPERATIONS);
    expect(await findViolations(f.store, { now: f.clock.now() })).toEqual([]);
    expect(await f.store.countBookings({ status: 'pending' })).toBe(0);
    // The run must really have exercised every path.
    for (const op of ['book', 'pay', 'decline', 'cancel', 'reschedule', 'refund'])
      expect(outcomes.get(op) ?? 0).toBeGreaterThan(20);
    expect(await f.store.countBookings({ status: 'cancelled' })).toBeGreaterThan(0);
    expect(outcomes.get('error:SCHEDULE_UNAVAILABLE') ?? 0).toBeGreaterThan(0);
    const timedOut = await f.store.findBookings({ status: 'cancelled' });
    expect(timedOut.some((b) => b.cancelReason === 'payment_timeout')).toBe(true);
  }, 300_000); // about 100 s on the MongoDB stand-in (every query a scan), 3 s on MemoryStore
});
