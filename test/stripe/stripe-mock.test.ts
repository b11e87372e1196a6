// StripeCheckoutGateway against stripe-mock (stateless, so answer shapes only) when STRIPE_MOCK_URL points at one; behaviour is in the gateway conformance suite.
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { StripeCheckoutGateway } from '../../src/adapters/stripe/index.js';
import { stripeMockAvailability } from '../support/services.js';
import { booking, checkoutRequest, PATIENT } from './gateway-fixtures.js';
import { WEBHOOK_SECRET } from './signed-events.js';

const stripeMock = stripeMockAvailability();
if (!stripeMock.available) console.log(`stripe-mock contract tests skipped: ${stripeMock.detail}`);

function clientFor(url: string): Stripe {
  const { hostname, port, protocol } = new URL(url);
  return new Stripe('sk_test_123', {
    host: hostname,
    port: port || (protocol === 'https:' ? 443 : 80),
    protocol: protocol === 'https:' ? 'https' : 'http',
    maxNetworkRetries: 0,
    telemetry: false,
  });
}

let bookings = 0;

/** A booking made now with a fresh id and a 15-minute hold, its return URLs resolved as the engine does. */
function freshRequest(customerId: string | null = null) {
  bookings++;
  const now = new Date();
  const made = booking({
    id: `64c${bookings.toString(16).padStart(21, '0')}`,
    createdAt: now,
    holdExpiresAt: new Date(now.getTime() + 15 * 60_000),
  });
  return checkoutRequest({
    booking: made,
    customerId,
    holdExpiresAt: made.holdExpiresAt ?? now,
    successUrl: 'https://clinic.example/paid?session={CHECKOUT_SESSION_ID}',
    cancelUrl: 'https://clinic.example/cancelled',
  });
}

describe.skipIf(!stripeMock.available)('StripeCheckoutGateway contract (stripe-mock)', () => {
  const gateway = () =>
    new StripeCheckoutGateway({ stripe: clientFor(stripeMock.detail), webhookSecret: WEBHOOK_SECRET });

  it('creates a customer and answers with its cus_ id', async () => {
    const id = await gateway().ensureCustomer({ patient: PATIENT, customerId: null });
    expect(id).toMatch(/^cus_/);
  });

  it('opens a Checkout Session with an id, a hosted url and an expiry', async () => {
    const g = gateway();
    const customerId = await g.ensureCustomer({ patient: PATIENT, customerId: null });
    const session = await g.createCheckout(freshRequest(customerId));
    expect(session.sessionId).toMatch(/^cs_/);
    expect(session.url).toMatch(/^https:\/\//);
    expect(session.expiresAt).toBeInstanceOf(Date);
    expect(Number.isNaN(session.expiresAt.getTime())).toBe(false);
  });

  it('retrieves a session as open, complete or expired with payment details or null', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(freshRequest());
    const state = await g.retrieveCheckout({ sessionId });
    expect(state.sessionId).toBe(sessionId);
    expect(['open', 'complete', 'expired']).toContain(state.status);
    if (state.payment !== null) {
      expect(state.payment).toEqual({
        paymentId: expect.any(String),
        amount: expect.any(Number),
        currency: expect.stringMatching(/^[a-z]{3}$/),
      });
    }
  });

  it('expires a session and reports expired, paid or processing', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(freshRequest());
    const result = await g.expireCheckout({ sessionId });
    expect(['expired', 'paid', 'processing']).toContain(result.outcome);
  });

  it('refunds a payment and answers with an re_ id and a known status', async () => {
    // stripe-mock keeps no state: any PaymentIntent id is refundable.
    const result = await gateway().refund({
      bookingId: checkoutRequest().booking.id,
      paymentId: 'pi_123',
      amount: 1000,
      currency: 'eur',
      idempotencyKey: 'refund-contract-1',
      reason: 'requested_by_customer',
    });
    expect(result.providerRefundId).toMatch(/^(re|pyr)_/);
    expect(['succeeded', 'pending', 'failed']).toContain(result.status);
  });
});
