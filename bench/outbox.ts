// Outbox: book-and-confirm with the transactional outbox against the same store with it switched off, and one drain's delivery rate.
import type { BookingStore, NewOutboxRecord, OutboxEvent, Schedule, StoreOperations } from 'careslot';
import { ManualClock } from 'careslot/testing';
import {
  type BenchContext,
  type Benchmark,
  check,
  fmt,
  isSqlStore,
  mergeChecks,
  patientDirectory,
  patientIds,
  pool,
  START,
  type StoreKind,
  seedSlots,
  testRig,
} from './fixtures.js';
import { median, perSecond } from './stats.js';
import type { BenchReport, Check } from './table.js';

const CONCURRENCY = 8;
const SUBSCRIBER = 'bench-subscriber';
/** Events per booking in the drain run: a booking's events are delivered in order, one after another. */
const EVENTS_PER_BOOKING = 5;

interface PathRun {
  ms: number;
  checks: Check[];
}

/**
 * The store with the outbox switched off: `appendOutbox` records nothing and `claimOutbox`
 * finds nothing, so the engine's effects are neither recorded nor delivered. Everything else
 * (the booking, the payment, the ledger) is the same store work.
 */
function withoutOutbox(store: BookingStore): BookingStore {
  const stub = (ops: StoreOperations): StoreOperations =>
    new Proxy(ops, {
      get(target, key) {
        if (key === 'appendOutbox') return async () => 0;
        if (key === 'claimOutbox') return async () => [];
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  return new Proxy(store, {
    get(target, key) {
      if (key === 'transaction') {
        return <T>(work: (tx: StoreOperations) => Promise<T>) => target.transaction((tx) => work(stub(tx)));
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function bookAndConfirm(ctx: BenchContext, kind: StoreKind, count: number, outbox: boolean): Promise<PathRun> {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const slots = await seedSlots(opened.store, count, { from: clock.now() });
    const ids = patientIds(count);
    const store = outbox ? opened.store : withoutOutbox(opened.store);
    const rig = testRig(store, clock, patientDirectory(ids));
    const notified = { count: 0 };
    rig.engine.events.on('booking.confirmed', () => notified.count++);
    let confirmed = 0;
    const began = performance.now();
    await pool(count, CONCURRENCY, async (i) => {
      const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
      const { outcome } = await rig.engine.handlePaymentEvent(rig.gateway.pay(booking.checkoutSessionId ?? ''));
      if (outcome === 'confirmed') confirmed++;
    });
    const ms = performance.now() - began;
    const paid = await opened.store.countBookings({ status: 'scheduled', paymentStatus: 'paid' });
    const pending = await opened.store.findOutbox({ status: 'pending', limit: 1 });
    const label = outbox ? 'with outbox' : 'without outbox';
    return {
      ms,
      checks: [
        check(
          `${label}: every booking confirmed`,
          confirmed === count && paid === count,
          `${fmt(confirmed)} confirmed, ${fmt(paid)} scheduled/paid of ${fmt(count)}`,
        ),
        outbox
          ? check(
              'with outbox: every effect delivered on the fast path',
              pending.length === 0 && notified.count === count && rig.effectFailures.length === 0,
              `${pending.length === 0 ? 'nothing' : 'records'} pending, ${fmt(notified.count)} booking.confirmed emitted, ${rig.effectFailures.length} effect.failed`,
            )
          : check(
              'without outbox: nothing recorded',
              pending.length === 0 && notified.count === 0,
              `${fmt(notified.count)} booking.confirmed emitted (0 expected)`,
            ),
      ],
    };
  } finally {
    await opened.close();
  }
}

async function throughputOn(ctx: BenchContext, kind: StoreKind): Promise<BenchReport> {
  const sql = isSqlStore(kind);
  const count = sql ? (ctx.quick ? 200 : 1_000) : ctx.quick ? 1_000 : 3_000;
  const rounds = sql ? 1 : ctx.quick ? 3 : 5;
  const warmup = sql ? 100 : 500;
  await bookAndConfirm(ctx, kind, warmup, false);
  await bookAndConfirm(ctx, kind, warmup, true);
  const without: PathRun[] = [];
  const withOutbox: PathRun[] = [];
  const ratios: number[] = [];
  // Paired rounds, each path on a fresh store, the order swapped every round, so neither path
  // inherits a fuller heap; the ratio is the median of the rounds' own ratios.
  for (let r = 0; r < rounds; r++) {
    const outboxFirst = r % 2 === 1;
    const first = await bookAndConfirm(ctx, kind, count, outboxFirst);
    const second = await bookAndConfirm(ctx, kind, count, !outboxFirst);
    const [w, wo] = outboxFirst ? [first, second] : [second, first];
    withOutbox.push(w);
    without.push(wo);
    ratios.push(wo.ms / w.ms);
    ctx.log(`outbox (${kind}) round ${r + 1}/${rounds}: with ${Math.round(w.ms)} ms, without ${Math.round(wo.ms)} ms`);
  }
  const withMs = median(withOutbox.map((r) => r.ms));
  const withoutMs = median(without.map((r) => r.ms));
  const of = rounds > 1 ? `median of ${rounds} rounds` : '1 round';
  return {
    benchmark: 'outbox',
    store: kind,
    params: { bookings: count, rounds, concurrency: CONCURRENCY, warmupBookings: warmup },
    metrics: [
      {
        name: 'book + confirm with outbox',
        value: perSecond(count, withMs),
        unit: 'bookings/s',
        note: `${fmt(count)} slots, ${CONCURRENCY} in flight, ${of}; effects recorded and delivered after commit`,
      },
      {
        name: 'book + confirm without outbox',
        value: perSecond(count, withoutMs),
        unit: 'bookings/s',
        note: 'the same store with appendOutbox → 0 and claimOutbox → []: no effect recorded or delivered',
      },
      {
        name: 'ratio with/without',
        value: median(ratios),
        unit: '×',
        note: `throughput kept with the outbox (1 = free), ${rounds > 1 ? `median of ${rounds} paired rounds` : '1 paired round'}`,
      },
      {
        name: 'outbox time per booking',
        value: ((withMs - withoutMs) * 1000) / count,
        unit: 'µs',
        note: 'the store side only: the engine encodes each payload before the store call, on both sides',
      },
    ],
    checks: mergeChecks([...without, ...withOutbox].map((r) => r.checks)),
  };
}

/** `count` committed events for one subscriber, as the engine records them: a few per booking. */
function records(count: number, at: Date, withBookings: boolean): NewOutboxRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const eventId = `evt_bench_${i.toString().padStart(8, '0')}`;
    const bookingId = withBookings ? `bk_bench_${Math.floor(i / EVENTS_PER_BOOKING)}` : null;
    return {
      key: `${eventId}/${SUBSCRIBER}`,
      eventId,
      consumer: SUBSCRIBER,
      type: 'booking.confirmed',
      bookingId,
      scheduleId: null,
      payload: { effect: { spec: { args: { booking: { id: bookingId, n: i } } } } },
      version: 1,
      createdAt: new Date(at.getTime() + i),
    };
  });
}

async function drainOnce(ctx: BenchContext, kind: StoreKind, count: number, withBookings: boolean) {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const rig = testRig(opened.store, clock, patientDirectory([]));
    const seen = new Map<string, number>();
    const order: string[] = [];
    rig.engine.outbox.subscribe(
      SUBSCRIBER,
      (event: OutboxEvent) => {
        seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
        order.push(event.id);
      },
      { fastPath: false },
    );
    const all = records(count, clock.now(), withBookings);
    for (let i = 0; i < all.length; i += 500) {
      await opened.store.transaction((tx) => tx.appendOutbox(all.slice(i, i + 500)));
    }
    clock.advance(count + 1_000);
    const began = performance.now();
    const report = await rig.engine.outbox.drain();
    const ms = performance.now() - began;
    const pending = await opened.store.findOutbox({ consumer: SUBSCRIBER, status: 'pending', limit: 1 });
    const once = seen.size === count && [...seen.values()].every((n) => n === 1);
    const inOrder = order.every((id, i) => i === 0 || (order[i - 1] as string) < id);
    return { ms, report, ok: once && inOrder && pending.length === 0 && report.delivered === count, once, inOrder };
  } finally {
    await opened.close();
  }
}

async function drainOn(ctx: BenchContext, kind: StoreKind): Promise<BenchReport> {
  const sql = isSqlStore(kind);
  const count = sql ? (ctx.quick ? 500 : 2_000) : ctx.quick ? 2_000 : 10_000;
  await drainOnce(ctx, kind, Math.min(count, 500), true);
  const booked = await drainOnce(ctx, kind, count, true);
  const unbooked = await drainOnce(ctx, kind, count, false);
  ctx.log(`outbox drain (${kind}): ${Math.round(booked.ms)} ms with bookings, ${Math.round(unbooked.ms)} ms without`);
  const detail = (run: typeof booked) =>
    `${fmt(run.report.delivered)} delivered of ${fmt(count)}, ${run.once ? 'each once' : 'NOT each once'}, ${run.inOrder ? 'in order' : 'OUT OF ORDER'}`;
  return {
    benchmark: 'outbox drain',
    store: kind,
    params: { events: count, eventsPerBooking: EVENTS_PER_BOOKING },
    metrics: [
      {
        name: 'drain: events with a booking',
        value: perSecond(count, booked.ms),
        unit: 'events/s',
        note: `one engine.outbox.drain() of ${fmt(count)} records, ${EVENTS_PER_BOOKING} per booking (checked in order per booking)`,
      },
      {
        name: 'drain: events without a booking',
        value: perSecond(count, unbooked.ms),
        unit: 'events/s',
        note: 'the same records with bookingId null: no ordering lookup',
      },
    ],
    checks: [
      check('drain: every event delivered once, in order (with bookings)', booked.ok, detail(booked)),
      check('drain: every event delivered once, in order (without bookings)', unbooked.ok, detail(unbooked)),
    ],
  };
}

export const outbox: Benchmark = {
  name: 'outbox',
  async run(ctx) {
    const kinds = ctx.stores.kinds.filter((k) => k === 'memory' || k === 'pglite');
    const reports: BenchReport[] = [];
    for (const kind of kinds) reports.push(await throughputOn(ctx, kind));
    for (const kind of kinds) reports.push(await drainOn(ctx, kind));
    return reports;
  },
};
