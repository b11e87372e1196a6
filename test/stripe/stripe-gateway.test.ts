// StripeCheckoutGateway over HTTP against the local fake: exact parameters, idempotency keys, error mapping, retries.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StripeCheckoutGateway, type StripeCheckoutGatewayOptions } from '../../src/adapters/stripe/index.js';
import { isBookingError } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { FakeStripeServer } from './fake-stripe-server.js';
import { BOOKING_ID, booking, checkoutRequest, DOCTOR_ID, NOW, PATIENT, SCHEDULE_ID } from './gateway-fixtures.js';
import { WEBHOOK_SECRET } from './signed-events.js';

let fake: FakeStripeServer;
const clock = new ManualClock(NOW);

beforeAll(async () => {
  fake = await FakeStripeServer.start({ now: () => clock.now() });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  clock.set(NOW);
});

function gateway(options: Partial<StripeCheckoutGatewayOptions> & { retries?: number } = {}): StripeCheckoutGateway {
  const { retries, ...rest } = options;
  return new StripeCheckoutGateway({
    stripe: fake.client({ maxNetworkRetries: retries ?? 0 }),
    webhookSecret: WEBHOOK_SECRET,
    successUrl: 'https://clinic.example/paid',
    cancelUrl: 'https://clinic.example/cancelled',
    clock,
    ...rest,
  });
}

/** A session the patient has paid on the fake; returns its PaymentIntent id. */
async function paidSession(
  g: StripeCheckoutGateway,
  amount?: number,
): Promise<{ sessionId: string; paymentId: string }> {
  const { sessionId } = await g.createCheckout(checkoutRequest());
  const session = fake.completeSession(sessionId, amount === undefined ? {} : { amount });
  return { sessionId, paymentId: session.payment_intent ?? '' };
}

describe('customers', () => {
  it('creates the customer with name, email, patient metadata and a per-patient idempotency key', async () => {
    const id = await gateway().ensureCustomer({ patient: PATIENT, customerId: null });
    const [request] = fake.requestsTo('POST', '/v1/customers');
    expect(request?.params).toEqual({
      name: 'Ada Standard',
      email: 'ada@example.test',
      'metadata[careslot_patient_id]': PATIENT.id,
    });
    expect(request?.idempotencyKey).toBe(`careslot-customer-${PATIENT.id}`);
    expect(fake.customers.has(id ?? '')).toBe(true);
  });

  it('reuses the stored customer without calling Stripe', async () => {
    const id = await gateway().ensureCustomer({ patient: PATIENT, customerId: 'cus_stored' });
    expect(id).toBe('cus_stored');
    expect(fake.requests).toHaveLength(0);
  });

  it('creates one customer when two first bookings of the same patient race', async () => {
    const g = gateway();
    const ids = await Promise.all([
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
    ]);
    expect(ids[0]).toBe(ids[1]);
    expect(fake.customers.size).toBe(1);
    expect(fake.requestsTo('POST', '/v1/customers').map((r) => r.idempotencyKey)).toEqual([
      `careslot-customer-${PATIENT.id}`,
      `careslot-customer-${PATIENT.id}`,
    ]);
  });

  it('retries an in-flight key conflict (409) with the same key instead of creating a second customer', async () => {
    const conflict = {
      status: 409,
      body: { error: { type: 'idempotency_error', message: 'There is currently another in-progress request.' } },
    };
    fake.failNext('POST', '/v1/customers', conflict);
    const id = await gateway({ retries: 1 }).ensureCustomer({ patient: PATIENT, customerId: null });
    expect(fake.customers.size).toBe(1);
    expect(fake.customers.has(id ?? '')).toBe(true);
    expect(new Set(fake.requestsTo('POST', '/v1/customers').map((r) => r.idempotencyKey))).toEqual(
      new Set([`careslot-customer-${PATIENT.id}`]),
    );

    fake.failNext('POST', '/v1/customers', conflict);
    const error = await rejectionOf(gateway().ensureCustomer({ patient: PATIENT, customerId: null }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.cause).toMatchObject({ statusCode: 409 });
    expect(fake.customers.size).toBe(1);
  });

  it('omits the email of a patient without one', async () => {
    await gateway().ensureCustomer({ patient: { ...PATIENT, email: null }, customerId: null });
    expect(fake.requestsTo('POST', '/v1/customers')[0]?.params).not.toHaveProperty('email');
  });

  it('still creates the customer when the patient changed details within the key lifetime', async () => {
    const g = gateway();
    const first = await g.ensureCustomer({ patient: PATIENT, customerId: null });
    const second = await g.ensureCustomer({ patient: { ...PATIENT, name: 'Ada Renamed' }, customerId: null });
    expect(second).not.toBe(first);
    const keys = fake.requestsTo('POST', '/v1/customers').map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(3);
    expect(keys[2]).toMatch(new RegExp(`^careslot-customer-${PATIENT.id}-[0-9a-f]{16}$`));
  });
});

describe('Checkout Sessions', () => {
  it('sends the exact payment-mode parameters and the per-booking idempotency key', async () => {
    fake.customers.set('cus_known', {});
    const session = await gateway().createCheckout(checkoutRequest({ customerId: 'cus_known' }));
    const [request] = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(request?.idempotencyKey).toBe(`careslot-checkout-${BOOKING_ID}`);
    const expiresAt = Math.floor(NOW.getTime() / 1000) + 31 * 60;
    expect(request?.params).toEqual({
      mode: 'payment',
      'line_items[0][quantity]': '1',
      'line_items[0][price_data][currency]': 'eur',
      'line_items[0][price_data][unit_amount]': '5000',
      'line_items[0][price_data][product_data][name]': 'Appointment 2030-03-02 09:00 (Europe/Berlin)',
      client_reference_id: BOOKING_ID,
      'metadata[careslot_booking_id]': BOOKING_ID,
      'metadata[careslot_schedule_id]': SCHEDULE_ID,
      'metadata[careslot_patient_id]': PATIENT.id,
      'metadata[careslot_doctor_id]': DOCTOR_ID,
      'payment_intent_data[metadata][careslot_booking_id]': BOOKING_ID,
      'payment_intent_data[metadata][careslot_schedule_id]': SCHEDULE_ID,
      'payment_intent_data[metadata][careslot_patient_id]': PATIENT.id,
      'payment_intent_data[metadata][careslot_doctor_id]': DOCTOR_ID,
      expires_at: String(expiresAt),
      customer: 'cus_known',
      success_url: 'https://clinic.example/paid',
      cancel_url: 'https://clinic.example/cancelled',
    });
    expect(session.sessionId).toMatch(/^cs_test_/);
    expect(session.url).toBe(`https://checkout.stripe.test/c/pay/${session.sessionId}`);
    expect(session.expiresAt).toEqual(new Date(expiresAt * 1000));
  });

  it("asks for Stripe's 30-minute minimum plus a minute when the hold is shorter", async () => {
    await gateway().createCheckout(checkoutRequest({ holdExpiresAt: new Date(NOW.getTime() + 15 * 60_000) }));
    const sent = Number(fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params.expires_at);
    expect(sent - NOW.getTime() / 1000).toBe(31 * 60);
  });

  it('keeps the session open until the hold ends when the hold is longer than the minimum', async () => {
    const hold = new Date(NOW.getTime() + 90 * 60_000);
    const session = await gateway().createCheckout(checkoutRequest({ holdExpiresAt: hold }));
    expect(session.expiresAt).toEqual(hold);
  });

  it("caps the session life inside Stripe's 24 hours", async () => {
    const hold = new Date(NOW.getTime() + 48 * 3600_000);
    const session = await gateway().createCheckout(checkoutRequest({ holdExpiresAt: hold }));
    expect(session.expiresAt.getTime() - NOW.getTime()).toBe(24 * 3600_000 - 60_000);
  });

  it('sends identical parameters when the same booking is retried later, so Stripe replays one session', async () => {
    const g = gateway();
    const first = await g.createCheckout(checkoutRequest());
    clock.advance(20_000);
    const second = await g.createCheckout(checkoutRequest());
    const [a, b] = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(b?.params).toEqual(a?.params);
    expect(second.sessionId).toBe(first.sessionId);
  });

  it("still asks for Stripe's 30 minutes from now when the session is created long after the booking", async () => {
    clock.advanceMinutes(5);
    await gateway().createCheckout(checkoutRequest());
    const sent = Number(fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params.expires_at);
    expect(sent - clock.now().getTime() / 1000).toBe(30 * 60 + 10);
  });

  it("prefers the request's return URLs (book()'s, else the engine's) over the deprecated gateway options", async () => {
    await gateway().createCheckout(
      checkoutRequest({ successUrl: 'https://app.example/ok', cancelUrl: 'https://app.example/back' }),
    );
    const params = fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params;
    expect(params?.success_url).toBe('https://app.example/ok');
    expect(params?.cancel_url).toBe('https://app.example/back');
  });

  it('falls back to the deprecated gateway URL options, each on its own, only when the request has none', async () => {
    await gateway().createCheckout(checkoutRequest({ successUrl: 'https://app.example/ok' }));
    const params = fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params;
    expect(params?.success_url).toBe('https://app.example/ok');
    expect(params?.cancel_url).toBe('https://clinic.example/cancelled');
  });

  it("sends the request's return URLs as they are when the gateway has no URL options", async () => {
    await gateway({ successUrl: undefined, cancelUrl: undefined }).createCheckout(
      checkoutRequest({ successUrl: 'https://app.example/ok', cancelUrl: 'https://app.example/back' }),
    );
    const params = fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params;
    expect(params?.success_url).toBe('https://app.example/ok');
    expect(params?.cancel_url).toBe('https://app.example/back');
  });

  it('prefills the email when the patient has no Stripe customer', async () => {
    await gateway().createCheckout(checkoutRequest({ customerId: null }));
    const params = fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params;
    expect(params?.customer_email).toBe('ada@example.test');
    expect(params).not.toHaveProperty('customer');
  });

  it('uses a custom line item name and idempotency key prefix', async () => {
    await gateway({ lineItemName: () => 'Video consultation', idempotencyKeyPrefix: 'clinicA:' }).createCheckout(
      checkoutRequest(),
    );
    const [request] = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(request?.params['line_items[0][price_data][product_data][name]']).toBe('Video consultation');
    expect(request?.idempotencyKey).toBe(`clinicA:checkout-${BOOKING_ID}`);
  });

  it('returns the same session when the same booking is sent twice (idempotency replay)', async () => {
    const g = gateway();
    const first = await g.createCheckout(checkoutRequest());
    const second = await g.createCheckout(checkoutRequest());
    expect(second.sessionId).toBe(first.sessionId);
    expect(fake.sessions.size).toBe(1);
  });

  it('hashes idempotency keys that would exceed 255 characters, stably', async () => {
    const g = gateway();
    const request = checkoutRequest({ idempotencyKey: `checkout-${'x'.repeat(300)}` });
    await g.createCheckout(request);
    await g.createCheckout(request);
    const keys = fake.requestsTo('POST', '/v1/checkout/sessions').map((r) => r.idempotencyKey ?? '');
    expect(keys[0]).toMatch(/^careslot-sha256-[0-9a-f]{64}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  it('maps a 400 to PAYMENT_PROVIDER_ERROR with the Stripe error as cause, without retrying', async () => {
    fake.failNext('POST', '/v1/checkout/sessions', {
      status: 400,
      body: { error: { type: 'invalid_request_error', message: 'Invalid currency: xyz.', param: 'currency' } },
    });
    const error = await rejectionOf(gateway({ retries: 2 }).createCheckout(checkoutRequest()));
    expect(isBookingError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR', status: 502 });
    expect(error.message).toContain('Invalid currency: xyz.');
    expect(error.cause).toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 400 });
    expect((error as { details?: unknown }).details).toMatchObject({
      statusCode: 400,
      stripeType: 'StripeInvalidRequestError',
    });
    expect(fake.requestsTo('POST', '/v1/checkout/sessions')).toHaveLength(1);
  });

  it('maps a 500 that outlasts the retries to PAYMENT_PROVIDER_ERROR with a StripeAPIError cause', async () => {
    fake.failNext('POST', '/v1/checkout/sessions', {
      status: 500,
      body: { error: { type: 'api_error', message: 'Something went wrong on our end.' } },
    });
    const error = await rejectionOf(gateway().createCheckout(checkoutRequest()));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.cause).toMatchObject({ type: 'StripeAPIError', statusCode: 500 });
  });

  it('retries a 500 with the same idempotency key and opens exactly one session', async () => {
    fake.failNext('POST', '/v1/checkout/sessions', {
      status: 500,
      body: { error: { type: 'api_error', message: 'Something went wrong on our end.' } },
    });
    const session = await gateway({ retries: 1 }).createCheckout(checkoutRequest());
    const requests = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.idempotencyKey)).toEqual([
      `careslot-checkout-${BOOKING_ID}`,
      `careslot-checkout-${BOOKING_ID}`,
    ]);
    expect([...fake.sessions.keys()]).toEqual([session.sessionId]);
  });

  it('refuses a session without a hosted url', async () => {
    fake.failNext('POST', '/v1/checkout/sessions', {
      status: 200,
      body: { id: 'cs_test_embedded', object: 'checkout.session', url: null, expires_at: 1_900_000_000 },
    });
    const error = await rejectionOf(gateway().createCheckout(checkoutRequest()));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.message).toContain('without a url');
  });
});

describe('expiring and retrieving sessions', () => {
  it('expires an open session', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
    expect(fake.session(sessionId).status).toBe('expired');
    expect(fake.requestsTo('POST', `/v1/checkout/sessions/${sessionId}/expire`)).toHaveLength(1);
  });

  it('reports expired again when called twice', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    await g.expireCheckout({ sessionId });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
  });

  it('reports the payment when the session was paid before it could be expired', async () => {
    const g = gateway();
    const { sessionId, paymentId } = await paidSession(g);
    expect(await g.expireCheckout({ sessionId })).toEqual({
      outcome: 'paid',
      payment: { paymentId, amount: 5000, currency: 'eur' },
    });
    expect(fake.session(sessionId).status).toBe('complete');
    expect(fake.requestsTo('GET', `/v1/checkout/sessions/${sessionId}`)).toHaveLength(1);
  });

  it('reports processing when a delayed payment method is still settling', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'processing' });
  });

  it('lets the hold go when a completed session required no payment', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.completeSession(sessionId, { paymentStatus: 'no_payment_required' });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
  });

  it('throws PAYMENT_PROVIDER_ERROR when Stripe is down and the session is still open', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.failNext('POST', /\/expire$/, { status: 503, body: { error: { type: 'api_error', message: 'Unavailable' } } });
    const error = await rejectionOf(g.expireCheckout({ sessionId }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.cause).toMatchObject({ statusCode: 503 });
    expect(fake.session(sessionId).status).toBe('open');
  });

  it('retrieves an open session without payment and a paid one with its payment', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    expect(await g.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'open', payment: null });
    const { payment_intent } = fake.completeSession(sessionId);
    expect(await g.retrieveCheckout({ sessionId })).toEqual({
      sessionId,
      status: 'complete',
      payment: { paymentId: payment_intent, amount: 5000, currency: 'eur' },
    });
  });

  it('maps an unknown session to PAYMENT_PROVIDER_ERROR with the 404 as cause', async () => {
    const error = await rejectionOf(gateway().retrieveCheckout({ sessionId: 'cs_test_missing' }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.cause).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});

describe('refunds', () => {
  it('refunds in full with the careslot refund id as metadata and idempotency key', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    const result = await g.refund({
      bookingId: BOOKING_ID,
      paymentId,
      amount: 5000,
      currency: 'eur',
      idempotencyKey: 'refund-r1',
      reason: 'requested_by_customer',
    });
    const [request] = fake.requestsTo('POST', '/v1/refunds');
    expect(request?.params).toEqual({
      payment_intent: paymentId,
      amount: '5000',
      reason: 'requested_by_customer',
      'metadata[careslot_refund_id]': 'refund-r1',
      'metadata[careslot_booking_id]': BOOKING_ID,
    });
    expect(request?.idempotencyKey).toBe('careslot-refund-refund-r1');
    expect(result).toEqual({ providerRefundId: expect.stringMatching(/^re_/), status: 'succeeded' });
  });

  it('refunds part of a payment and keeps a careslot reason Stripe does not know in metadata', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    await g.refund({
      bookingId: BOOKING_ID,
      paymentId,
      amount: 1500,
      currency: 'eur',
      idempotencyKey: 'late-r2',
      reason: 'late_payment',
    });
    const params = fake.requestsTo('POST', '/v1/refunds')[0]?.params;
    expect(params?.amount).toBe('1500');
    expect(params).not.toHaveProperty('reason');
    expect(params?.['metadata[careslot_reason]']).toBe('late_payment');
    expect([...fake.refunds.values()].map((r) => r.amount)).toEqual([1500]);
  });

  it('refunds at most once per careslot refund id, even after the idempotency key has lapsed', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    const request = { bookingId: BOOKING_ID, paymentId, amount: 1000, currency: 'eur', idempotencyKey: 'r3' };
    const first = await g.refund(request);
    fake.honourIdempotency = false; // Stripe forgets keys after 24 hours
    const second = await g.refund(request);
    expect(second.providerRefundId).toBe(first.providerRefundId);
    expect(fake.refunds.size).toBe(1);
    expect(fake.requestsTo('GET', '/v1/refunds')[0]?.params).toEqual({ payment_intent: paymentId, limit: '100' });
  });

  it('maps a refund larger than what is left to PAYMENT_PROVIDER_ERROR', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    const error = await rejectionOf(
      g.refund({ bookingId: BOOKING_ID, paymentId, amount: 9000, currency: 'eur', idempotencyKey: 'r4' }),
    );
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(error.cause).toMatchObject({ code: 'amount_too_large', statusCode: 400 });
  });
});

describe('options', () => {
  const stripe = () => fake.client();
  it.each([
    [{ stripe: undefined }, /options.stripe must be a Stripe client/],
    [{ stripe: {} }, /options.stripe must be a Stripe client/],
    [{ webhookSecret: '' }, /webhookSecret is required/],
    [{ webhookSecret: 'sk_test_123' }, /looks like an API key/],
    [{ toleranceSeconds: 0 }, /toleranceSeconds must be a positive whole number/],
    [{ minSessionMinutes: 15 }, /minSessionMinutes must be between 30/],
    [{ successUrl: '/relative' }, /successUrl must be an absolute URL/],
    [{ idempotencyKeyPrefix: 'x'.repeat(65) }, /idempotencyKeyPrefix/],
  ])('fails fast on %o', (override, message) => {
    const options = { stripe: stripe(), webhookSecret: WEBHOOK_SECRET, ...override } as StripeCheckoutGatewayOptions;
    expect(() => new StripeCheckoutGateway(options)).toThrow(message);
  });

  it("names its provider 'stripe'", () => {
    expect(gateway().provider).toBe('stripe');
  });

  it('takes the booking currency in lowercase whatever the case stored', async () => {
    await gateway().createCheckout(checkoutRequest({ booking: booking({ price: { amount: 7000, currency: 'EUR' } }) }));
    const params = fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.params;
    expect(params?.['line_items[0][price_data][currency]']).toBe('eur');
    expect(params?.['line_items[0][price_data][unit_amount]']).toBe('7000');
  });
});
