// Drives StripeCheckoutGateway for the gateway conformance suite: the local fake Stripe plays the patient, and events are really signed.
import { StripeCheckoutGateway } from '../../src/adapters/stripe/index.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import type { GatewayDriver, GatewayHarness } from '../conformance/gateway-conformance.js';
import { type FakeSession, FakeStripeServer } from './fake-stripe-server.js';
import { NOW } from './gateway-fixtures.js';
import { signedRequest, stripeEvent, WEBHOOK_SECRET } from './signed-events.js';

/** One fake Stripe server for a test file, reset for every test. */
export function stripeGatewayHarness(): GatewayHarness {
  const clock = new ManualClock(NOW);
  let fake: FakeStripeServer | null = null;
  return {
    fresh: async () => {
      fake ??= await FakeStripeServer.start({ now: () => clock.now() });
      fake.reset();
      return stripeDriver(fake, clock);
    },
    close: async () => {
      await fake?.close();
      fake = null;
    },
  };
}

function stripeDriver(fake: FakeStripeServer, clock: ManualClock): GatewayDriver {
  const gateway = new StripeCheckoutGateway({ stripe: fake.client(), webhookSecret: WEBHOOK_SECRET, clock });
  /** The request Stripe would send for this event, signed at the clock's now. */
  const webhook = (type: string, object: FakeSession | object) =>
    signedRequest(stripeEvent(type, object, { created: clock.now() }), { at: clock.now() });
  return {
    gateway,
    clock,
    customers: () => fake.customers.size,
    sessions: () => fake.sessions.size,
    refunds: () => fake.refunds.size,
    pay: async (sessionId) => webhook('checkout.session.completed', fake.completeSession(sessionId)),
    payDelayed: async (sessionId) => {
      // Stripe sends checkout.session.completed (unpaid) too; careslot ignores it until the money moves.
      fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    },
    settleDelayed: async (sessionId, { succeed }) =>
      webhook(
        succeed ? 'checkout.session.async_payment_succeeded' : 'checkout.session.async_payment_failed',
        fake.settleAsync(sessionId, succeed),
      ),
    expire: async (sessionId) => webhook('checkout.session.expired', fake.expireSession(sessionId)),
    refundUpdated: async (providerRefundId) => {
      const refund = fake.refunds.get(providerRefundId);
      if (!refund) throw new Error(`FakeStripeServer: no refund ${providerRefundId}`);
      return webhook('refund.updated', structuredClone(refund));
    },
  };
}
