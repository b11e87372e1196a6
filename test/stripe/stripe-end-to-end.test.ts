// The engine on StripeCheckoutGateway against the local fake, driven by really signed webhooks through createWebhookHandler.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/testing/index.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { FakeStripeServer } from './fake-stripe-server.js';
import { signedRequest, stripeEvent } from './signed-events.js';
import { ADA, createStripeFixture, DOCTOR, OTTO, type StripeFixture } from './stripe-engine-fixture.js';

let fake: FakeStripeServer;
const clock = new ManualClock('2030-03-01T08:00:00Z');

beforeAll(async () => {
  fake = await FakeStripeServer.start({ now: () => clock.now() });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  clock.set('2030-03-01T08:00:00Z');
});

const setup = () => createStripeFixture(fake, clock);

describe('booking through Stripe Checkout', () => {
  it('opens a Checkout Session for the booking and answers with its url while the booking is pending', async () => {
    const t = setup();
    const { booking, paymentUrl, schedule, sessionId } = await t.pending();
    const session = fake.session(sessionId);
    expect(paymentUrl).toBe(session.url);
    expect(booking).toMatchObject({ status: 'pending', paymentStatus: 'unpaid', checkoutSessionId: session.id });
    expect(session.metadata.careslot_booking_id).toBe(booking.id);
    expect(session.amount_total).toBe(5000);
    expect(session.currency).toBe('eur');
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('pending');
    expect(fake.requestsTo('POST', '/v1/checkout/sessions')[0]?.idempotencyKey).toBe(`careslot-checkout-${booking.id}`);
  });

  it("sends book()'s return URLs over the engine's, and the engine's over the deprecated gateway options", async () => {
    const gatewayUrls = { successUrl: 'https://gateway.example/paid', cancelUrl: 'https://gateway.example/back' };
    const t = createStripeFixture(fake, clock, { gateway: gatewayUrls });
    const fromEngine = await t.pending();
    expect(fake.session(fromEngine.sessionId)).toMatchObject({
      success_url: 'https://clinic.example/paid',
      cancel_url: 'https://clinic.example/cancelled',
    });
    const perCall = await t.engine.book({
      patientId: ADA,
      scheduleId: (await t.slot()).id,
      successUrl: 'https://app.example/ok',
    });
    expect(fake.session(perCall.booking.checkoutSessionId ?? '')).toMatchObject({
      success_url: 'https://app.example/ok',
      cancel_url: 'https://clinic.example/cancelled',
    });

    const legacy = createStripeFixture(fake, clock, {
      engine: { successUrl: undefined, cancelUrl: undefined },
      gateway: gatewayUrls,
    });
    const fromGateway = await legacy.pending();
    expect(fake.session(fromGateway.sessionId)).toMatchObject({
      success_url: 'https://gateway.example/paid',
      cancel_url: 'https://gateway.example/back',
    });
  });

  it("creates the patient's Stripe customer once and reuses it on the next booking", async () => {
    const t = setup();
    const first = await t.pending();
    const second = await t.pending();
    expect(fake.requestsTo('POST', '/v1/customers')).toHaveLength(1);
    expect(fake.session(second.sessionId).customer).toBe(fake.session(first.sessionId).customer);
  });

  it('confirms on a signed checkout.session.completed: booking paid, slot booked, wallet credited', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    const response = await t.deliver('checkout.session.completed', fake.completeSession(sessionId));
    expect(response).toEqual({ status: 200, body: { received: true, outcome: 'confirmed' } });
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect(await t.engine.getSchedule(schedule.id)).toMatchObject({ status: 'booked', bookedBy: ADA });
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('credits the wallet once when the same event is delivered 10 times', async () => {
    const t = setup();
    const { sessionId } = await t.pending();
    const request = signedRequest(stripeEvent('checkout.session.completed', fake.completeSession(sessionId)), {
      at: clock.now(),
    });
    const outcomes: unknown[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await t.webhook(request);
      expect(response.status).toBe(200);
      outcomes.push(response.body.outcome);
    }
    expect(outcomes).toEqual(['confirmed', ...Array(9).fill('duplicate')]);
    expect((await t.engine.getWallet(DOCTOR)).entries).toHaveLength(1);
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('credits the wallet once when 10 copies of the event arrive at the same time', async () => {
    const t = setup();
    const { sessionId } = await t.pending();
    const request = signedRequest(stripeEvent('checkout.session.completed', fake.completeSession(sessionId)), {
      at: clock.now(),
    });
    const responses = await Promise.all(Array.from({ length: 10 }, () => t.webhook(request)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.filter((r) => r.body.outcome === 'confirmed')).toHaveLength(1);
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('does not undo a paid booking when checkout.session.expired arrives after completed', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    await t.deliver('checkout.session.completed', fake.completeSession(sessionId));
    const late = await t.deliver('checkout.session.expired', { ...fake.session(sessionId), status: 'expired' });
    expect(late).toEqual({ status: 200, body: { received: true, outcome: 'ignored' } });
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('booked');
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('cancels on checkout.session.expired from Stripe and frees the slot', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    const response = await t.deliver('checkout.session.expired', fake.expireSession(sessionId));
    expect(response.body.outcome).toBe('cancelled');
    expect(await t.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'checkout_expired',
    });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
  });

  it('waits on a completed-but-unpaid delayed payment, then confirms on async_payment_succeeded', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    const processing = await t.deliver(
      'checkout.session.completed',
      fake.completeSession(sessionId, { paymentStatus: 'unpaid' }),
    );
    expect(processing).toEqual({
      status: 200,
      body: { received: true, outcome: 'ignored', type: 'checkout.session.completed' },
    });
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
    const settled = await t.deliver('checkout.session.async_payment_succeeded', fake.settleAsync(sessionId, true));
    expect(settled.body.outcome).toBe('confirmed');
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('cancels and frees the slot on async_payment_failed', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    await t.deliver('checkout.session.completed', fake.completeSession(sessionId, { paymentStatus: 'unpaid' }));
    const failed = await t.deliver('checkout.session.async_payment_failed', fake.settleAsync(sessionId, false));
    expect(failed.body.outcome).toBe('cancelled');
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'cancelled', paymentStatus: 'failed' });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
  });

  it('does not confirm when the amount paid differs from the booking price', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    const response = await t.deliver('checkout.session.completed', fake.completeSession(sessionId, { amount: 100 }));
    expect(response.body.outcome).toBe('mismatch');
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
    expect(t.mismatches).toHaveLength(1);
    expect(await t.wallet()).toEqual({});
  });
});

describe('webhooks that cannot be trusted change nothing', () => {
  async function attempt(
    build: (t: StripeFixture, sessionId: string) => Promise<{ status: number; body: Record<string, unknown> }>,
  ) {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    const response = await build(t, sessionId);
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'pending', paymentStatus: 'unpaid' });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('pending');
    expect(await t.wallet()).toEqual({});
    return response;
  }
  const completed = (sessionId: string) => stripeEvent('checkout.session.completed', fake.completeSession(sessionId));

  it('answers 400 to a forged signature', async () => {
    const response = await attempt((t, id) =>
      t.webhook(signedRequest(completed(id), { at: clock.now(), secret: 'whsec_forged' })),
    );
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
  });

  it('answers 400 to a signature past the tolerance', async () => {
    const response = await attempt((t, id) => {
      const request = signedRequest(completed(id), { at: clock.now() });
      clock.advanceMinutes(6);
      return t.webhook(request);
    });
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
  });

  it('answers 400 to a request without the stripe-signature header', async () => {
    const response = await attempt((t, id) =>
      t.webhook({ rawBody: JSON.stringify(completed(id)), headers: { 'content-type': 'application/json' } }),
    );
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
  });

  it('answers 400 with the raw-body hint to a parsed JSON body', async () => {
    const response = await attempt((t, id) => {
      const request = signedRequest(completed(id), { at: clock.now() });
      return t.webhook({ rawBody: JSON.parse(request.rawBody) as string, headers: request.headers });
    });
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
    expect(JSON.stringify(response.body)).toContain('express.raw');
  });
});

describe('when Stripe fails or the webhook is lost', () => {
  it.each([
    [500, 'StripeAPIError'],
    [400, 'StripeInvalidRequestError'],
  ])(
    'a %i on session creation makes book throw PAYMENT_PROVIDER_ERROR and frees the slot at once',
    async (status, type) => {
      const t = setup();
      const schedule = await t.slot();
      fake.failNext('POST', '/v1/checkout/sessions', {
        status,
        body: { error: { type: status === 500 ? 'api_error' : 'invalid_request_error', message: 'refused' } },
      });
      const error = await rejectionOf(t.engine.book({ patientId: ADA, scheduleId: schedule.id }));
      expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR', status: 502 });
      expect(error.cause).toMatchObject({ type, statusCode: status });
      expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
      const [booking] = await t.engine.listBookings({ scheduleId: schedule.id });
      expect(booking).toMatchObject({ status: 'cancelled', cancelReason: 'payment_provider_error' });
      const retry = await t.engine.book({ patientId: OTTO, scheduleId: schedule.id });
      expect(retry.booking.status).toBe('pending');
    },
  );

  it('expires the Stripe session when the hold times out, then frees the slot', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    clock.advanceMinutes(15);
    await t.scheduler.runDue();
    expect(fake.session(sessionId).status).toBe('expired');
    expect(await t.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
    });
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
    const echo = await t.deliver('checkout.session.expired', fake.session(sessionId));
    expect(echo).toEqual({ status: 200, body: { received: true, outcome: 'ignored' } });
  });

  it('confirms instead of releasing when the hold times out on a session paid meanwhile', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    fake.completeSession(sessionId);
    clock.advanceMinutes(15);
    await t.scheduler.runDue();
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('lets the sweep confirm a paid session whose webhook never came', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    fake.completeSession(sessionId);
    clock.advanceMinutes(8); // the sweep first asks at half the 15-minute hold
    const report = await t.engine.reconcile();
    expect(report.paymentsConfirmed).toBe(1);
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    const late = await t.deliver('checkout.session.completed', fake.session(sessionId));
    expect(late.body.outcome).toBe('duplicate');
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });
});

describe('Stripe answers that must not strand a patient, a hold or money', () => {
  const apiError = { type: 'api_error', message: 'Something went wrong on our end.' };

  it("does not block the patient's next booking after Stripe saved a 500 for creating the patient's customer", async () => {
    const t = setup();
    const schedule = await t.slot();
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: apiError } },
      at: 'before-create',
    });
    const error = await rejectionOf(t.engine.book({ patientId: ADA, scheduleId: schedule.id }));
    expect(error).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    const retry = await t.engine.book({ patientId: ADA, scheduleId: schedule.id });
    expect(retry.paymentUrl).toBe(fake.session(retry.booking.checkoutSessionId ?? '').url);
    expect(fake.customers.size).toBe(1);
  });

  it('creates no second customer when Stripe created it before answering 500', async () => {
    const t = setup();
    fake.failNext('POST', '/v1/customers', {
      response: { status: 500, body: { error: apiError } },
      at: 'after-create',
    });
    await rejectionOf(t.engine.book({ patientId: ADA, scheduleId: (await t.slot()).id }));
    const { sessionId } = await t.pending();
    expect(fake.customers.size).toBe(1);
    expect(fake.session(sessionId).customer).toBe([...fake.customers.keys()][0]);
  });

  it('lets the sweep refund once after Stripe saved a 500 for the first refund attempt', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    await t.deliver('checkout.session.completed', fake.completeSession(sessionId));
    fake.failNext('POST', '/v1/refunds', { response: { status: 500, body: { error: apiError } }, at: 'before-create' });
    const first = await rejectionOf(t.engine.refund({ bookingId: booking.id }));
    expect(first).toMatchObject({ code: 'PAYMENT_PROVIDER_ERROR' });
    clock.advanceMinutes(10);
    await t.engine.reconcile();
    expect(fake.refunds.size).toBe(1);
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ paymentStatus: 'refunded', amountRefunded: 5000 });
    await t.engine.reconcile();
    expect(fake.refunds.size).toBe(1);
  });

  it('answers book() with INVALID_INPUT naming successUrl, and asks Stripe for no session, when no success URL is set anywhere', async () => {
    const t = createStripeFixture(fake, clock, { engine: { successUrl: undefined, cancelUrl: undefined } });
    const schedule = await t.slot();
    const error = await rejectionOf(t.engine.book({ patientId: ADA, scheduleId: schedule.id }));
    expect(error).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(error.message).toContain('successUrl');
    expect(fake.requestsTo('POST', '/v1/checkout/sessions')).toHaveLength(0);
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
  });

  it('lets the hold go when a delayed payment failed and its webhook was lost', async () => {
    const t = setup();
    const { booking, schedule, sessionId } = await t.pending();
    await t.deliver('checkout.session.completed', fake.completeSession(sessionId, { paymentStatus: 'unpaid' }));
    clock.advanceMinutes(15);
    await t.scheduler.runDue();
    // Still settling when the hold ended: the slot stays held.
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
    fake.settleAsync(sessionId, false); // checkout.session.async_payment_failed never arrives
    clock.advanceMinutes(5);
    await t.engine.reconcile();
    expect((await t.engine.getBooking(booking.id)).status).toBe('cancelled');
    expect((await t.engine.getSchedule(schedule.id)).status).toBe('available');
  });

  it.each([
    ['a number', 42],
    ['an oversized string', 'x'.repeat(400)],
  ])('confirms, by its session, a booking whose metadata booking id is %s', async (_, value) => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    const paid = { ...fake.completeSession(sessionId), metadata: { careslot_booking_id: value } };
    const response = await t.deliver('checkout.session.completed', paid);
    expect(response).toEqual({ status: 200, body: { received: true, outcome: 'confirmed' } });
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
  });

  it('treats a checkout.session.completed without amount_total as a mismatch and refunds everything paid', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    const response = await t.deliver('checkout.session.completed', fake.completeSession(sessionId, { amount: null }));
    expect(response).toMatchObject({ status: 200, body: { outcome: 'mismatch' } });
    expect(t.mismatches).toHaveLength(1);
    expect((await t.engine.getBooking(booking.id)).status).not.toBe('scheduled');
    // Refunded without an amount: Stripe refunds all that was taken.
    const [refund] = [...fake.refunds.values()];
    expect(refund).toMatchObject({ amount: 5000, status: 'succeeded' });
    expect(fake.requestsTo('POST', '/v1/refunds')[0]?.params).not.toHaveProperty('amount');
    expect(await t.wallet()).toEqual({});
  });
});

describe('refunds through Stripe', () => {
  it('refunds once at Stripe and does not debit twice when the refund webhooks arrive', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    await t.deliver('checkout.session.completed', fake.completeSession(sessionId));
    const outcome = await t.engine.refund({ bookingId: booking.id });
    expect(outcome.refund).toMatchObject({ status: 'succeeded', amount: 5000 });
    const [stripeRefund] = [...fake.refunds.values()];
    expect(stripeRefund?.metadata).toMatchObject({ careslot_refund_id: outcome.refund.id });
    for (const type of ['refund.created', 'refund.updated']) {
      const response = await t.deliver(type, stripeRefund ?? {});
      expect(response).toEqual({ status: 200, body: { received: true, outcome: 'refund_updated' } });
    }
    expect(fake.refunds.size).toBe(1);
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ paymentStatus: 'refunded', amountRefunded: 5000 });
    expect(await t.wallet()).toEqual({ eur: 0 });
  });
});

describe('the fetch-standard form', () => {
  it('confirms from a Request and answers 400 to a forged one', async () => {
    const t = setup();
    const { booking, sessionId } = await t.pending();
    const event = stripeEvent('checkout.session.completed', fake.completeSession(sessionId));
    const forged = signedRequest(event, { at: clock.now(), secret: 'whsec_forged' });
    const bad = await t.webhook.fetch(
      new Request('http://localhost/webhooks/stripe', {
        method: 'POST',
        body: forged.rawBody,
        headers: forged.headers,
      }),
    );
    expect(bad.status).toBe(400);
    const good = signedRequest(event, { at: clock.now() });
    const response = await t.webhook.fetch(
      new Request('http://localhost/webhooks/stripe', { method: 'POST', body: good.rawBody, headers: good.headers }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, outcome: 'confirmed' });
    expect((await t.engine.getBooking(booking.id)).status).toBe('scheduled');
  });
});
