// Contention: 1,000 concurrent paid `book` calls on one slot; exactly one may win, every other call gets SCHEDULE_UNAVAILABLE.
import { type BookingEngine, type BookingStore, isBookingError } from 'careslot';
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
  /** Bookings the store holds for the slot afterwards, and the slot's status. */
  bookingsForSlot: { status: string }[];
  slotStatus: string;
}

async function round(
  engine: BookingEngine,
  store: BookingStore,
  clock: ManualClock,
  patients: readonly string[],
  hour: number,
): Promise<Round> {
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
  let winners = 0;
  const began = performance.now();
  await Promise.all(
    patients.map(async (patientId) => {
      const t0 = performance.now();
      try {
        await engine.book({ patientId, scheduleId: slot.id });
        winners++;
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
  const bookings = await store.findBookings({ scheduleId: slot.id });
  const after = await store.getSchedule(slot.id);
  return {
    winners,
    otherErrors,
    allAnsweredMs,
    latenciesMs,
    bookingsForSlot: bookings.map((b) => ({ status: b.status })),
    slotStatus: after?.status ?? 'missing',
  };
}

async function onStore(ctx: BenchContext, kind: StoreKind, rounds: number): Promise<BenchReport> {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const ids = patientIds(WARMUP_CALLS + CALLS * rounds);
    const rig = testRig(opened.store, clock, patientDirectory(ids));
    // Warm-up (JIT, connection pool): not reported.
    await round(rig.engine, opened.store, clock, ids.slice(0, WARMUP_CALLS), 1);
    const results: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const patients = ids.slice(WARMUP_CALLS + r * CALLS, WARMUP_CALLS + (r + 1) * CALLS);
      results.push(await round(rig.engine, opened.store, clock, patients, 2 + r));
      ctx.log(`contention (${kind}): round ${r + 1}/${rounds}: ${results.at(-1)?.winners} winner(s)`);
    }
    const winners = results.map((r) => r.winners);
    const answered = results.map((r) => r.allAnsweredMs);
    const latency = summarize(results.flatMap((r) => r.latenciesMs));
    const otherErrors = results.flatMap((r) => r.otherErrors);
    const badStore = results.filter(
      (r) => r.bookingsForSlot.length !== 1 || r.bookingsForSlot[0]?.status !== 'pending' || r.slotStatus !== 'pending',
    );
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
          'one pending booking per slot in the store',
          badStore.length === 0,
          badStore.length === 0
            ? 'slot pending, one booking'
            : `${badStore.length} round(s) wrong: ${JSON.stringify(badStore.map((r) => ({ slot: r.slotStatus, bookings: r.bookingsForSlot })))}`,
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
