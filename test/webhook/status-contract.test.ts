// The webhook status contract: 2xx for every verified event, 4xx only for the caller's faults, 5xx only when a retry can succeed.
import { describe, expect, it } from 'vitest';
import { type BookingStore, createWebhookHandler, type PaymentEvent } from '../../src/index.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';

async function setup(options: { store?: BookingStore } = {}) {
  const f = createFixture(options.store ? { store: options.store } : {});
  const errors: unknown[] = [];
  const handler = createWebhookHandler({ engine: f.engine, onError: (e) => errors.push(e), maxBodyBytes: 8192 });
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  const ignored = () => f.events.filter((e) => e.name === 'payment.ignored').map((e) => e.payload);
  return { f, handler, booking, sessionId, errors, ignored };
}

describe('2xx: every verified event is acknowledged, including those that can never apply', () => {
  it('acknowledges a verified event whose booking id is not a string, reports it, and changes nothing', async () => {
    const { f, handler, booking, errors, ignored } = await setup();
    const event = { type: 'checkout.expired', id: 'evt_bad_id', bookingId: 12345, sessionId: null };
    const response = await handler(f.gateway.signWebhook(event as unknown as PaymentEvent));
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      received: true,
      outcome: 'ignored',
      reason: expect.stringMatching(/^INVALID_INPUT/),
    });
    expect(ignored()).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^INVALID_INPUT/) })]);
    expect(errors).toEqual([]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('acknowledges a verified event with an oversized id or an unknown shape', async () => {
    const { f, handler } = await setup();
    const huge = { type: 'payment.failed', id: 'x'.repeat(2000), bookingId: null, sessionId: null };
    const shapeless = { type: 'payment.succeeded', id: 'evt_no_payment', bookingId: null, sessionId: null };
    for (const event of [huge, shapeless]) {
      const response = await handler(f.gateway.signWebhook(event as unknown as PaymentEvent));
      expect(response).toMatchObject({ status: 200, body: { outcome: 'ignored' } });
    }
  });

  it('acknowledges events for unknown bookings, duplicates and processed ones with 200', async () => {
    const { f, handler, sessionId } = await setup();
    const paid = f.gateway.signWebhook(f.gateway.pay(sessionId));
    expect(await handler(paid)).toMatchObject({ status: 200, body: { outcome: 'confirmed' } });
    expect(await handler(paid)).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    const stranger = { type: 'checkout.expired', id: 'evt_x', bookingId: null, sessionId: 'cs_nobody' };
    expect(await handler(f.gateway.signWebhook(stranger as PaymentEvent))).toMatchObject({
      status: 200,
      body: { outcome: 'ignored', reason: 'unknown booking' },
    });
  });

  it('still throws INVALID_INPUT for the same bad event handed to the engine directly (not verified)', async () => {
    const { f } = await setup();
    const event = { type: 'checkout.expired', id: 'evt_bad_id', bookingId: 12345, sessionId: null };
    await expect(f.engine.handlePaymentEvent(event as unknown as PaymentEvent)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});

describe('4xx: only the caller’s faults, and nothing changes', () => {
  it('answers 400 INVALID_SIGNATURE to a forged or missing signature', async () => {
    const { f, handler, sessionId, booking } = await setup();
    const signed = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const forged = { rawBody: signed.rawBody, headers: { 'careslot-test-signature': 't=1,v1=00' } };
    expect(await handler(forged)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
    expect(await handler({ rawBody: signed.rawBody, headers: {} })).toMatchObject({ status: 400 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 400 INVALID_INPUT to a parsed body and 413 PAYLOAD_TOO_LARGE to an oversized one', async () => {
    const { f, handler, sessionId } = await setup();
    const signed = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const parsed = { rawBody: JSON.parse(signed.rawBody) as never, headers: signed.headers };
    expect(await handler(parsed)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
    expect(await handler({ rawBody: 'x'.repeat(8193), headers: signed.headers })).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
  });
});

describe('5xx: only when a retry can succeed', () => {
  it('answers 500 INTERNAL and tells the host when the store is down, and the retry applies the event', async () => {
    const down = { value: false };
    const f0 = createFixture();
    const store = new Proxy(f0.store, {
      get(target, key, receiver) {
        if (key === 'transaction' && down.value) return () => Promise.reject(new Error('connect ECONNREFUSED'));
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { f, handler, sessionId, errors } = await setup({ store });
    const paid = f.gateway.signWebhook(f.gateway.pay(sessionId));
    down.value = true;
    expect(await handler(paid)).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
    expect(errors).toHaveLength(1);
    down.value = false;
    expect(await handler(paid)).toMatchObject({ status: 200, body: { outcome: 'confirmed' } });
  });
});
