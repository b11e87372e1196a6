// Webhook verification and event mapping with real Stripe signatures: what is trusted, what is refused, what is ignored.
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { StripeCheckoutGateway } from '../../src/adapters/stripe/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { BOOKING_ID, NOW } from './gateway-fixtures.js';
import { signedRequest, stripeEvent, WEBHOOK_SECRET } from './signed-events.js';

const clock = new ManualClock(NOW);
const gateway = new StripeCheckoutGateway({
  stripe: new Stripe('sk_test_offline', { maxNetworkRetries: 0 }),
  webhookSecret: WEBHOOK_SECRET,
  clock,
});

function session(overrides: Record<string, unknown> = {}) {
  return {
    id: 'cs_test_1',
    object: 'checkout.session',
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    payment_intent: 'pi_1',
    amount_total: 5000,
    currency: 'eur',
    client_reference_id: BOOKING_ID,
    metadata: { careslot_booking_id: BOOKING_ID },
    expires_at: 1_900_000_000,
    url: null,
    ...overrides,
  };
}

function refund(overrides: Record<string, unknown> = {}) {
  return {
    id: 're_1',
    object: 'refund',
    amount: 1500,
    currency: 'eur',
    payment_intent: 'pi_1',
    status: 'succeeded',
    metadata: { careslot_refund_id: 'refund-r1' },
    ...overrides,
  };
}

const parse = (event: object, at: Date = NOW) => gateway.parseWebhook(signedRequest(event, { at }));

describe('mapping verified Stripe events', () => {
  it('maps checkout.session.completed with payment_status paid to payment.succeeded', async () => {
    const event = stripeEvent('checkout.session.completed', session(), { id: 'evt_paid' });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: {
        type: 'payment.succeeded',
        id: 'evt_paid',
        bookingId: BOOKING_ID,
        sessionId: 'cs_test_1',
        payment: { paymentId: 'pi_1', amount: 5000, currency: 'eur' },
      },
    });
  });

  it('reads an expanded payment_intent and normalizes the currency to lowercase', async () => {
    const event = stripeEvent(
      'checkout.session.completed',
      session({ payment_intent: { id: 'pi_9' }, currency: 'EUR' }),
    );
    const result = await parse(event);
    expect(result).toMatchObject({ event: { payment: { paymentId: 'pi_9', currency: 'eur' } } });
  });

  it('ignores a completed session whose delayed payment is still processing (unpaid)', async () => {
    const event = stripeEvent('checkout.session.completed', session({ payment_status: 'unpaid' }), { id: 'evt_u' });
    expect(await parse(event)).toEqual({ kind: 'ignored', id: 'evt_u', type: 'checkout.session.completed' });
  });

  it('never confirms a paid booking from a session that required no payment', async () => {
    const event = stripeEvent('checkout.session.completed', session({ payment_status: 'no_payment_required' }));
    expect(await parse(event)).toMatchObject({ kind: 'ignored' });
  });

  it('maps async_payment_succeeded to payment.succeeded', async () => {
    const event = stripeEvent('checkout.session.async_payment_succeeded', session(), { id: 'evt_async' });
    expect(await parse(event)).toMatchObject({ kind: 'event', event: { type: 'payment.succeeded', id: 'evt_async' } });
  });

  it('maps async_payment_failed to payment.failed', async () => {
    const event = stripeEvent('checkout.session.async_payment_failed', session({ payment_status: 'unpaid' }), {
      id: 'evt_fail',
    });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: {
        type: 'payment.failed',
        id: 'evt_fail',
        bookingId: BOOKING_ID,
        sessionId: 'cs_test_1',
        reason: 'async_payment_failed',
      },
    });
  });

  it('maps checkout.session.expired to checkout.expired', async () => {
    const event = stripeEvent('checkout.session.expired', session({ status: 'expired', payment_status: 'unpaid' }), {
      id: 'evt_exp',
    });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: { type: 'checkout.expired', id: 'evt_exp', bookingId: BOOKING_ID, sessionId: 'cs_test_1' },
    });
  });

  it('ignores sessions careslot did not create (no careslot metadata) and non-payment modes', async () => {
    const foreign = stripeEvent('checkout.session.completed', session({ metadata: {} }));
    const noMetadata = stripeEvent('checkout.session.completed', session({ metadata: null }));
    const subscription = stripeEvent('checkout.session.completed', session({ mode: 'subscription' }));
    expect(await parse(foreign)).toMatchObject({ kind: 'ignored' });
    expect(await parse(noMetadata)).toMatchObject({ kind: 'ignored' });
    expect(await parse(subscription)).toMatchObject({ kind: 'ignored' });
  });

  it('maps a completed session without amount_total to a payment of amount null, for the engine to refund as a mismatch', async () => {
    const event = stripeEvent('checkout.session.completed', session({ amount_total: null }), { id: 'evt_nototal' });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: {
        type: 'payment.succeeded',
        id: 'evt_nototal',
        bookingId: BOOKING_ID,
        sessionId: 'cs_test_1',
        payment: { paymentId: 'pi_1', amount: null, currency: 'eur' },
      },
    });
  });

  it.each([
    ['a number', 12345],
    ['an object', { $oid: BOOKING_ID }],
    ['an empty string', ''],
    ['an oversized string (256 characters)', 'b'.repeat(256)],
  ])('normalizes a booking id in metadata that is %s to bookingId null, keeping the session id', async (_, value) => {
    const event = stripeEvent('checkout.session.completed', session({ metadata: { careslot_booking_id: value } }), {
      id: 'evt_badid',
    });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: {
        type: 'payment.succeeded',
        id: 'evt_badid',
        bookingId: null,
        sessionId: 'cs_test_1',
        payment: { paymentId: 'pi_1', amount: 5000, currency: 'eur' },
      },
    });
  });

  it('passes a booking id of 255 characters through unchanged', async () => {
    const id = 'b'.repeat(255);
    const event = stripeEvent('checkout.session.expired', session({ metadata: { careslot_booking_id: id } }));
    expect(await parse(event)).toMatchObject({ event: { bookingId: id } });
  });

  it('normalizes an unusable careslot refund id in refund metadata to refundId null', async () => {
    const event = stripeEvent('refund.updated', refund({ metadata: { careslot_refund_id: 'r'.repeat(300) } }));
    expect(await parse(event)).toMatchObject({ kind: 'event', event: { type: 'refund.updated', refundId: null } });
  });

  it('maps refund events with the careslot refund id carried in metadata', async () => {
    const event = stripeEvent('refund.updated', refund(), { id: 'evt_re' });
    expect(await parse(event)).toEqual({
      kind: 'event',
      event: {
        type: 'refund.updated',
        id: 'evt_re',
        paymentId: 'pi_1',
        providerRefundId: 're_1',
        refundId: 'refund-r1',
        amount: 1500,
        currency: 'eur',
        status: 'succeeded',
      },
    });
  });

  it('maps a Dashboard refund (no metadata) with refundId null, and failed or canceled ones as failed', async () => {
    const created = await parse(stripeEvent('refund.created', refund({ metadata: {}, status: 'pending' })));
    const failed = await parse(stripeEvent('refund.failed', refund({ status: 'failed' })));
    const canceled = await parse(stripeEvent('refund.updated', refund({ status: 'canceled' })));
    expect(created).toMatchObject({ event: { refundId: null, status: 'pending' } });
    expect(failed).toMatchObject({ event: { status: 'failed' } });
    expect(canceled).toMatchObject({ event: { status: 'failed' } });
  });

  it('acknowledges charge.refunded and other types without action (refund events are the one source)', async () => {
    for (const type of ['charge.refunded', 'payment_intent.succeeded', 'customer.created']) {
      const event = stripeEvent(type, { id: 'obj_1', object: 'x' }, { id: `evt_${type}` });
      expect(await parse(event)).toEqual({ kind: 'ignored', id: `evt_${type}`, type });
    }
  });
});

describe('refusing what cannot be trusted', () => {
  const event = stripeEvent('checkout.session.completed', session());

  it('refuses a signature made with another secret', async () => {
    const forged = signedRequest(event, { at: NOW, secret: 'whsec_attacker' });
    const error = await rejectionOf(gateway.parseWebhook(forged));
    expect(error).toMatchObject({ code: 'INVALID_SIGNATURE', status: 400 });
    expect(error.cause).toMatchObject({ type: 'StripeSignatureVerificationError' });
  });

  it('refuses a body changed after signing', async () => {
    const request = signedRequest(event, { at: NOW });
    const tampered = { ...request, rawBody: request.rawBody.replace('5000', '1') };
    expect(await rejectionOf(gateway.parseWebhook(tampered))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('refuses a signature older than the tolerance, judged by the injected clock', async () => {
    const stale = signedRequest(event, { at: new Date(NOW.getTime() - 301_000) });
    const error = await rejectionOf(gateway.parseWebhook(stale));
    expect(error).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(error.message).toContain('tolerance');
    const fresh = signedRequest(event, { at: new Date(NOW.getTime() - 299_000) });
    expect(await gateway.parseWebhook(fresh)).toMatchObject({ kind: 'event' });
  });

  it('honours a custom tolerance', async () => {
    const strict = new StripeCheckoutGateway({
      stripe: new Stripe('sk_test_offline'),
      webhookSecret: WEBHOOK_SECRET,
      toleranceSeconds: 10,
      clock,
    });
    const request = signedRequest(event, { at: new Date(NOW.getTime() - 11_000) });
    expect(await rejectionOf(strict.parseWebhook(request))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('refuses a request without a stripe-signature header', async () => {
    const { rawBody } = signedRequest(event, { at: NOW });
    const error = await rejectionOf(gateway.parseWebhook({ rawBody, headers: { 'content-type': 'application/json' } }));
    expect(error).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(error.message).toContain('stripe-signature');
  });

  it('refuses a parsed JSON object with a message that says to pass the raw body', async () => {
    const request = signedRequest(event, { at: NOW });
    const parsed = { rawBody: JSON.parse(request.rawBody) as string, headers: request.headers };
    const error = await rejectionOf(gateway.parseWebhook(parsed));
    expect(error).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(error.message).toContain('express.raw({ type: "application/json" })');
  });

  it('refuses a correctly signed body that is not JSON', async () => {
    const request = signedRequest('not json at all', { at: NOW });
    expect(await rejectionOf(gateway.parseWebhook(request))).toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('refuses signed JSON that is not a Stripe event', async () => {
    const request = signedRequest({ hello: 'world' }, { at: NOW });
    expect(await rejectionOf(gateway.parseWebhook(request))).toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('accepts the raw body as bytes and the header in any letter case', async () => {
    const request = signedRequest(event, { at: NOW });
    const result = await gateway.parseWebhook({
      rawBody: new TextEncoder().encode(request.rawBody),
      headers: { 'Stripe-Signature': request.headers['stripe-signature'] },
    });
    expect(result).toMatchObject({ kind: 'event', event: { type: 'payment.succeeded' } });
  });
});
