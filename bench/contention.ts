// Contention: 1,000 concurrent paid `book` calls on one slot; exactly one may win, every other call gets SCHEDULE_UNAVAILABLE.
import { type Booking, type BookingStore, isBookingError } from 'careslot';
import { ManualClock } from 'careslot/testing';
import {
  type BenchContext,
  type Benchmark,
  check,
  FEE,
  fmt,
  hexId,
  ID_KIND,
  patientDirectory,
  patientIds,
  START,
  type StoreKind,
  skipped,
  type TestRig,
  TIME_ZONE,
  testRig,
} from './fixtures.js';
import { median, summarize } from './stats.js';
import type { BenchReport } from './table.js';

const CALLS = 1000;
const WARMUP_CALLS = 200;
const DOCTOR = hexId(ID_KIND.doctor, 1);

interface Round {
  winners: number;
  /** Losers that got something other than SCHEDULE_UNAVAILABLE. */
  otherErrors: string[];
  allAnsweredMs: number;
  latenciesMs: number[];
  /** What is wrong with the store's state against the winner's booking, after the round and after its payment; empty when right. */
  storeProblems: string[];
}

/**
 * What the store holds for the contended slot, against what the one caller who got a booking
 * was told. The callers' count alone cannot tell a store whose compare-and-set is gone from one
 * that works: this reads the store. `phase` `held`: right after the round (the winner's hold);
 * `paid`: after the winner's payment was confirmed.
 */
async function storeProblems(
  store: BookingStore,
  slotId: string,
  winner: Booking | null,
  phase: 'held' | 'paid',
): Promise<string[]> {
  const problems: string[] = [];
  const bookings = await store.findBookings({ scheduleId: slotId, limit: 1000 });
  const active = await store.findActiveBooking(slotId);
  const slot = await store.getSchedule(slotId);
  const expected = phase === 'held' ? 'pending' : 'scheduled';
  if (winner === null) return ['no caller got a booking'];
  if (bookings.length !== 1) problems.push(`${phase}: ${bookings.length} bookings for the slot`);
  const stored = bookings.find((b) => b.id === winner.id);
  if (!stored) problems.push(`${phase}: the winner's booking ${winner.id} is not in the store`);
  else if (stored.status !== expected || stored.patientId !== winner.patientId)
    problems.push(`${phase}: the winner's booking is ${stored.status} for ${stored.patientId}`);
  if (active?.id !== winner.id) problems.push(`${phase}: the slot's active booking is ${active?.id ?? 'none'}`);
  if (!slot) problems.push(`${phase}: the slot is gone`);
  else if (phase === 'held' && (slot.status !== 'pending' || slot.bookedBy !== null))
    problems.push(`held: slot ${slot.status}, bookedBy ${slot.bookedBy}`);
  else if (phase === 'paid' && (slot.status !== 'booked' || slot.bookedBy !== winner.patientId))
    problems.push(`paid: slot ${slot.status}, bookedBy ${slot.bookedBy} (winner ${winner.patientId})`);
  if (phase === 'paid') {
    const credits = await store.findLedgerEntries({ bookingId: winner.id });
    if (credits.length !== 1) problems.push(`paid: ${credits.length} ledger lines for the winner's booking`);
  }
  return problems;
}

async function round(
  rig: TestRig,
  store: BookingStore,
  clock: ManualClock,
  patients: readonly string[],
  hour: number,
): Promise<Round> {
  const { engine } = rig;
  const startTime = new Date(clock.now().getTime() + hour * 3_600_000);
  const slot = await engine.createSchedule({
    doctorId: DOCTOR,
    startTime,
    endTime: new Date(startTime.getTime() + 30 * 60_000),
    fee: { ...FEE },
    timeZone: TIME_ZONE,
  });
  const latenciesMs: number[] = [];
  const otherErrors: string[] = [];
  const won: Booking[] = [];
  // Every committed claim of the slot records a booking.created in its transaction's outbox: more
  // than one means more than one transaction claimed the slot, whatever the callers were told.
  const claims: string[] = [];
  const onCreated = ({ booking }: { booking: Booking }) => {
    if (booking.scheduleId === slot.id) claims.push(booking.id);
  };
  engine.events.on('booking.created', onCreated);
  const began = performance.now();
  await Promise.all(
    patients.map(async (patientId) => {
      const t0 = performance.now();
      try {
        won.push((await engine.book({ patientId, scheduleId: slot.id })).booking);
      } catch (error) {
        if (!isBookingError(error) || error.code !== 'SCHEDULE_UNAVAILABLE') {
          otherErrors.push(isBookingError(error) ? error.code : String(error));
        }
      } finally {
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const allAnsweredMs = performance.now() - began;
  const winner = won.length === 1 ? (won[0] as Booking) : null;
  const problems = await storeProblems(store, slot.id, winner, 'held');
  // Whatever the fast path left undelivered (none, normally), before the claims are counted.
  await engine.outbox.drain();
  engine.events.off('booking.created', onCreated);
  if (claims.length !== 1 || (winner && claims[0] !== winner.id))
    problems.push(`${claims.length} committed claims of the slot (booking.created)`);
  // The winner pays: the confirmation's compare-and-sets must leave the slot booked by them.
  if (winner?.checkoutSessionId) {
    await engine.handlePaymentEvent(rig.gateway.pay(winner.checkoutSessionId));
    problems.push(...(await storeProblems(store, slot.id, winner, 'paid')));
  }
  return { winners: won.length, otherErrors, allAnsweredMs, latenciesMs, storeProblems: problems };
}

async function onStore(ctx: BenchContext, kind: StoreKind, rounds: number): Promise<BenchReport> {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const ids = patientIds(WARMUP_CALLS + CALLS * rounds);
    const rig = testRig(opened.store, clock, patientDirectory(ids));
    // Warm-up (JIT, connection pool): not reported.
    await round(rig, opened.store, clock, ids.slice(0, WARMUP_CALLS), 1);
    const results: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const patients = ids.slice(WARMUP_CALLS + r * CALLS, WARMUP_CALLS + (r + 1) * CALLS);
      results.push(await round(rig, opened.store, clock, patients, 2 + r));
      ctx.log(
        `contention (${kind}): round ${r + 1}/${rounds}: ${results.at(-1)?.winners} winner(s), store ${results.at(-1)?.storeProblems.length ? 'WRONG' : 'right'}`,
      );
    }
    const winners = results.map((r) => r.winners);
    const answered = results.map((r) => r.allAnsweredMs);
    const latency = summarize(results.flatMap((r) => r.latenciesMs));
    const otherErrors = results.flatMap((r) => r.otherErrors);
    const badStore = results.filter((r) => r.storeProblems.length > 0);
    return {
      benchmark: 'contention',
      store: kind,
      params: { concurrentCalls: CALLS, rounds, path: 'paid' },
      metrics: [
        {
          name: 'winners per slot',
          value: winners.every((w) => w === winners[0]) ? (winners[0] ?? 0) : winners.join(', '),
          note: `${CALLS} concurrent book calls × ${rounds} slot${rounds === 1 ? '' : 's'}`,
        },
        {
          name: 'time until all answered',
          value: median(answered),
          unit: 'ms',
          note: rounds > 1 ? `median of ${rounds} rounds; worst ${Math.round(Math.max(...answered))} ms` : '',
        },
        { name: 'latency p50', value: latency.p50Ms, unit: 'ms', note: 'one call, start to answer' },
        { name: 'latency p99', value: latency.p99Ms, unit: 'ms', note: `max ${latency.maxMs.toFixed(1)} ms` },
      ],
      checks: [
        check(
          'exactly one winner',
          winners.every((w) => w === 1),
          `winners per round: ${winners.join(', ')}`,
        ),
        check(
          'losers get SCHEDULE_UNAVAILABLE',
          otherErrors.length === 0,
          otherErrors.length === 0
            ? `${fmt(CALLS * rounds - winners.reduce((a, b) => a + b, 0))} × 409`
            : `other errors: ${[...new Set(otherErrors)].join(', ')}`,
        ),
        check(
          'the store holds exactly the winner’s booking',
          badStore.length === 0,
          badStore.length === 0
            ? 'per round: one booking for the slot, the winner’s, active; slot pending; after payment slot booked by the winner, one credit'
            : `${badStore.length} round(s) wrong: ${[...new Set(badStore.flatMap((r) => r.storeProblems))].slice(0, 6).join('; ')}`,
        ),
      ],
    };
  } finally {
    await opened.close();
  }
}

export const contention: Benchmark = {
  name: 'contention',
  async run(ctx) {
    const rounds = ctx.quick ? 1 : 5;
    const reports: BenchReport[] = [];
    for (const kind of ctx.stores.kinds) reports.push(await onStore(ctx, kind, rounds));
    if (ctx.stores.mongoSkipped) reports.push(skipped('contention', 'mongodb', ctx.stores.mongoSkipped));
    if (ctx.stores.postgresSkipped) reports.push(skipped('contention', 'postgres', ctx.stores.postgresSkipped));
    return reports;
  },
};
