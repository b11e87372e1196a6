// StripeCheckoutGateway over HTTP against the local fake: exact parameters, idempotency keys, error mapping, retries.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  StripeCheckoutGateway,
  type StripeCheckoutGatewayOptions,
  type StripeClient,
} from '../../src/adapters/stripe/index.js';
import { isBookingError } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { type FakeCustomer, FakeStripeServer } from './fake-stripe-server.js';
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

const API_ERROR = { type: 'api_error', message: 'Something went wrong on our end.' };
const CUSTOMER_KEY = `careslot-customer-${PATIENT.id}`;
const customerKeys = () => fake.requestsTo('POST', '/v1/customers').map((r) => r.idempotencyKey);

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

  it("reuses the patient's customer instead of creating a second one when the details changed within the key lifetime", async () => {
    const g = gateway();
    const first = await g.ensureCustomer({ patient: PATIENT, customerId: null });
    const second = await g.ensureCustomer({ patient: { ...PATIENT, name: 'Ada Renamed' }, customerId: null });
    expect(second).toBe(first);
    expect(fake.customers.size).toBe(1);
    expect(fake.requestsTo('POST', '/v1/customers')).toHaveLength(2);
  });

  it('creates the customer under a key of the new details when the earlier details made none', async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    await rejectionOf(gateway().ensureCustomer({ patient: PATIENT, customerId: null }));
    // Another process, with the patient renamed meanwhile: the plain key refuses the new details.
    const id = await gateway().ensureCustomer({ patient: { ...PATIENT, name: 'Ada Renamed' }, customerId: null });
    expect(fake.customers.get(id ?? '')?.name).toBe('Ada Renamed');
    expect(fake.customers.size).toBe(1);
    expect(customerKeys().at(-1)).toMatch(new RegExp(`^${CUSTOMER_KEY}-[0-9a-f]{16}$`));
  });
});

/** A customer as Stripe would hold it, created at the clock's now unless said otherwise. */
function storedCustomer(id: string, patientId: string, created = clock.now()): FakeCustomer {
  return {
    id,
    object: 'customer',
    name: 'Stored',
    email: null,
    metadata: { careslot_patient_id: patientId },
    created: Math.floor(created.getTime() / 1000),
    livemode: false,
  };
}

describe('customers after a failure Stripe may have kept (saved 5xx, no answer)', () => {
  it("does not block the patient's next booking after a 500 saved before anything was created: it looks, then creates under a fresh key", async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    const g = gateway();
    const error = await rejectionOf(g.ensureCustomer({ patient: PATIENT, customerId: null }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    const id = await g.ensureCustomer({ patient: PATIENT, customerId: null });
    expect(fake.customers.size).toBe(1);
    expect(fake.customers.has(id ?? '')).toBe(true);
    expect(customerKeys()).toEqual([CUSTOMER_KEY, `${CUSTOMER_KEY}-retry1`]);
    // The lookup came before the second create, and found nothing.
    const order = fake.requests.map((r) => `${r.method} ${r.path}`);
    expect(order.indexOf('GET /v1/customers')).toBeLessThan(order.lastIndexOf('POST /v1/customers'));
  });

  it('finds the customer Stripe created before answering 500, and creates none', async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'after-create',
    });
    const g = gateway();
    await rejectionOf(g.ensureCustomer({ patient: PATIENT, customerId: null }));
    const [created] = [...fake.customers.keys()];
    expect(await g.ensureCustomer({ patient: PATIENT, customerId: null })).toBe(created);
    expect(fake.customers.size).toBe(1);
    expect(customerKeys()).toEqual([CUSTOMER_KEY]);
    // Found by the (strongly consistent) list: search has not indexed it yet.
    expect(fake.requestsTo('GET', '/v1/customers')[0]?.params).toMatchObject({ limit: '100' });
    expect(fake.requestsTo('GET', '/v1/customers/search')).toHaveLength(0);
  });

  it('finds the customer when the request landed but no answer came back (network error)', async () => {
    // Stripe ran it and the answer was lost; stripe-node's own resend of a reset connection is lost too.
    fake.failNext('POST', '/v1/customers', { at: 'after-create' });
    fake.failNext('POST', '/v1/customers', { at: 'edge' });
    const g = gateway();
    const error = await rejectionOf(g.ensureCustomer({ patient: PATIENT, customerId: null }));
    expect(error.cause).toMatchObject({ type: 'StripeConnectionError' });
    const [created] = [...fake.customers.keys()];
    expect(await g.ensureCustomer({ patient: PATIENT, customerId: null })).toBe(created);
    expect(fake.customers.size).toBe(1);
  });

  it('resends the same key when no answer came and nothing arrived, and creates one customer', async () => {
    fake.failNext('POST', '/v1/customers', { at: 'edge' }, 2);
    const g = gateway();
    await rejectionOf(g.ensureCustomer({ patient: PATIENT, customerId: null }));
    expect(fake.customers.size).toBe(0);
    const id = await g.ensureCustomer({ patient: PATIENT, customerId: null });
    expect(fake.customers.has(id ?? '')).toBe(true);
    expect(fake.customers.size).toBe(1);
    // Same key throughout: the request might still have been running at Stripe.
    expect(new Set(customerKeys())).toEqual(new Set([CUSTOMER_KEY]));
  });

  it('creates one customer when two attempts race after a saved 500', async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    const g = gateway();
    await rejectionOf(g.ensureCustomer({ patient: PATIENT, customerId: null }));
    const ids = await Promise.all([
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
    ]);
    expect(ids[0]).toBe(ids[1]);
    expect(fake.customers.size).toBe(1);
    expect(customerKeys().slice(1)).toEqual([`${CUSTOMER_KEY}-retry1`, `${CUSTOMER_KEY}-retry1`]);
  });

  it('creates one customer when two first attempts race and Stripe answers the first with 500 after creating', async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'after-create',
    });
    const g = gateway();
    const outcomes = await Promise.allSettled([
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
      g.ensureCustomer({ patient: PATIENT, customerId: null }),
    ]);
    // The one that met the saved 500 (Idempotent-Replayed) found the customer instead of creating one.
    const [created] = [...fake.customers.keys()];
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'fulfilled')).toEqual({ status: 'fulfilled', value: created });
    expect(await g.ensureCustomer({ patient: PATIENT, customerId: null })).toBe(created);
    expect(fake.customers.size).toBe(1);
  });

  it('lets another process (no shared memory) that meets the saved 500 use the same fresh key, so both get one customer', async () => {
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    const processA = gateway();
    const processB = gateway();
    await rejectionOf(processA.ensureCustomer({ patient: PATIENT, customerId: null }));
    const fromB = await processB.ensureCustomer({ patient: PATIENT, customerId: null });
    expect(fake.requests.filter((r) => r.replayed).map((r) => r.idempotencyKey)).toEqual([CUSTOMER_KEY]);
    const fromA = await processA.ensureCustomer({ patient: PATIENT, customerId: null });
    expect(fromA).toBe(fromB);
    expect(fake.customers.size).toBe(1);
  });

  it('finds, by search, a customer made under a key Stripe kept longer than the 24 hours careslot lists', async () => {
    fake.keyLifetimeMs = 48 * 3600_000; // Stripe prunes keys "at least 24 hours old"
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'after-create',
    });
    await rejectionOf(gateway().ensureCustomer({ patient: PATIENT, customerId: null }));
    const [created] = [...fake.customers.keys()];
    clock.advance(30 * 3600_000);
    // Another process meets the saved 500; the customer is older than the window it lists.
    const id = await gateway().ensureCustomer({ patient: PATIENT, customerId: null });
    expect(id).toBe(created);
    expect(fake.requestsTo('GET', '/v1/customers/search')[0]?.params.query).toBe(
      `metadata['careslot_patient_id']:'${PATIENT.id}'`,
    );
    expect(fake.customers.size).toBe(1);
  });
});

describe('Checkout Sessions', () => {
  it('sends the exact payment-mode parameters and the per-booking idempotency key', async () => {
    fake.customers.set('cus_known', storedCustomer('cus_known', PATIENT.id));
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

  it("keeps expires_at 30 minutes after the moment Stripe receives stripe-node's last retry (2 retries after 80 s timeouts)", async () => {
    // Each attempt hangs until stripe-node's 80 s timeout (and its pause of up to 5 s) before the next is sent.
    const timedOut = { at: 'edge' as const, onArrive: () => clock.advance(85_000) };
    fake.failNext('POST', '/v1/checkout/sessions', timedOut, 2);
    const g = new StripeCheckoutGateway({
      stripe: fake.client({ maxNetworkRetries: 2, timeout: 80_000 }),
      webhookSecret: WEBHOOK_SECRET,
      successUrl: 'https://clinic.example/paid',
      clock,
    });
    const session = await g.createCheckout(checkoutRequest());
    const created = fake.session(session.sessionId).created;
    expect(created - NOW.getTime() / 1000).toBe(170);
    expect(session.expiresAt.getTime() / 1000 - created).toBeGreaterThanOrEqual(30 * 60);
  });

  it("asks by default for 31 minutes plus the client's retry window: 34 for stripe-node's 2 retries and 80 s timeout", async () => {
    const g = new StripeCheckoutGateway({
      stripe: fake.client({ maxNetworkRetries: 2, timeout: 80_000 }),
      webhookSecret: WEBHOOK_SECRET,
      successUrl: 'https://clinic.example/paid',
      clock,
    });
    const session = await g.createCheckout(checkoutRequest());
    expect(session.expiresAt.getTime() - NOW.getTime()).toBe(34 * 60_000);
  });

  it('never asks for less than 30 minutes plus the retry window from now, whatever minSessionMinutes says', async () => {
    const g = new StripeCheckoutGateway({
      stripe: fake.client({ maxNetworkRetries: 1, timeout: 20_000 }),
      webhookSecret: WEBHOOK_SECRET,
      successUrl: 'https://clinic.example/paid',
      minSessionMinutes: 30,
      clock,
    });
    const session = await g.createCheckout(checkoutRequest());
    // 1 retry × (20 s timeout + 5 s pause) + 10 s for transit and clocks.
    expect(session.expiresAt.getTime() - NOW.getTime()).toBe(30 * 60_000 + 35_000);
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

  it('refuses with INVALID_INPUT naming the successUrl option, before calling Stripe, when no success URL is set anywhere', async () => {
    const error = await rejectionOf(
      gateway({ successUrl: undefined, cancelUrl: undefined }).createCheckout(checkoutRequest()),
    );
    expect(error).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(error.message).toContain('`successUrl` on the BookingEngine options');
    expect(fake.requests).toHaveLength(0);
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

  it("replays a 500 Stripe saved under the booking's key to stripe-node's retry, and opens no session", async () => {
    fake.failNext('POST', '/v1/checkout/sessions', { status: 500, body: { error: API_ERROR } });
    const error = await rejectionOf(gateway({ retries: 1 }).createCheckout(checkoutRequest()));
    expect(error.cause).toMatchObject({ statusCode: 500 });
    const requests = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(requests.map((r) => [r.idempotencyKey, r.replayed])).toEqual([
      [`careslot-checkout-${BOOKING_ID}`, false],
      [`careslot-checkout-${BOOKING_ID}`, true],
    ]);
    expect(fake.sessions.size).toBe(0);
  });

  it('opens exactly one session when a request lost before reaching Stripe is resent by stripe-node under the same key', async () => {
    fake.failNext('POST', '/v1/checkout/sessions', { at: 'edge' });
    const session = await gateway({ retries: 1 }).createCheckout(checkoutRequest());
    const requests = fake.requestsTo('POST', '/v1/checkout/sessions');
    expect(requests.map((r) => r.idempotencyKey)).toEqual([
      `careslot-checkout-${BOOKING_ID}`,
      `careslot-checkout-${BOOKING_ID}`,
    ]);
    expect([...fake.sessions.keys()]).toEqual([session.sessionId]);
  });

  it("opens exactly one session when Stripe opened it but the answer was lost: stripe-node's resend gets it replayed", async () => {
    fake.failNext('POST', '/v1/checkout/sessions', { at: 'after-create' });
    const session = await gateway({ retries: 1 }).createCheckout(checkoutRequest());
    expect(fake.requestsTo('POST', '/v1/checkout/sessions').map((r) => r.replayed)).toEqual([false, true]);
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

  it('lets the hold go once a delayed payment failed: the session stays complete and unpaid, its PaymentIntent back to requires_payment_method', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'processing' });
    fake.settleAsync(sessionId, false);
    expect(fake.session(sessionId)).toMatchObject({ status: 'complete', payment_status: 'unpaid' });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
    expect(await g.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment: null });
  });

  it('lets the hold go when the delayed payment was canceled', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    fake.settleAsync(sessionId, false, 'canceled');
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
  });

  it('keeps answering processing while the PaymentIntent awaits the money (requires_action: a bank transfer)', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    const { payment_intent } = fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    const intent = fake.paymentIntents.get(payment_intent ?? '');
    if (intent) intent.status = 'requires_action';
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'processing' });
    expect(fake.requestsTo('GET', `/v1/checkout/sessions/${sessionId}`)[0]?.params).toEqual({
      'expand[0]': 'payment_intent',
    });
  });

  it('asks for the PaymentIntent when the client hands back the session without expanding it', async () => {
    const stripe = fake.client();
    const sessions = stripe.checkout.sessions;
    const unexpanded = {
      ...stripe,
      customers: stripe.customers,
      refunds: stripe.refunds,
      paymentIntents: stripe.paymentIntents,
      webhooks: stripe.webhooks,
      checkout: {
        sessions: {
          create: sessions.create.bind(sessions),
          expire: sessions.expire.bind(sessions),
          retrieve: (id: string) => sessions.retrieve(id),
        },
      },
    } as unknown as StripeClient;
    const g = gateway({ stripe: unexpanded });
    const { sessionId } = await g.createCheckout(checkoutRequest());
    fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    fake.settleAsync(sessionId, false);
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'expired' });
    expect(fake.requestsTo('GET', /^\/v1\/payment_intents\//)).toHaveLength(1);
  });

  it('reports the payment once the PaymentIntent succeeded, even before the session says paid', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    const { payment_intent } = fake.completeSession(sessionId, { paymentStatus: 'unpaid' });
    const intent = fake.paymentIntents.get(payment_intent ?? '');
    if (intent) intent.status = 'succeeded';
    const payment = { paymentId: payment_intent, amount: 5000, currency: 'eur' };
    expect(await g.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'paid', payment });
  });

  it('reports a paid session without amount_total as a payment of amount null (a mismatch for the engine)', async () => {
    const g = gateway();
    const { sessionId } = await g.createCheckout(checkoutRequest());
    const { payment_intent } = fake.completeSession(sessionId, { amount: null });
    const payment = { paymentId: payment_intent, amount: null, currency: 'eur' };
    expect(await g.retrieveCheckout({ sessionId })).toEqual({ sessionId, status: 'complete', payment });
    expect(await g.expireCheckout({ sessionId })).toEqual({ outcome: 'paid', payment });
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

  it('refunds everything left, sending no amount, when asked for amount null', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    await g.refund({ bookingId: BOOKING_ID, paymentId, amount: 1000, currency: 'eur', idempotencyKey: 'part' });
    await g.refund({ bookingId: BOOKING_ID, paymentId, amount: null, currency: 'eur', idempotencyKey: 'rest' });
    expect(fake.requestsTo('POST', '/v1/refunds')[1]?.params).not.toHaveProperty('amount');
    expect([...fake.refunds.values()].map((r) => r.amount)).toEqual([1000, 4000]);
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
    clock.advance(24 * 3600_000); // Stripe prunes keys once at least 24 hours old
    const second = await g.refund(request);
    expect(second.providerRefundId).toBe(first.providerRefundId);
    expect(fake.refunds.size).toBe(1);
    expect(fake.requestsTo('GET', '/v1/refunds')[0]?.params).toEqual({ payment_intent: paymentId, limit: '100' });
  });

  it("finds careslot's refund beyond the first page of the PaymentIntent's refunds", async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    const request = { bookingId: BOOKING_ID, paymentId, amount: 10, currency: 'eur', idempotencyKey: 'r-old' };
    const first = await g.refund(request);
    for (let i = 0; i < 120; i++) {
      fake.refunds.set(`re_other_${i}`, {
        id: `re_other_${i}`,
        object: 'refund',
        amount: 1,
        currency: 'eur',
        payment_intent: paymentId,
        status: 'succeeded',
        reason: null,
        metadata: {},
        created: 0,
      });
    }
    clock.advance(24 * 3600_000);
    expect(await g.refund(request)).toEqual({ providerRefundId: first.providerRefundId, status: 'succeeded' });
    expect(fake.requestsTo('POST', '/v1/refunds')).toHaveLength(1);
    expect(fake.requestsTo('GET', '/v1/refunds').at(-1)?.params.starting_after).toBe('re_other_20');
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

describe('refunds after a failure Stripe may have kept (saved 5xx, no answer)', () => {
  const REFUND_KEY = 'careslot-refund-r9';
  const refundKeys = () => fake.requestsTo('POST', '/v1/refunds').map((r) => r.idempotencyKey);
  const refundOf = (paymentId: string) => ({
    bookingId: BOOKING_ID,
    paymentId,
    amount: 5000,
    currency: 'eur',
    idempotencyKey: 'r9',
  });

  it("lets the sweep's retry refund after a 500 saved before anything was refunded: it looks, then uses a fresh key", async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    fake.failNext('POST', '/v1/refunds', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    expect(await rejectionOf(g.refund(refundOf(paymentId)))).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    expect(await g.refund(refundOf(paymentId))).toMatchObject({ status: 'succeeded' });
    expect(fake.refunds.size).toBe(1);
    expect(refundKeys()).toEqual([REFUND_KEY, `${REFUND_KEY}-retry1`]);
  });

  it('finds the refund Stripe made before answering 500, and refunds nothing more', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    fake.failNext('POST', '/v1/refunds', { response: { status: 500, body: { error: API_ERROR } }, at: 'after-create' });
    await rejectionOf(g.refund(refundOf(paymentId)));
    const [made] = [...fake.refunds.keys()];
    expect(await g.refund(refundOf(paymentId))).toEqual({ providerRefundId: made, status: 'succeeded' });
    expect(refundKeys()).toEqual([REFUND_KEY]);
    expect(fake.refunds.size).toBe(1);
  });

  it('finds the refund when the request landed but no answer came back (network error)', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    fake.failNext('POST', '/v1/refunds', { at: 'after-create' });
    fake.failNext('POST', '/v1/refunds', { at: 'edge' });
    await rejectionOf(g.refund(refundOf(paymentId)));
    const [made] = [...fake.refunds.keys()];
    expect(await g.refund(refundOf(paymentId))).toEqual({ providerRefundId: made, status: 'succeeded' });
    expect(fake.refunds.size).toBe(1);
  });

  it('resends the same key when no answer came and nothing arrived, and refunds once', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    fake.failNext('POST', '/v1/refunds', { at: 'edge' }, 2);
    await rejectionOf(g.refund(refundOf(paymentId)));
    expect(await g.refund(refundOf(paymentId))).toMatchObject({ status: 'succeeded' });
    expect(fake.refunds.size).toBe(1);
    expect(new Set(refundKeys())).toEqual(new Set([REFUND_KEY]));
  });

  it('refunds once when two retries race after a saved 500', async () => {
    const g = gateway();
    const { paymentId } = await paidSession(g);
    fake.failNext('POST', '/v1/refunds', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    await rejectionOf(g.refund(refundOf(paymentId)));
    const [a, b] = await Promise.all([g.refund(refundOf(paymentId)), g.refund(refundOf(paymentId))]);
    expect(a.providerRefundId).toBe(b.providerRefundId);
    expect(fake.refunds.size).toBe(1);
  });

  it('lets another process (no shared memory) that meets the saved 500 refund under the same fresh key, once', async () => {
    const processA = gateway();
    const processB = gateway();
    const { paymentId } = await paidSession(processA);
    fake.failNext('POST', '/v1/refunds', {
      response: { status: 500, body: { error: API_ERROR } },
      at: 'before-create',
    });
    await rejectionOf(processA.refund(refundOf(paymentId)));
    const fromB = await processB.refund(refundOf(paymentId));
    const fromA = await processA.refund(refundOf(paymentId));
    expect(fromA.providerRefundId).toBe(fromB.providerRefundId);
    expect(fake.refunds.size).toBe(1);
    expect(refundKeys()).toEqual([REFUND_KEY, REFUND_KEY, `${REFUND_KEY}-retry1`]);
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
