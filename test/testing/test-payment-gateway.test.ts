// TestPaymentGateway passes the shared gateway conformance suite; its own options and simulation helpers.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { TestPaymentGateway } from '../../src/testing/test-payment-gateway.js';
import { describeGatewayConformance } from '../conformance/gateway-conformance.js';
import { checkoutRequest, NOW } from '../stripe/gateway-fixtures.js';
import { testGatewayHarness } from './test-gateway-driver.js';

describeGatewayConformance('TestPaymentGateway', testGatewayHarness());

const MINUTE = 60_000;
const sessionLife = async (gateway: TestPaymentGateway) =>
  ((await gateway.createCheckout(checkoutRequest())).expiresAt.getTime() - NOW.getTime()) / MINUTE;

describe('TestPaymentGateway options', () => {
  it('keeps a session open 31 minutes by default, like StripeCheckoutGateway', async () => {
    expect(await sessionLife(new TestPaymentGateway({ clock: new ManualClock(NOW) }))).toBe(31);
  });

  it('takes minSessionMinutes, and the deprecated minimumSessionMinutes for one more release', async () => {
    const clock = new ManualClock(NOW);
    expect(await sessionLife(new TestPaymentGateway({ clock, minSessionMinutes: 45 }))).toBe(45);
    expect(await sessionLife(new TestPaymentGateway({ clock, minimumSessionMinutes: 40 }))).toBe(40);
  });

  it('fails fast when both names are given, or the minutes are not a number of minutes', () => {
    expect(() => new TestPaymentGateway({ minSessionMinutes: 31, minimumSessionMinutes: 30 })).toThrow(TypeError);
    expect(() => new TestPaymentGateway({ minSessionMinutes: 31, minimumSessionMinutes: 30 })).toThrow(
      /give minSessionMinutes only/,
    );
    expect(() => new TestPaymentGateway({ minSessionMinutes: -1 })).toThrow(/minSessionMinutes must be/);
    expect(() => new TestPaymentGateway({ minimumSessionMinutes: Number.NaN })).toThrow(
      /minimumSessionMinutes must be/,
    );
  });
});

describe('TestPaymentGateway delayed payments and refund updates', () => {
  it('marks a delayed payment settling, then succeeded or failed, on the session', async () => {
    const gateway = new TestPaymentGateway({ clock: new ManualClock(NOW) });
    const { sessionId } = await gateway.createCheckout(checkoutRequest());
    gateway.payDelayed(sessionId);
    expect(gateway.sessions.get(sessionId)).toMatchObject({
      status: 'complete',
      delayedPayment: 'settling',
      payment: null,
    });
    gateway.settleDelayed(sessionId, { succeed: false });
    expect(gateway.sessions.get(sessionId)).toMatchObject({
      status: 'complete',
      delayedPayment: 'failed',
      payment: null,
    });
  });

  it('refuses to settle a session without a delayed payment, and to pay one twice', async () => {
    const gateway = new TestPaymentGateway({ clock: new ManualClock(NOW) });
    const { sessionId } = await gateway.createCheckout(checkoutRequest());
    expect(() => gateway.settleDelayed(sessionId, { succeed: true })).toThrow(/call payDelayed first/);
    gateway.payDelayed(sessionId);
    expect(() => gateway.payDelayed(sessionId)).toThrow(/is complete/);
    expect(() => gateway.pay(sessionId)).toThrow(/is complete/);
    gateway.settleDelayed(sessionId, { succeed: true });
    expect(() => gateway.settleDelayed(sessionId, { succeed: true })).toThrow(/no delayed payment settling/);
  });

  it('moves a refund to the status updateRefund reports, which a retried refund call then answers', async () => {
    const gateway = new TestPaymentGateway({ clock: new ManualClock(NOW) });
    const { sessionId } = await gateway.createCheckout(checkoutRequest());
    const { payment } = gateway.pay(sessionId) as { payment: { paymentId: string } };
    const request = {
      bookingId: 'b1',
      paymentId: payment.paymentId,
      amount: 5000,
      currency: 'eur',
      idempotencyKey: 'r1',
    };
    const { providerRefundId } = await gateway.refund(request);
    expect(gateway.updateRefund(providerRefundId, { status: 'failed' })).toMatchObject({
      type: 'refund.updated',
      providerRefundId,
      refundId: 'r1',
      status: 'failed',
    });
    expect(await gateway.refund(request)).toEqual({ providerRefundId, status: 'failed' });
    // A failed refund gave nothing back, so the whole payment can be refunded under a new key.
    expect(await gateway.refund({ ...request, idempotencyKey: 'r2' })).toMatchObject({ status: 'succeeded' });
  });
});
