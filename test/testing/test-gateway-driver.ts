// Drives TestPaymentGateway for the gateway conformance suite: its own simulation methods play the patient and the provider.
import { ManualClock } from '../../src/testing/manual-clock.js';
import { TestPaymentGateway } from '../../src/testing/test-payment-gateway.js';
import type { GatewayHarness } from '../conformance/gateway-conformance.js';
import { NOW } from '../stripe/gateway-fixtures.js';

export function testGatewayHarness(): GatewayHarness {
  return {
    fresh: async () => {
      const clock = new ManualClock(NOW);
      const gateway = new TestPaymentGateway({ clock });
      return {
        gateway,
        clock,
        customers: () => gateway.customersCreated,
        sessions: () => gateway.sessions.size,
        refunds: () => gateway.refunds.length,
        pay: async (sessionId) => gateway.signWebhook(gateway.pay(sessionId)),
        payDelayed: async (sessionId) => gateway.payDelayed(sessionId),
        settleDelayed: async (sessionId, outcome) => gateway.signWebhook(gateway.settleDelayed(sessionId, outcome)),
        expire: async (sessionId) => gateway.signWebhook(gateway.expire(sessionId)),
        refundUpdated: async (providerRefundId) => gateway.signWebhook(gateway.updateRefund(providerRefundId)),
      };
    },
  };
}
