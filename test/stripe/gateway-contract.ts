// Shape tests every Stripe backend must pass: the local fake here, stripe-mock when STRIPE_MOCK_URL is set.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { StripeCheckoutGateway } from '../../src/adapters/stripe/index.js';
import { type Clock, systemClock } from '../../src/index.js';
import { booking, checkoutRequest, PATIENT } from './gateway-fixtures.js';
import { WEBHOOK_SECRET } from './signed-events.js';

export interface ContractBackend {
  client(): Stripe;
  /** A PaymentIntent id that can be refunded 1000 minor units (stateless backends: any id). */
  paidPaymentIntent(gateway: StripeCheckoutGateway): Promise<string>;
  /** The backend's notion of now, for `expires_at`. @defaultValue the system clock */
  clock?: Clock;
}

/** Asserts the shapes of answers only, so a stateless backend (stripe-mock) passes too. */
let bookings = 0;

/** A booking made now by the backend's clock, with a fresh id (stateful backends replay reused keys). */
function freshRequest(clock: Clock, customerId: string | null = null) {
  bookings++;
  const now = clock.now();
  const made = booking({
    id: `64c${bookings.toString(16).padStart(21, '0')}`,
    createdAt: now,
    holdExpiresAt: new Date(now.getTime() + 15 * 60_000),
  });
  return checkoutRequest({ booking: made, customerId, holdExpiresAt: made.holdExpiresAt ?? now });
}

export function describeGatewayContract(name: string, backend: () => ContractBackend): void {
  describe(`StripeCheckoutGateway contract (${name})`, () => {
    const clock = () => backend().clock ?? systemClock;
    const gateway = () =>
      new StripeCheckoutGateway({
        stripe: backend().client(),
        webhookSecret: WEBHOOK_SECRET,
        successUrl: 'https://clinic.example/paid?session={CHECKOUT_SESSION_ID}',
        cancelUrl: 'https://clinic.example/cancelled',
        clock: clock(),
      });

    it('creates a customer and answers with its cus_ id', async () => {
      const id = await gateway().ensureCustomer({ patient: PATIENT, customerId: null });
      expect(id).toMatch(/^cus_/);
    });

    it('opens a Checkout Session with an id, a hosted url and an expiry', async () => {
      const g = gateway();
      const customerId = await g.ensureCustomer({ patient: PATIENT, customerId: null });
      const session = await g.createCheckout(freshRequest(clock(), customerId));
      expect(session.sessionId).toMatch(/^cs_/);
      expect(session.url).toMatch(/^https:\/\//);
      expect(session.expiresAt).toBeInstanceOf(Date);
      expect(Number.isNaN(session.expiresAt.getTime())).toBe(false);
    });

    it('retrieves a session as open, complete or expired with payment details or null', async () => {
      const g = gateway();
      const { sessionId } = await g.createCheckout(freshRequest(clock()));
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
      const { sessionId } = await g.createCheckout(freshRequest(clock()));
      const result = await g.expireCheckout({ sessionId });
      expect(['expired', 'paid', 'processing']).toContain(result.outcome);
    });

    it('refunds a payment and answers with an re_ id and a known status', async () => {
      const g = gateway();
      const paymentId = await backend().paidPaymentIntent(g);
      const result = await g.refund({
        bookingId: checkoutRequest().booking.id,
        paymentId,
        amount: 1000,
        currency: 'eur',
        idempotencyKey: 'refund-contract-1',
        reason: 'requested_by_customer',
      });
      expect(result.providerRefundId).toMatch(/^(re|pyr)_/);
      expect(['succeeded', 'pending', 'failed']).toContain(result.status);
    });
  });
}
