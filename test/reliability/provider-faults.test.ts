// Faults at the payment provider, the notifier and the scheduler: nothing lost, nothing stuck after reconcile, no money twice.
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StripeCheckoutGateway } from '../../src/adapters/stripe/index.js';
import {
  BookingEngine,
  createWebhookHandler,
  InProcessScheduler,
  JOB_NAMES,
  type JobScheduler,
  MemoryStore,
  type Notifier,
} from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory } from '../../src/testing/index.js';
import { FakeStripeServer } from '../stripe/fake-stripe-server.js';
import { signedRequest, stripeEvent, WEBHOOK_SECRET } from '../stripe/signed-events.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { FlakyProxy, type ProxyMode } from '../support/flaky-proxy.js';
import { findViolations } from '../support/invariants.js';

const DOCTOR = '64b0000000000000000000d1';
const patientId = (i: number) => `64b00000000000000000${(0x3000 + i).toString(16)}`;

let fake: FakeStripeServer;
let proxy: FlakyProxy;
const clock = new ManualClock('2030-03-01T08:00:00Z');

beforeAll(async () => {
  fake = await FakeStripeServer.start({ now: () => clock.now() });
  proxy = await FlakyProxy.start(fake.port);
});
afterAll(async () => {
  await proxy.close();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  proxy.mode = 'forward';
  proxy.disturbed = 0;
  clock.set('2030-03-01T08:00:00Z');
});

function setup(options: { notifier?: Notifier; scheduler?: JobScheduler } = {}) {
  const store = new MemoryStore({ clock });
  const patients = new MemoryPatientDirectory(
    Array.from({ length: 60 }, (_, i) => ({ id: patientId(i), name: `Patient ${i}`, plan: 'standard' })),
  );
  const inProcess = new InProcessScheduler({ clock, timers: false, onError: () => {} });
  // A real stripe-node client through the flaky proxy; no retries so each fault is seen once.
  const stripe = new Stripe('sk_test_careslot_fake', {
    host: '127.0.0.1',
    port: proxy.port,
    protocol: 'http',
    maxNetworkRetries: 0,
    timeout: 400,
    telemetry: false,
  });
  const gateway = new StripeCheckoutGateway({ stripe, webhookSecret: WEBHOOK_SECRET, clock });
  const engine = new BookingEngine({
    store,
    payments: gateway,
    patients,
    clock,
    scheduler: options.scheduler ?? inProcess,
    ...(options.notifier ? { notifier: options.notifier } : {}),
    successUrl: 'https://clinic.example/paid',
  });
  const webhook = createWebhookHandler({ engine, onError: () => {} });
  const failures: string[] = [];
  engine.events.on('effect.failed', (e) => failures.push(e.effect));
  let slots = 0;
  const slot = () => {
    slots++;
    const start = new Date(clock.now().getTime() + (47 + slots) * 3_600_000);
    return engine.createSchedule({
      doctorId: DOCTOR,
      startTime: start,
      endTime: new Date(start.getTime() + 30 * 60_000),
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });
  };
  const pay = async (sessionId: string) =>
    webhook(
      signedRequest(stripeEvent('checkout.session.completed', fake.completeSession(sessionId)), { at: clock.now() }),
    );
  const consistent = async () => expect(await findViolations(store, { now: clock.now() })).toEqual([]);
  return { store, engine, webhook, inProcess, failures, slot, pay, consistent };
}

const faults: [ProxyMode, string][] = [
  ['error500', 'answering 500'],
  ['hang', 'timing out'],
];

describe.each(faults)('Stripe %s', (mode, label) => {
  it(`${label} on session creation: book fails with PAYMENT_PROVIDER_ERROR and the slot is free at once`, async () => {
    const t = setup();
    const schedule = await t.slot();
    proxy.match = /^\/v1\/checkout\/sessions$/;
    proxy.mode = mode;
    const error = await rejectionOf(t.engine.book({ patientId: patientId(0), scheduleId: schedule.id }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR', status: 502 });
    expect(error.cause).toBeDefined();
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
    proxy.mode = 'forward';
    const retry = await t.engine.book({ patientId: patientId(0), scheduleId: schedule.id });
    expect(retry.paymentUrl).toBeDefined();
    await t.consistent();
  });

  it(`${label} on expire: the hold stays until the provider answers, then the sweep releases it`, async () => {
    const t = setup();
    const schedule = await t.slot();
    const { booking } = await t.engine.book({ patientId: patientId(0), scheduleId: schedule.id });
    proxy.match = /\/expire$/;
    proxy.mode = mode;
    clock.advanceMinutes(15);
    await expect(t.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).rejects.toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
    });
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await t.engine.reconcile()).errors).toBe(1);
    proxy.mode = 'forward';
    // The sweep tries a hold it could not let go again a minute later (then at doubling intervals).
    clock.advanceMinutes(1);
    expect((await t.engine.reconcile()).holdsReleased).toBe(1);
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
    expect(fake.session(booking.checkoutSessionId ?? '').status).toBe('expired');
    await t.consistent();
  });

  it(`${label} on refund: the refund is recorded, retried by the sweep, and made once`, async () => {
    const t = setup();
    const schedule = await t.slot();
    const { booking } = await t.engine.book({ patientId: patientId(0), scheduleId: schedule.id });
    await t.pay(booking.checkoutSessionId ?? '');
    proxy.match = /^\/v1\/refunds$/;
    proxy.mode = mode;
    const cancelled = await t.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'doctor', id: DOCTOR } });
    expect(cancelled.booking.status).toBe('cancelled');
    expect(cancelled.refund?.status).toBe('failed');
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    proxy.mode = 'forward';
    clock.advanceMinutes(2);
    expect((await t.engine.reconcile()).refundsRetried).toBe(1);
    expect(fake.refunds.size).toBe(1);
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
    expect((await t.engine.getBooking(booking.id)).paymentStatus).toBe('refunded');
    await t.consistent();
  });
});

describe('Stripe acting but the answer lost', () => {
  it('refunds once when the first refund reached Stripe but its answer was dropped', async () => {
    const t = setup();
    const schedule = await t.slot();
    const { booking } = await t.engine.book({ patientId: patientId(0), scheduleId: schedule.id });
    await t.pay(booking.checkoutSessionId ?? '');
    proxy.match = /^\/v1\/refunds$/;
    proxy.mode = 'dropResponse';
    const { refund } = await t.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a' } });
    expect(refund?.status).toBe('failed');
    expect(fake.refunds.size).toBe(1); // Stripe did refund
    proxy.mode = 'forward';
    clock.advanceMinutes(2);
    await t.engine.reconcile();
    expect(fake.refunds.size).toBe(1); // the retry reused the idempotency key
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 0 });
    await t.consistent();
  });

  it('releases the hold when the session was created but its answer was dropped, and a retry books cleanly', async () => {
    const t = setup();
    const schedule = await t.slot();
    proxy.match = /^\/v1\/checkout\/sessions$/;
    proxy.mode = 'dropResponse';
    await expect(t.engine.book({ patientId: patientId(0), scheduleId: schedule.id })).rejects.toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
    });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
    proxy.mode = 'forward';
    const { booking } = await t.engine.book({ patientId: patientId(0), scheduleId: schedule.id });
    await t.pay(booking.checkoutSessionId ?? '');
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    await t.consistent();
  });
});

describe('a stream of bookings with failing side effects', () => {
  it('keeps every booking and counts money once when the notifier throws', async () => {
    const throwing: Notifier = {
      notify: () => {
        throw new Error('push service down');
      },
    };
    const t = setup({ notifier: throwing });
    for (let i = 0; i < 20; i++) {
      const schedule = await t.slot();
      const { booking } = await t.engine.book({ patientId: patientId(i), scheduleId: schedule.id });
      expect((await t.pay(booking.checkoutSessionId ?? '')).status).toBe(200);
    }
    expect(await t.store.countBookings({ status: 'scheduled', paymentStatus: 'paid' })).toBe(20);
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 100_000 });
    // Nothing given up: 40 notifications (doctor and admin per booking) wait in the outbox.
    expect(t.failures.filter((f) => f.startsWith('notify:'))).toHaveLength(0);
    expect(await t.store.findOutbox({ consumer: 'careslot:notifier', status: 'pending' })).toHaveLength(40);
    await t.consistent();
  });

  it('loses no booking when job scheduling fails after commit (a crash), and the sweep finishes every hold and slot', async () => {
    const dead: JobScheduler = {
      schedule: () => Promise.reject(new Error('process died before scheduling')),
      cancel: () => Promise.reject(new Error('process died')),
      scheduleRecurring: async () => {},
    };
    const t = setup({ scheduler: dead });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const schedule = await t.slot();
      const { booking } = await t.engine.book({ patientId: patientId(i), scheduleId: schedule.id });
      ids.push(booking.id);
      if (i % 2 === 0) await t.pay(booking.checkoutSessionId ?? '');
    }
    expect(await t.store.countBookings({})).toBe(20);
    clock.advanceMinutes(16);
    const report = await t.engine.reconcile();
    expect(report).toMatchObject({ holdsReleased: 10, errors: 0 });
    expect(await t.store.countBookings({ status: 'pending' })).toBe(0);
    expect(await t.store.countBookings({ status: 'scheduled' })).toBe(10);
    await t.consistent();
    // Past every slot's end, the sweep completes the booked ones and expires the rest.
    clock.advanceMinutes(4 * 24 * 60);
    await t.engine.reconcile();
    expect(await t.store.countBookings({ status: 'completed' })).toBe(10);
    // What is still available is the next-day copies of the booked slots, all in the future.
    const open = await t.engine.listSchedules({ status: 'available' });
    expect(open).toHaveLength(10);
    expect(open.every((s) => s.rolledOverFrom !== null && s.startTime > clock.now())).toBe(true);
    expect(await t.engine.listSchedules({ status: 'pending' })).toEqual([]);
    expect((await t.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 50_000 });
  });
});
