// Outbox: book-and-confirm with the transactional outbox against the same store with it switched off, one drain's delivery rate, and where the engine's time goes (effects dropped, run without the outbox, as shipped).
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
  type TestRig,
  testRig,
} from './fixtures.js';
import { median, perSecond } from './stats.js';
import type { BenchReport, Check } from './table.js';
import { bookAndConfirmDirectly } from './throughput.js';

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

/**
 * Books and confirms slot i for patient i through `rig`'s engine, 8 in flight, timed; counts the
 * confirmations and the `booking.confirmed` events emitted.
 */
async function timedBookAndConfirm(rig: TestRig, slots: readonly Schedule[], ids: readonly string[]) {
  let emitted = 0;
  rig.engine.events.on('booking.confirmed', () => {
    emitted++;
  });
  let confirmed = 0;
  const began = performance.now();
  await pool(slots.length, CONCURRENCY, async (i) => {
    const { booking } = await rig.engine.book({ patientId: ids[i] as string, scheduleId: (slots[i] as Schedule).id });
    const { outcome } = await rig.engine.handlePaymentEvent(rig.gateway.pay(booking.checkoutSessionId ?? ''));
    if (outcome === 'confirmed') confirmed++;
  });
  return { ms: performance.now() - began, confirmed, emitted };
}

async function bookAndConfirm(ctx: BenchContext, kind: StoreKind, count: number, outbox: boolean): Promise<PathRun> {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const slots = await seedSlots(opened.store, count, { from: clock.now() });
    const ids = patientIds(count);
    const store = outbox ? opened.store : withoutOutbox(opened.store);
    const rig = testRig(store, clock, patientDirectory(ids));
    const { ms, confirmed, emitted } = await timedBookAndConfirm(rig, slots, ids);
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
              pending.length === 0 && emitted === count && rig.effectFailures.length === 0,
              `${pending.length === 0 ? 'nothing' : 'records'} pending, ${fmt(emitted)} booking.confirmed emitted, ${rig.effectFailures.length} effect.failed`,
            )
          : check(
              'without outbox: nothing recorded',
              pending.length === 0 && emitted === 0,
              `${fmt(emitted)} booking.confirmed emitted (0 expected)`,
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

// ---- where the engine's time goes: the engine with its effects switched off, then run without the outbox ----

/**
 * The engine's internal context, reached at run time (it is private): every change goes through
 * `commit`, which appends the change's effects to the outbox in its transaction and delivers them
 * after; the decomposition replaces it. Checked by the runs themselves (outbox appends counted).
 */
interface EngineInternals {
  store: BookingStore;
  commit(
    work: (tx: StoreOperations) => Promise<unknown>,
    effectsOf: (result: unknown) => readonly unknown[],
  ): Promise<unknown>;
  runEffects(effects: readonly unknown[]): Promise<void>;
  outbox: { append(tx: StoreOperations, effects: readonly unknown[]): Promise<unknown> };
}

/** How the engine under test treats each change's effects. */
type EffectsMode = 'none' | 'direct' | 'outbox';

const EFFECTS_MODES: Record<EffectsMode, string> = {
  none: 'engine, no effects (built, then dropped: nothing encoded, recorded or delivered)',
  direct: 'engine, effects run straight after the commit (no outbox: lost on a crash)',
  outbox: 'engine as shipped (each effect encoded, recorded in the transaction, delivered, completed)',
};

/** Rewires `engine`'s commit for `mode`; returns a counter of the outbox appends that still happen. */
function effectsMode(engine: object, mode: EffectsMode): { appends: number } {
  const internals = (engine as { ctx?: EngineInternals }).ctx;
  if (internals === undefined || typeof internals.commit !== 'function') {
    throw new Error('outbox decomposition: the engine no longer has ctx.commit; update bench/outbox.ts');
  }
  const counted = { appends: 0 };
  const append = internals.outbox.append.bind(internals.outbox);
  internals.outbox.append = (tx, effects) => {
    counted.appends++;
    return append(tx, effects);
  };
  if (mode === 'outbox') return counted;
  internals.commit = async (work, effectsOf) => {
    let effects: readonly unknown[] = [];
    const result = await internals.store.transaction(async (tx) => {
      const value = await work(tx);
      effects = effectsOf(value);
      return value;
    });
    if (mode === 'direct') await internals.runEffects(effects);
    return result;
  };
  return counted;
}

async function decompositionRun(ctx: BenchContext, count: number, mode: EffectsMode | 'baseline'): Promise<PathRun> {
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open('memory', clock);
  try {
    const slots = await seedSlots(opened.store, count, { from: clock.now() });
    const ids = patientIds(count);
    if (mode === 'baseline') {
      const began = performance.now();
      await pool(count, CONCURRENCY, (i) =>
        bookAndConfirmDirectly(opened.store, clock, slots[i] as Schedule, ids[i] as string, i),
      );
      const ms = performance.now() - began;
      const paid = await opened.store.countBookings({ status: 'scheduled', paymentStatus: 'paid' });
      return { ms, checks: [check('baseline: every booking paid', paid === count, `${fmt(paid)} paid`)] };
    }
    const rig = testRig(opened.store, clock, patientDirectory(ids), { holdMinutes: 15 });
    const counted = effectsMode(rig.engine, mode);
    const { ms, confirmed, emitted } = await timedBookAndConfirm(rig, slots, ids);
    const expectedEmits = mode === 'none' ? 0 : count;
    const appendsOk = mode === 'outbox' ? counted.appends >= 2 * count : counted.appends === 0;
    return {
      ms,
      checks: [
        check(
          `${mode}: every booking confirmed, effects as the mode says`,
          confirmed === count && emitted === expectedEmits && appendsOk && rig.effectFailures.length === 0,
          `${fmt(confirmed)} confirmed, ${fmt(emitted)} booking.confirmed emitted (${fmt(expectedEmits)} expected), ` +
            `${fmt(counted.appends)} outbox appends, ${rig.effectFailures.length} effect.failed`,
        ),
      ],
    };
  } finally {
    await opened.close();
  }
}

/**
 * Book + confirm on the memory store four ways in paired rounds (order rotated every round):
 * the store calls alone (the throughput baseline), the engine with its effects dropped, the
 * engine running them straight after each commit, and the engine as shipped. Informational (no
 * goal): it shows which part of the engine's time the outbox is.
 */
async function decomposition(ctx: BenchContext): Promise<BenchReport> {
  const count = ctx.quick ? 1_000 : 10_000;
  const rounds = ctx.quick ? 3 : 5;
  const paths = ['baseline', 'none', 'direct', 'outbox'] as const;
  for (const path of paths) await decompositionRun(ctx, ctx.quick ? 500 : 2_000, path);
  const runs = new Map<(typeof paths)[number], PathRun[]>(paths.map((p) => [p, []]));
  const ratios = new Map<EffectsMode, number[]>([
    ['none', []],
    ['direct', []],
    ['outbox', []],
  ]);
  for (let r = 0; r < rounds; r++) {
    const order = [...paths.slice(r % paths.length), ...paths.slice(0, r % paths.length)];
    const round = new Map<(typeof paths)[number], PathRun>();
    for (const path of order) round.set(path, await decompositionRun(ctx, count, path));
    const base = round.get('baseline') as PathRun;
    for (const [path, run] of round) {
      runs.get(path)?.push(run);
      if (path !== 'baseline') ratios.get(path)?.push(run.ms / base.ms);
    }
    ctx.log(
      `outbox decomposition round ${r + 1}/${rounds}: ` +
        paths.map((p) => `${p} ${Math.round((round.get(p) as PathRun).ms)} ms`).join(', '),
    );
  }
  const usPer = (path: (typeof paths)[number]) => (median((runs.get(path) ?? []).map((r) => r.ms)) * 1000) / count;
  const paired = `median of ${rounds} rounds, the four paths in rotated order`;
  return {
    benchmark: 'outbox: where the time goes',
    store: 'memory',
    params: { bookings: count, rounds, concurrency: CONCURRENCY },
    metrics: [
      {
        name: 'baseline: the store calls alone',
        value: usPer('baseline'),
        unit: 'µs/booking',
        note: `book + confirm of ${fmt(count)} slots, ${CONCURRENCY} in flight, as in the throughput benchmark; ${paired}`,
      },
      ...(['none', 'direct', 'outbox'] as const).map((mode) => ({
        name: EFFECTS_MODES[mode],
        value: usPer(mode),
        unit: 'µs/booking',
        note: `${median(ratios.get(mode) ?? []).toFixed(2)}× the baseline (median of the rounds' own ratios)`,
      })),
    ],
    checks: mergeChecks([...runs.values()].flatMap((list) => list.map((r) => r.checks))),
  };
}

export const outbox: Benchmark = {
  name: 'outbox',
  async run(ctx) {
    const kinds = ctx.stores.kinds.filter((k) => k === 'memory' || k === 'pglite');
    const reports: BenchReport[] = [];
    for (const kind of kinds) reports.push(await throughputOn(ctx, kind));
    for (const kind of kinds) reports.push(await drainOn(ctx, kind));
    if (kinds.includes('memory')) reports.push(await decomposition(ctx));
    return reports;
  },
};
