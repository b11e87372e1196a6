// The engine on the memory defaults and StripeCheckoutGateway against the local fake, plus signed-webhook helpers.
import { StripeCheckoutGateway, type StripeCheckoutGatewayOptions } from '../../src/adapters/stripe/index.js';
import {
  BookingEngine,
  type BookingEngineEvents,
  type BookingEngineOptions,
  createWebhookHandler,
  InProcessScheduler,
  MemoryStore,
  type WebhookHandler,
} from '../../src/index.js';
import { type ManualClock, MemoryPatientDirectory } from '../../src/testing/index.js';
import type { FakeStripeServer } from './fake-stripe-server.js';
import { signedRequest, stripeEvent, WEBHOOK_SECRET } from './signed-events.js';

export const DOCTOR = '64b0000000000000000000d1';
export const ADA = '64b0000000000000000000a1';
export const OTTO = '64b0000000000000000000a5';

/** Return URLs live in the engine options (the documented place); `options` overrides them or sets gateway ones. */
export function createStripeFixture(
  fake: FakeStripeServer,
  clock: ManualClock,
  options: { engine?: Partial<BookingEngineOptions>; gateway?: Partial<StripeCheckoutGatewayOptions> } = {},
) {
  const store = new MemoryStore({ clock });
  const patients = new MemoryPatientDirectory([
    { id: ADA, name: 'Ada Standard', email: 'ada@example.test', plan: 'standard' },
    { id: OTTO, name: 'Otto Other', plan: 'standardPlus' },
  ]);
  const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
  const gateway = new StripeCheckoutGateway({
    stripe: fake.client(),
    webhookSecret: WEBHOOK_SECRET,
    clock,
    ...options.gateway,
  });
  const engine = new BookingEngine({
    store,
    payments: gateway,
    patients,
    scheduler,
    clock,
    successUrl: 'https://clinic.example/paid',
    cancelUrl: 'https://clinic.example/cancelled',
    ...options.engine,
  });
  const webhook: WebhookHandler = createWebhookHandler({ engine, payments: gateway, onError: () => {} });
  const mismatches: Parameters<BookingEngineEvents['payment.mismatch']>[0][] = [];
  engine.events.on('payment.mismatch', (payload) => mismatches.push(payload));
  let slots = 0;
  /** A fresh one-hour-apart slot a day ahead, fee 50.00 EUR. */
  const slot = () => {
    slots++;
    const start = new Date(clock.now().getTime() + (23 + slots) * 3600_000);
    return engine.createSchedule({
      doctorId: DOCTOR,
      startTime: start,
      endTime: new Date(start.getTime() + 30 * 60_000),
      fee: { amount: 5000, currency: 'EUR' },
      timeZone: 'Europe/Berlin',
    });
  };
  /** Books a fresh slot for Ada: a pending booking with an open Stripe session. */
  const pending = async () => {
    const schedule = await slot();
    const result = await engine.book({ patientId: ADA, scheduleId: schedule.id });
    const sessionId = result.booking.checkoutSessionId ?? '';
    return { schedule, ...result, sessionId };
  };
  /** Sends a Stripe event as Stripe would: exact bytes, signed now. */
  const deliver = (type: string, object: object, id?: string) =>
    webhook(signedRequest(stripeEvent(type, object, id === undefined ? {} : { id }), { at: clock.now() }));
  const wallet = async () => (await engine.getWallet(DOCTOR)).balances;
  /** The request Stripe would send for this event, signed at the clock's now. */
  const signed = (type: string, object: object) => signedRequest(stripeEvent(type, object), { at: clock.now() });
  return { store, engine, gateway, webhook, scheduler, mismatches, slot, pending, deliver, signed, wallet };
}

export type StripeFixture = ReturnType<typeof createStripeFixture>;
