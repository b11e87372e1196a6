// The gateway contract against stripe-mock (stateless: shapes only), when STRIPE_MOCK_URL points at one.
import Stripe from 'stripe';
import { describe, it } from 'vitest';
import { stripeMockAvailability } from '../support/services.js';
import { describeGatewayContract } from './gateway-contract.js';

const stripeMock = stripeMockAvailability();

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

if (stripeMock.available) {
  describeGatewayContract('stripe-mock', () => ({
    client: () => clientFor(stripeMock.detail),
    // stripe-mock keeps no state: any PaymentIntent id is refundable.
    paidPaymentIntent: async () => 'pi_123',
  }));
} else {
  describe('StripeCheckoutGateway contract (stripe-mock)', () => {
    it.skip(`skipped: ${stripeMock.detail}`, () => {});
  });
  console.log(`stripe-mock contract tests skipped: ${stripeMock.detail}`);
}
