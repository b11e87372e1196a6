// The PaymentGateway conformance suite: every gateway runs exactly these tests, driven like its provider would be.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isBookingError } from '../../src/domain/errors.js';
import {
  type CheckoutRequest,
  type PaymentGateway,
  RAW_BODY_HINT,
  type WebhookRequest,
} from '../../src/ports/payment-gateway.js';
import type { ManualClock } from '../../src/testing/manual-clock.js';
import { booking, checkoutRequest, NOW, PATIENT } from '../stripe/gateway-fixtures.js';

/** What the provider does outside careslot's calls, for one gateway; each webhook is signed at the clock's now. */
export interface GatewayDriver {
  readonly gateway: PaymentGateway;
  /** The clock the gateway and its provider read; the suite starts it at `NOW`. */
  readonly clock: ManualClock;
  /** How many customers, sessions and refunds the provider holds. */
  customers(): number;
  sessions(): number;
  refunds(): number;
  /** The patient pays by card on the hosted page; the provider's webhook for it. */
  pay(sessionId: string): Promise<WebhookRequest>;
  /** The patient completes the page with a delayed method (a bank debit): no money yet. */
  payDelayed(sessionId: string): Promise<void>;
  /** The delayed payment settles or fails; the provider's webhook for it. */
  settleDelayed(sessionId: string, outcome: { succeed: boolean }): Promise<WebhookRequest>;
  /** The provider's own deadline for the session passes; its webhook. */
  expire(sessionId: string): Promise<WebhookRequest>;
  /** The provider reports the state of a refund; its webhook. */
  refundUpdated(providerRefundId: string): Promise<WebhookRequest>;
}

export interface GatewayHarness {
  /** A gateway whose provider holds nothing, its clock at `NOW` (called before each test). */
  fresh(): Promise<GatewayDriver>;
  /** Closes whatever the harness opened. */
  close?(): Promise<void>;
}

const OTHER_BOOKING = '64b0000000000000000000b2';
const OTHER_PATIENT = { ...PATIENT, id: '64b0000000000000000000a2', name: 'Otto Other', email: 'otto@example.test' };
const SUCCESS_URL = 'https://clinic.example/booked';
const CANCEL_URL = 'https://clinic.example/cancelled';
const MINUTE = 60_000;

/** A checkout request as the engine makes it: booked at NOW, a 15-minute hold, return URLs resolved. */
function request(overrides: Partial<CheckoutRequest> = {}): CheckoutRequest {
  return checkoutRequest({ successUrl: SUCCESS_URL, cancelUrl: CANCEL_URL, ...overrides });
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    expect(isBookingError(error), `expected a BookingError, got ${String(error)}`).toBe(true);
    return error as { code: string; message: string };
  }
  throw new Error('expected the promise to reject');
}

export function describeGatewayConformance(name: string, harness: GatewayHarness): void {
  describe(`PaymentGateway conformance: ${name}`, () => {
    let driver: GatewayDriver;
    let gateway: PaymentGateway;
    beforeEach(async () => {
      driver = await harness.fresh();
      driver.clock.set(NOW);
      gateway = driver.gateway;
    });
    afterAll(async () => {
      await harness.close?.();
    });

    /** An open session for the fixture booking. */
    const open = async (overrides: Partial<CheckoutRequest> = {}) => gateway.createCheckout(request(overrides));
    /** A session the patient paid by card, and its payment as retrieveCheckout reports it. */
    const paid = async () => {
      const { sessionId } = await open();
      const webhook = await driver.pay(sessionId);
      const { payment } = await gateway.retrieveCheckout({ sessionId });
      if (!payment) throw new Error('a paid session must carry its payment');
      return { sessionId, payment, webhook };
    };

    describe('customers', () => {
      it('creates one customer per patient: asking again, or twice at once, gives the same id', async () => {
        const first = await gateway.ensureCustomer({ patient: PATIENT, customerId: null });
        const [again, concurrent] = await Promise.all([
          gateway.ensureCustomer({ patient: PATIENT, customerId: null }),
          gateway.ensureCustomer({ patient: PATIENT, customerId: null }),
        ]);
        expect(first).toEqual(expect.any(String));
        expect(again).toBe(first);
        expect(concurrent).toBe(first);
        expect(driver.customers()).toBe(1);
      });

      it('gives two patients two customers', async () => {
        const ada = await gateway.ensureCustomer({ patient: PATIENT, customerId: null });
        const otto = await gateway.ensureCustomer({ patient: OTHER_PATIENT, customerId: null });
        expect(otto).not.toBe(ada);
        expect(driver.customers()).toBe(2);
      });

      it('returns the customer id the host stored without creating a customer', async () => {
        expect(await gateway.ensureCustomer({ patient: PATIENT, customerId: 'cus_stored' })).toBe('cus_stored');
        expect(driver.customers()).toBe(0);
      });
    });

    describe('checkout sessions', () => {
      it('opens a session with an id and an absolute hosted url, open and without a payment', async () => {
        const customerId = await gateway.ensureCustomer({ patient: PATIENT, customerId: null });
        const session = await open({ customerId });
        expect(session.sessionId).toEqual(expect.any(String));
        expect(session.sessionId.length).toBeGreaterThan(0);
        expect(URL.canParse(session.url)).toBe(true);
        expect(session.url).toMatch(/^https?:\/\//);
        expect(await gateway.retrieveCheckout({ sessionId: session.sessionId })).toEqual({
          sessionId: session.sessionId,
          status: 'open',
          payment: null,
        });
      });

      it('returns the same session for the same idempotency key, and a new one for another key', async () => {
        const first = await open();
        const retried = await open();
        expect(retried).toEqual(first);
        expect(driver.sessions()).toBe(1);
        const other = await open({
          booking: booking({ id: OTHER_BOOKING }),
          idempotencyKey: `checkout-${OTHER_BOOKING}`,
        });
        expect(other.sessionId).not.toBe(first.sessionId);
        expect(driver.sessions()).toBe(2);
      });

      it('keeps a session open minSessionMinutes (31 by default) past a shorter hold, and until a longer hold ends', async () => {
        const short = await open({ holdExpiresAt: new Date(NOW.getTime() + 15 * MINUTE) });
        expect(short.expiresAt).toEqual(new Date(NOW.getTime() + 31 * MINUTE));
        const longHold = new Date(NOW.getTime() + 90 * MINUTE);
        const long = await open({
          booking: booking({ id: OTHER_BOOKING, holdExpiresAt: longHold }),
          holdExpiresAt: longHold,
          idempotencyKey: `checkout-${OTHER_BOOKING}`,
        });
        expect(long.expiresAt).toEqual(longHold);
      });
    });

    describe('closing and reading sessions', () => {
      it('expires an open session, says expired again when called twice, and reads it back as expired', async () => {
        const { sessionId } = await open();
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
        expect(await gateway.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'expired', payment: null });
      });

      it('says expired for a session the provider already expired itself', async () => {
        const { sessionId } = await open();
        await driver.expire(sessionId);
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
        expect(await gateway.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'expired', payment: null });
      });

      it('reports the payment when the patient paid before the session could be closed, and keeps it complete', async () => {
        const { sessionId, payment } = await paid();
        expect(payment).toEqual({ paymentId: expect.any(String), amount: 5000, currency: 'eur' });
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'paid', payment });
        expect(await gateway.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment });
      });

      it('reports processing while a delayed payment method settles (complete, no payment yet), then paid once it has', async () => {
        const { sessionId } = await open();
        await driver.payDelayed(sessionId);
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'processing' });
        expect(await gateway.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment: null });
        await driver.settleDelayed(sessionId, { succeed: true });
        const settled = await gateway.retrieveCheckout({ sessionId });
        expect(settled).toEqual({
          sessionId,
          status: 'complete',
          payment: { paymentId: expect.any(String), amount: 5000, currency: 'eur' },
        });
        expect(await gateway.expireCheckout({ sessionId })).toEqual({ outcome: 'paid', payment: settled.payment });
      });

      it('never reports a payment for a delayed payment that failed', async () => {
        const { sessionId } = await open();
        await driver.payDelayed(sessionId);
        await driver.settleDelayed(sessionId, { succeed: false });
        expect(await gateway.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment: null });
        expect(await gateway.expireCheckout({ sessionId })).not.toHaveProperty('payment');
      });

      it('fails with PAYMENT_PROVIDER_ERROR for a session the provider does not know', async () => {
        expect(await rejection(gateway.retrieveCheckout({ sessionId: 'cs_missing' }))).toMatchObject({
          code: 'PAYMENT_PROVIDER_ERROR',
        });
        expect(await rejection(gateway.expireCheckout({ sessionId: 'cs_missing' }))).toMatchObject({
          code: 'PAYMENT_PROVIDER_ERROR',
        });
      });
    });

    describe('refunds', () => {
      const refundOf = (paymentId: string, amount: number, idempotencyKey: string) => ({
        bookingId: checkoutRequest().booking.id,
        paymentId,
        amount,
        currency: 'eur',
        idempotencyKey,
        reason: 'requested_by_customer',
      });

      it('refunds a payment once per idempotency key, however often the same refund is asked for', async () => {
        const { payment } = await paid();
        const first = await gateway.refund(refundOf(payment.paymentId, 2000, 'refund-r1'));
        const again = await gateway.refund(refundOf(payment.paymentId, 2000, 'refund-r1'));
        expect(first).toEqual({ providerRefundId: expect.any(String), status: 'succeeded' });
        expect(again).toEqual(first);
        expect(driver.refunds()).toBe(1);
      });

      it('refunds in parts under different keys up to what was paid, and refuses more', async () => {
        const { payment } = await paid();
        const a = await gateway.refund(refundOf(payment.paymentId, 2000, 'refund-a'));
        const b = await gateway.refund(refundOf(payment.paymentId, 3000, 'refund-b'));
        expect(b.providerRefundId).not.toBe(a.providerRefundId);
        expect(driver.refunds()).toBe(2);
        expect(await rejection(gateway.refund(refundOf(payment.paymentId, 1, 'refund-c')))).toMatchObject({
          code: 'PAYMENT_PROVIDER_ERROR',
        });
        expect(driver.refunds()).toBe(2);
      });

      it('fails with PAYMENT_PROVIDER_ERROR for a payment the provider does not know', async () => {
        expect(await rejection(gateway.refund(refundOf('pi_missing', 100, 'refund-x')))).toMatchObject({
          code: 'PAYMENT_PROVIDER_ERROR',
        });
      });
    });

    describe('webhooks', () => {
      const bookingId = checkoutRequest().booking.id;

      it('normalizes a card payment to payment.succeeded with the payment the session reports', async () => {
        const { sessionId, payment, webhook } = await paid();
        expect(await gateway.parseWebhook(webhook)).toEqual({
          kind: 'event',
          event: { type: 'payment.succeeded', id: expect.any(String), bookingId, sessionId, payment },
        });
      });

      it('normalizes a delayed payment that settled to payment.succeeded, and one that failed to payment.failed', async () => {
        const { sessionId } = await open();
        await driver.payDelayed(sessionId);
        const settled = await gateway.parseWebhook(await driver.settleDelayed(sessionId, { succeed: true }));
        const { payment } = await gateway.retrieveCheckout({ sessionId });
        expect(settled).toEqual({
          kind: 'event',
          event: { type: 'payment.succeeded', id: expect.any(String), bookingId, sessionId, payment },
        });

        const other = await open({
          booking: booking({ id: OTHER_BOOKING }),
          idempotencyKey: `checkout-${OTHER_BOOKING}`,
        });
        await driver.payDelayed(other.sessionId);
        const failed = await gateway.parseWebhook(await driver.settleDelayed(other.sessionId, { succeed: false }));
        expect(failed).toEqual({
          kind: 'event',
          event: {
            type: 'payment.failed',
            id: expect.any(String),
            bookingId: OTHER_BOOKING,
            sessionId: other.sessionId,
            reason: expect.any(String),
          },
        });
      });

      it("normalizes the provider's own expiry to checkout.expired", async () => {
        const { sessionId } = await open();
        expect(await gateway.parseWebhook(await driver.expire(sessionId))).toEqual({
          kind: 'event',
          event: { type: 'checkout.expired', id: expect.any(String), bookingId, sessionId },
        });
      });

      it("normalizes a refund's update to refund.updated carrying careslot's refund id", async () => {
        const { payment } = await paid();
        const { providerRefundId } = await gateway.refund({
          bookingId,
          paymentId: payment.paymentId,
          amount: 1500,
          currency: 'eur',
          idempotencyKey: 'refund-r1',
        });
        expect(await gateway.parseWebhook(await driver.refundUpdated(providerRefundId))).toEqual({
          kind: 'event',
          event: {
            type: 'refund.updated',
            id: expect.any(String),
            paymentId: payment.paymentId,
            providerRefundId,
            refundId: 'refund-r1',
            amount: 1500,
            currency: 'eur',
            status: 'succeeded',
          },
        });
      });

      it('gives every event its own id', async () => {
        const { sessionId, webhook } = await paid();
        const { providerRefundId } = await gateway.refund({
          bookingId,
          paymentId: (await gateway.retrieveCheckout({ sessionId })).payment?.paymentId ?? '',
          amount: 100,
          currency: 'eur',
          idempotencyKey: 'refund-r1',
        });
        const other = await open({
          booking: booking({ id: OTHER_BOOKING }),
          idempotencyKey: `checkout-${OTHER_BOOKING}`,
        });
        const webhooks = [webhook, await driver.refundUpdated(providerRefundId), await driver.expire(other.sessionId)];
        const ids = await Promise.all(
          webhooks.map(async (w) => {
            const parsed = await gateway.parseWebhook(w);
            return parsed.kind === 'event' ? parsed.event.id : parsed.id;
          }),
        );
        expect(new Set(ids).size).toBe(3);
      });

      it('accepts the raw body as bytes as well as a string', async () => {
        const { webhook } = await paid();
        const fromString = await gateway.parseWebhook(webhook);
        const body = typeof webhook.rawBody === 'string' ? new TextEncoder().encode(webhook.rawBody) : webhook.rawBody;
        expect(await gateway.parseWebhook({ ...webhook, rawBody: body })).toEqual(fromString);
      });

      it('refuses a body changed after signing, and a request without a signature, with INVALID_SIGNATURE', async () => {
        const { webhook } = await paid();
        const body = String(webhook.rawBody);
        expect(body).toContain(bookingId);
        const tampered = { ...webhook, rawBody: body.replaceAll(bookingId, OTHER_BOOKING) };
        expect(await rejection(gateway.parseWebhook(tampered))).toMatchObject({ code: 'INVALID_SIGNATURE' });
        const unsigned = { rawBody: body, headers: { 'content-type': 'application/json' } };
        expect(await rejection(gateway.parseWebhook(unsigned))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      });

      it('refuses a signature older than the tolerance (300 s by default) by its clock, and accepts a fresh one', async () => {
        const { webhook } = await paid();
        driver.clock.advance(299_000);
        expect(await gateway.parseWebhook(webhook)).toMatchObject({ kind: 'event' });
        driver.clock.advance(2_000);
        expect(await rejection(gateway.parseWebhook(webhook))).toMatchObject({ code: 'INVALID_SIGNATURE' });
      });

      it('refuses a parsed JSON object with INVALID_INPUT and a message that says to pass the raw body', async () => {
        const { webhook } = await paid();
        const parsed = { rawBody: JSON.parse(String(webhook.rawBody)) as string, headers: webhook.headers };
        const error = await rejection(gateway.parseWebhook(parsed));
        expect(error).toMatchObject({ code: 'INVALID_INPUT' });
        expect(error.message).toBe(RAW_BODY_HINT);
      });
    });
  });
}
