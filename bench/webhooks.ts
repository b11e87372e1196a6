// Webhooks: signed Stripe checkout.session.completed events, 20% of them delivered twice, through createWebhookHandler; money is counted once.
import { type Booking, BookingEngine, createWebhookHandler, InProcessScheduler, type Schedule } from 'careslot';
import { STRIPE_METADATA, StripeCheckoutGateway } from 'careslot/stripe';
import { ManualClock } from 'careslot/testing';
import Stripe from 'stripe';
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
  random,
  START,
  type StoreKind,
  seedSlots,
  shuffle,
  skipped,
  testRig,
  walletTotal,
} from './fixtures.js';
import { median, perSecond, summarize } from './stats.js';
import { type BenchReport, type Check, goalCheck } from './table.js';

const SECRET = 'whsec_careslot_bench_secret';
const DUPLICATE_SHARE = 0.2;
const CONCURRENCY = 8;
/** On the memory store the webhook path must keep at least this share of the signature check's throughput for new events (issue #19's goal). */
const GOAL_RATIO = 0.2;

interface Delivery {
  rawBody: string;
  headers: Record<string, string>;
}

/** The event Stripe sends when the patient paid on the Checkout page, as Stripe formats it. */
function checkoutCompleted(i: number, booking: Booking, created: number): string {
  const metadata = {
    [STRIPE_METADATA.bookingId]: booking.id,
    [STRIPE_METADATA.scheduleId]: booking.scheduleId,
    [STRIPE_METADATA.patientId]: booking.patientId,
    [STRIPE_METADATA.doctorId]: booking.doctorId,
  };
  const session = {
    id: booking.checkoutSessionId,
    object: 'checkout.session',
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    amount_total: booking.price.amount,
    currency: booking.price.currency,
    customer: `cus_bench_${i}`,
    payment_intent: `pi_bench_${i}`,
    client_reference_id: booking.id,
    metadata,
  };
  const event = {
    id: `evt_bench_${i}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created,
    type: 'checkout.session.completed',
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: session },
  };
  return JSON.stringify(event, null, 2);
}

interface WebhookRun {
  total: number;
  unique: number;
  ms: number;
  latenciesMs: number[];
  verifyOnlyMs: number;
  checks: Check[];
}

interface DeliverOptions {
  /** Share of the deliveries that re-deliver an event already sent. @defaultValue DUPLICATE_SHARE */
  duplicateShare?: number;
  /** Time the signature check alone before the handler (paired rounds swap the order). @defaultValue false */
  verifyFirst?: boolean;
}

async function deliverAll(
  ctx: BenchContext,
  kind: StoreKind,
  total: number,
  options: DeliverOptions = {},
): Promise<WebhookRun> {
  const unique = Math.round(total * (1 - (options.duplicateShare ?? DUPLICATE_SHARE)));
  const duplicates = total - unique;
  const clock = new ManualClock(START);
  const opened = await ctx.stores.open(kind, clock);
  try {
    const { store } = opened;
    const slots = await seedSlots(store, unique, { from: clock.now() });
    const ids = patientIds(unique);
    const patients = patientDirectory(ids);
    // The pending bookings, made with the test provider (Stripe's API is not called here).
    const seeding = testRig(store, clock, patients);
    const bookings: Booking[] = new Array(unique);
    await pool(unique, CONCURRENCY, async (i) => {
      const { booking } = await seeding.engine.book({
        patientId: ids[i] as string,
        scheduleId: (slots[i] as Schedule).id,
      });
      bookings[i] = booking;
    });

    // The host's engine on the same store, with Stripe Checkout as its provider.
    const stripe = new Stripe('sk_test_careslot_bench');
    const gateway = new StripeCheckoutGateway({ stripe, webhookSecret: SECRET, clock });
    const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
    const engine = new BookingEngine({ store, payments: gateway, patients, scheduler, clock });
    const effectFailures: unknown[] = [];
    engine.events.on('effect.failed', (failure) => effectFailures.push(failure));
    const handlerErrors: unknown[] = [];
    const handler = createWebhookHandler({ engine, payments: gateway, onError: (error) => handlerErrors.push(error) });

    const timestamp = Math.floor(clock.now().getTime() / 1000);
    const signed: Delivery[] = bookings.map((booking, i) => {
      const rawBody = checkoutCompleted(i, booking, timestamp);
      const signature = stripe.webhooks.generateTestHeaderString({ payload: rawBody, secret: SECRET, timestamp });
      return { rawBody, headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature } };
    });
    // Stripe re-delivers an event with the same id and body; which ones, and the order, are seeded.
    const next = random(0xcafe);
    const again = shuffle(
      signed.map((_, i) => i),
      next,
    ).slice(0, duplicates);
    const deliveries = shuffle([...signed, ...again.map((i) => signed[i] as Delivery)], next);

    // The signature check and parsing alone, for scale (no store work).
    const verifyOnly = async () => {
      const verifyBegan = performance.now();
      for (const delivery of deliveries) await gateway.parseWebhook(delivery);
      return performance.now() - verifyBegan;
    };
    let verifyOnlyMs = options.verifyFirst ? await verifyOnly() : 0;

    const statuses = new Map<number, number>();
    const outcomes = new Map<string, number>();
    const latenciesMs: number[] = [];
    const began = performance.now();
    await pool(deliveries.length, CONCURRENCY, async (i) => {
      const t0 = performance.now();
      const response = await handler(deliveries[i] as Delivery);
      latenciesMs.push(performance.now() - t0);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const outcome = String(response.body.outcome ?? response.body.error ?? 'none');
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    });
    const ms = performance.now() - began;
    if (!options.verifyFirst) verifyOnlyMs = await verifyOnly();

    const wallets = await walletTotal(engine, slots, 'eur');
    const expected = bookings.reduce((sum, b) => sum + b.price.amount, 0);
    const paid = await store.countBookings({ status: 'scheduled', paymentStatus: 'paid' });
    const show = (m: Map<unknown, number>) => JSON.stringify(Object.fromEntries(m));
    return {
      total,
      unique,
      ms,
      latenciesMs,
      verifyOnlyMs,
      checks: [
        check('every delivery answered 200', statuses.get(200) === total, `statuses ${show(statuses)}`),
        check(
          'each event applied once',
          outcomes.get('confirmed') === unique && (outcomes.get('duplicate') ?? 0) === duplicates,
          `outcomes ${show(outcomes)}; expected ${fmt(unique)} confirmed, ${fmt(duplicates)} duplicate`,
        ),
        check(
          'wallet total = unique paid events',
          wallets.total === expected && wallets.entries === unique && paid === unique,
          `${fmt(wallets.total)} in ${fmt(wallets.entries)} ledger lines = ${fmt(expected)} for ${fmt(unique)} events; ${fmt(paid)} bookings paid`,
        ),
        check(
          'no handler or effect errors',
          handlerErrors.length === 0 && effectFailures.length === 0,
          `${handlerErrors.length} handler errors, ${effectFailures.length} effect.failed`,
        ),
      ],
    };
  } finally {
    await opened.close();
  }
}

async function onStore(ctx: BenchContext, kind: StoreKind): Promise<BenchReport> {
  const sql = isSqlStore(kind);
  const total = sql ? (ctx.quick ? 300 : 2_000) : ctx.quick ? 1_000 : 10_000;
  await deliverAll(ctx, kind, sql ? 100 : ctx.quick ? 250 : 1_000);
  const run = await deliverAll(ctx, kind, total);
  ctx.log(`webhooks (${kind}): ${run.total} deliveries in ${Math.round(run.ms)} ms`);
  const latency = summarize(run.latenciesMs);

  // The goal's ratio: new events only (each applied: booking confirmed, wallet credited) through
  // the handler, against the signature check + parse of the same deliveries; paired rounds on
  // fresh stores, the order swapped every round, the median of the rounds' ratios.
  const fresh = sql ? (ctx.quick ? 200 : 500) : ctx.quick ? 1_000 : 5_000;
  const rounds = kind === 'mongodb' ? 1 : sql ? (ctx.quick ? 1 : 3) : ctx.quick ? 3 : 5;
  const pairs: WebhookRun[] = [];
  for (let r = 0; r < rounds; r++) {
    pairs.push(await deliverAll(ctx, kind, fresh, { duplicateShare: 0, verifyFirst: r % 2 === 1 }));
    const last = pairs.at(-1) as WebhookRun;
    ctx.log(
      `webhooks (${kind}) new events round ${r + 1}/${rounds}: handler ${Math.round(last.ms)} ms, verify only ${Math.round(last.verifyOnlyMs)} ms`,
    );
  }
  // Throughput ratio: (events / handler time) ÷ (events / verify time) = verify time ÷ handler time.
  const ratio = median(pairs.map((p) => p.verifyOnlyMs / p.ms));
  const paired = rounds > 1 ? `median of ${rounds} paired rounds` : '1 paired round';
  return {
    benchmark: 'webhooks',
    store: kind,
    params: {
      deliveries: total,
      uniqueEvents: run.unique,
      duplicateShare: DUPLICATE_SHARE,
      concurrency: CONCURRENCY,
      newEventRounds: rounds,
      newEventsPerRound: fresh,
      ...(kind === 'memory' ? { goalRatio: GOAL_RATIO } : {}),
    },
    metrics: [
      {
        name: 'signed Stripe events',
        value: perSecond(total, run.ms),
        unit: 'events/s',
        note: `${total.toLocaleString('en-US')} deliveries (${run.unique.toLocaleString('en-US')} unique + ${(total - run.unique).toLocaleString('en-US')} re-deliveries, shuffled), ${CONCURRENCY} in flight`,
      },
      { name: 'latency p50', value: latency.p50Ms, unit: 'ms', note: 'one delivery: verify, parse, apply' },
      { name: 'latency p99', value: latency.p99Ms, unit: 'ms' },
      {
        name: 'signature check + parse only',
        value: perSecond(total, run.verifyOnlyMs),
        unit: 'events/s',
        note: 'gateway.parseWebhook alone, one at a time (no store)',
      },
      {
        name: 'new events through the handler',
        value: perSecond(fresh, median(pairs.map((p) => p.ms))),
        unit: 'events/s',
        note: `${fmt(fresh)} first deliveries (no re-deliveries), ${CONCURRENCY} in flight, ${rounds > 1 ? `median of ${rounds} rounds` : '1 round'}`,
      },
      {
        name: 'ratio handler/verify-only (new events)',
        value: ratio,
        unit: '×',
        note: `throughput of the whole webhook path ÷ the signature check + parse alone, ${paired}`,
      },
    ],
    checks: [
      ...mergeChecks([run.checks, ...pairs.map((p) => p.checks)]),
      // Set against the memory store, as the throughput goal: on a database the path also waits
      // for its round trips, which the signature check alone never does; the ratio is printed there.
      ...(kind === 'memory'
        ? [goalCheck('webhook path/verify-only (new events)', ratio, '≥', GOAL_RATIO, '×', paired)]
        : []),
    ],
  };
}

export const webhooks: Benchmark = {
  name: 'webhooks',
  async run(ctx) {
    const reports: BenchReport[] = [];
    for (const kind of ctx.stores.kinds) reports.push(await onStore(ctx, kind));
    if (ctx.stores.mongoSkipped) reports.push(skipped('webhooks', 'mongodb', ctx.stores.mongoSkipped));
    if (ctx.stores.postgresSkipped) reports.push(skipped('webhooks', 'postgres', ctx.stores.postgresSkipped));
    return reports;
  },
};
