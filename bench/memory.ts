// Memory: heap held by the memory store after 100,000 paid bookings, in bytes per booking; on
// PostgreSQL and PGlite, the database's own size (pg_total_relation_size) per booking.
import { type BookingStore, MemoryStore, type Schedule } from 'careslot';
import { ManualClock } from 'careslot/testing';
import {
  type BenchContext,
  type Benchmark,
  check,
  FEE,
  fmt,
  ID_KIND,
  isSqlStore,
  patientDirectory,
  patientIds,
  pool,
  START,
  type StoreKind,
  seedSlots,
  skipped,
  type TestRig,
  testRig,
} from './fixtures.js';
import { perSecond } from './stats.js';
import { type BenchReport, goalCheck } from './table.js';

/** Heap the memory store may hold per paid booking (issue #19's goal), in bytes. */
const GOAL_BYTES_PER_BOOKING = 2048;

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap in use after full collections (when node runs with --expose-gc). */
function heapUsed(): number {
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

const MiB = 2 ** 20;

/** The same work on a throwaway store first, so the fill rates are not JIT warm-up. */
async function warmUp(clock: ManualClock): Promise<void> {
  const count = 1_000;
  const ids = patientIds(count, 0, ID_KIND.warmup);
  const store = new MemoryStore({ clock });
  const rig = testRig(store, clock, patientDirectory(ids));
  const slots = await seedSlots(store, count, { from: clock.now() });
  for (let i = 0; i < count; i++) {
    const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
    await rig.engine.handlePaymentEvent(rig.gateway.pay(booking.checkoutSessionId ?? ''));
  }
}

/**
 * A SQL store's size on disk per booking: `pg_total_relation_size` (heap, indexes, TOAST)
 * summed over careslot's tables after `count` paid bookings, less the same sum on the freshly
 * migrated (empty) schema, divided by `count`. No goal: the value is printed.
 */
async function onSqlStore(ctx: BenchContext, kind: StoreKind, count: number): Promise<BenchReport> {
  const clock = new ManualClock(START);
  const ids = patientIds(count);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const diskBytes = opened.diskBytes;
    if (!diskBytes) throw new Error(`${kind}: the store opener reports no database size`);
    const empty = await diskBytes();
    const rig = testRig(opened.store, clock, patientDirectory(ids));
    const slots = await seedSlots(opened.store, count, { from: clock.now() });
    // PGlite runs one statement at a time: more in flight only queues (and slows) it.
    const inFlight = kind === 'pglite' ? 1 : 8;
    const fillBegan = performance.now();
    await pool(count, inFlight, async (i) => {
      const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
      await rig.engine.handlePaymentEvent(rig.gateway.pay(booking.checkoutSessionId ?? ''));
    });
    const fillMs = performance.now() - fillBegan;
    const full = await diskBytes();
    ctx.log(`memory (${kind}): ${fmt(count)} bookings, ${fmt(full)} B in careslot's tables`);
    const paid = await opened.store.countBookings({ status: 'scheduled', paymentStatus: 'paid' });
    const ledger = await opened.store.findLedgerEntries({});
    const credited = ledger.reduce((sum, e) => sum + e.amount, 0);
    const measure =
      kind === 'pglite'
        ? 'PGlite (PostgreSQL in WASM, in memory): the same SQL measure, pg_total_relation_size, not the JS heap'
        : 'pg_total_relation_size (heap + indexes + TOAST) summed over careslot’s tables';
    return {
      benchmark: 'memory',
      store: kind,
      params: { bookings: count },
      metrics: [
        {
          name: 'bytes per booking (on disk)',
          value: Math.round((full - empty) / count),
          unit: 'B',
          note: `${measure}, after ${fmt(count)} paid bookings less the empty schema, ÷ ${fmt(count)}`,
        },
        {
          name: 'careslot tables after',
          value: full / MiB,
          unit: 'MiB',
          note: `empty schema: ${Math.round(empty / 1024)} KiB (slot, booking, payment, ledger line, processed event, customer rows and their indexes)`,
        },
        {
          name: 'fill rate',
          value: perSecond(count, fillMs),
          unit: 'bookings/s',
          note: `book + pay + confirm through the engine, ${inFlight} in flight`,
        },
      ],
      checks: [
        check(
          'every booking paid and credited once',
          paid === count &&
            ledger.length === count &&
            credited === count * FEE.amount &&
            rig.effectFailures.length === 0,
          `${fmt(paid)} paid, ${fmt(ledger.length)} ledger lines, ${fmt(credited)} credited, ${rig.effectFailures.length} effect.failed`,
        ),
      ],
    };
  } finally {
    await opened.close();
  }
}

interface MemoryFill {
  bytesPerBooking: number;
  withPortsPerBooking: number;
  storeOnly: number;
  before: number;
  fillMs: number;
  lastTenthRate: number;
  paid: number;
  ledgerLines: number;
  credited: number;
  effectFailures: number;
}

/** Fills a fresh MemoryStore with `count` paid bookings through the engine and weighs what it holds. */
async function fillMemoryStore(
  ctx: BenchContext,
  clock: ManualClock,
  ids: readonly string[],
  patients: ReturnType<typeof patientDirectory>,
  options: { keepDeliveredOutbox: boolean },
): Promise<MemoryFill> {
  const count = ids.length;
  const chunk = count / 10;
  const before = heapUsed();
  const store: BookingStore = new MemoryStore({ clock, keepDeliveredOutbox: options.keepDeliveredOutbox });
  let rig: TestRig | null = testRig(store, clock, patients);
  let slots: Schedule[] | null = await seedSlots(store, count, { from: clock.now(), concurrency: 1 });
  const chunkRates: number[] = [];
  const fillBegan = performance.now();
  let chunkBegan = fillBegan;
  for (let i = 0; i < count; i++) {
    const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
    await rig.engine.handlePaymentEvent(rig.gateway.pay(booking.checkoutSessionId ?? ''));
    if ((i + 1) % chunk === 0) {
      chunkRates.push(perSecond(chunk, performance.now() - chunkBegan));
      ctx.log(
        `memory (keepDeliveredOutbox: ${options.keepDeliveredOutbox}): ${i + 1} bookings (${Math.round(chunkRates.at(-1) ?? 0)}/s in the last ${chunk})`,
      );
      chunkBegan = performance.now();
    }
  }
  const fillMs = performance.now() - fillBegan;
  const effectFailures = rig.effectFailures.length;
  slots = null;
  // Everything: the store plus what the engine's ports keep (test provider sessions, scheduler jobs).
  const withPorts = heapUsed();
  rig = null;
  // The store alone.
  const storeOnly = heapUsed();
  const paid = await store.countBookings({ status: 'scheduled', paymentStatus: 'paid' });
  const ledger = await store.findLedgerEntries({});
  return {
    bytesPerBooking: Math.round((storeOnly - before) / count),
    withPortsPerBooking: Math.round((withPorts - before) / count),
    storeOnly,
    before,
    fillMs,
    lastTenthRate: chunkRates.at(-1) ?? 0,
    paid,
    ledgerLines: ledger.length,
    credited: ledger.reduce((sum, e) => sum + e.amount, 0),
    effectFailures,
  };
}

const filledOnce = (fill: MemoryFill, count: number): boolean =>
  fill.paid === count &&
  fill.ledgerLines === count &&
  fill.credited === count * FEE.amount &&
  fill.effectFailures === 0;

export const memory: Benchmark = {
  name: 'memory',
  async run(ctx: BenchContext): Promise<BenchReport[]> {
    const count = ctx.quick ? 10_000 : 100_000;
    const clock = new ManualClock(START);
    // The host's users exist before careslot does: not counted.
    const ids = patientIds(count);
    const patients = patientDirectory(ids);
    await warmUp(clock);
    const fill = await fillMemoryStore(ctx, clock, ids, patients, { keepDeliveredOutbox: false });
    // The same bookings on a store that keeps each delivery for the clean-up, as the databases do
    // (the store above is garbage by now).
    const keeping = await fillMemoryStore(ctx, new ManualClock(START), ids, patients, { keepDeliveredOutbox: true });
    const exact = gc ? '' : ' (approximate: node ran without --expose-gc)';
    const sqlCount = ctx.quick ? 500 : 2_000;
    const sqlReports: BenchReport[] = [];
    for (const kind of ctx.stores.kinds.filter(isSqlStore)) sqlReports.push(await onSqlStore(ctx, kind, sqlCount));
    if (ctx.stores.postgresSkipped) sqlReports.push(skipped('memory', 'postgres', ctx.stores.postgresSkipped));
    return [
      {
        benchmark: 'memory',
        store: 'memory',
        params: { bookings: count, exposeGc: Boolean(gc), goalBytesPerBooking: GOAL_BYTES_PER_BOOKING },
        metrics: [
          {
            name: 'heap used after',
            value: fill.storeOnly / MiB,
            unit: 'MiB',
            note: `${count.toLocaleString('en-US')} paid, confirmed bookings, each on its own slot; the store holds ${Math.round((fill.storeOnly - fill.before) / MiB)} MiB of it${exact}`,
          },
          {
            name: 'store bytes per booking',
            value: fill.bytesPerBooking,
            unit: 'B',
            note: 'slot, booking (2 history lines), payment, ledger line, processed event, customer; its 8 outbox records deleted once delivered (the default)',
          },
          {
            name: 'store bytes per booking, keepDeliveredOutbox: true',
            value: keeping.bytesPerBooking,
            unit: 'B',
            note: 'the same, with the 8 delivered outbox records kept for outboxRetentionDays',
          },
          {
            name: 'with engine ports, per booking',
            value: fill.withPortsPerBooking,
            unit: 'B',
            note: 'plus test-provider sessions and the in-process scheduler’s end-of-slot jobs',
          },
          {
            name: 'fill rate',
            value: perSecond(count, fill.fillMs),
            unit: 'bookings/s',
            note: 'book + pay + confirm through the engine, one at a time',
          },
          {
            name: 'fill rate, last tenth',
            value: fill.lastTenthRate,
            unit: 'bookings/s',
            note: 'far below the overall rate would mean a lookup that grows with the store',
          },
          {
            name: 'fill rate, keepDeliveredOutbox: true',
            value: perSecond(count, keeping.fillMs),
            unit: 'bookings/s',
            note: 'book + pay + confirm through the engine, one at a time',
          },
        ],
        checks: [
          check(
            'every booking paid and credited once',
            filledOnce(fill, count) && filledOnce(keeping, count),
            `${fmt(fill.paid)} paid, ${fmt(fill.ledgerLines)} ledger lines, ${fmt(fill.credited)} credited, ${fill.effectFailures} effect.failed (keepDeliveredOutbox: true: ${fmt(keeping.paid)}, ${fmt(keeping.ledgerLines)}, ${fmt(keeping.credited)}, ${keeping.effectFailures})`,
          ),
          goalCheck(
            'store bytes per booking',
            fill.bytesPerBooking,
            '≤',
            GOAL_BYTES_PER_BOOKING,
            'B',
            `heap held by the store (default options) after ${fmt(count)} paid bookings, ÷ ${fmt(count)}${exact}`,
          ),
        ],
      },
      ...sqlReports,
    ];
  },
};
