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
import { perSecond, summarize } from './stats.js';
import type { BenchReport, Check } from './table.js';

const SECRET = 'whsec_careslot_bench_secret';
const DUPLICATE_SHARE = 0.2;
const CONCURRENCY = 8;

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

async function deliverAll(ctx: BenchContext, kind: StoreKind, total: number): Promise<WebhookRun> {
  const unique = Math.round(total * (1 - DUPLICATE_SHARE));
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

    // The signature check and parsing alone, for scale (no store work).
    const verifyBegan = performance.now();
    for (const delivery of deliveries) await gateway.parseWebhook(delivery);
    const verifyOnlyMs = performance.now() - verifyBegan;

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
          outcomes.get('confirmed') === unique && outcomes.get('duplicate') === duplicates,
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
  const total = isSqlStore(kind) ? (ctx.quick ? 300 : 2_000) : ctx.quick ? 1_000 : 10_000;
  await deliverAll(ctx, kind, isSqlStore(kind) ? 100 : ctx.quick ? 250 : 1_000);
  const run = await deliverAll(ctx, kind, total);
  ctx.log(`webhooks (${kind}): ${run.total} deliveries in ${Math.round(run.ms)} ms`);
  const latency = summarize(run.latenciesMs);
  return {
    benchmark: 'webhooks',
    store: kind,
    params: { deliveries: total, uniqueEvents: run.unique, duplicateShare: DUPLICATE_SHARE, concurrency: CONCURRENCY },
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
    ],
    checks: mergeChecks([run.checks]),
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
