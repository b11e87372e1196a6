// createWebhookHandler over the test gateway's signed webhooks: status codes, raw-body rule, replays.
import { describe, expect, it } from 'vitest';
import { createWebhookHandler, type PaymentEvent } from '../../src/index.js';
import { TEST_SIGNATURE_HEADER } from '../../src/testing/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

async function setup() {
  const f = createFixture();
  const errors: unknown[] = [];
  const handler = createWebhookHandler({ engine: f.engine, gateway: f.gateway, onError: (e) => errors.push(e) });
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { f, handler, booking, sessionId, errors };
}

describe('createWebhookHandler', () => {
  it('answers 200 and confirms the booking for a valid signed event, and 200 duplicate on replays', async () => {
    const { f, handler, booking, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    expect(await handler(request)).toEqual({ status: 200, body: { received: true, outcome: 'confirmed' } });
    for (let i = 0; i < 9; i++) {
      expect(await handler(request)).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    }
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('answers 400 INVALID_SIGNATURE to a forged body and changes nothing', async () => {
    const { f, handler, booking, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const forged = request.rawBody.replace('"amount":5000', '"amount":1');
    const response = await handler({ rawBody: forged, headers: request.headers });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 400 to a missing signature header and to a stale timestamp', async () => {
    const { f, handler, sessionId } = await setup();
    const event = f.gateway.pay(sessionId);
    const request = f.gateway.signWebhook(event);
    expect((await handler({ rawBody: request.rawBody, headers: {} })).status).toBe(400);
    const stale = f.gateway.signWebhook(event, new Date(f.clock.now().getTime() - 10 * 60_000));
    expect(await handler(stale)).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
  });

  it('answers 400 with the raw-body hint when given a parsed object', async () => {
    const { f, handler, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await handler({ rawBody: JSON.parse(request.rawBody), headers: request.headers } as never);
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).toContain('express.raw');
  });

  it('answers 413 to an oversized body before verifying it', async () => {
    const { f, sessionId } = await setup();
    const small = createWebhookHandler({ engine: f.engine, gateway: f.gateway, maxBodyBytes: 64 });
    const response = await small(f.gateway.signWebhook(f.gateway.pay(sessionId)));
    expect(response.status).toBe(413);
  });

  it('answers 500 (so the provider retries) when the engine fails for a reason that may pass', async () => {
    const { f, sessionId, errors } = await setup();
    const failing = createWebhookHandler({
      engine: {
        handlePaymentEvent: async () => {
          throw new Error('database unreachable');
        },
      },
      gateway: f.gateway,
      onError: (e) => errors.push(e),
    });
    const response = await failing(f.gateway.signWebhook(f.gateway.pay(sessionId)));
    expect(response.status).toBe(500);
    expect(JSON.stringify(response.body)).not.toContain('database unreachable');
    expect(errors).toHaveLength(1);
  });

  it('serves the fetch-standard form with the same answers', async () => {
    const { f, handler, booking, sessionId } = await setup();
    const signed = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await handler.fetch(
      new Request('http://localhost/webhooks', { method: 'POST', body: signed.rawBody, headers: signed.headers }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, outcome: 'confirmed' });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
    const bad = await handler.fetch(
      new Request('http://localhost/webhooks', {
        method: 'POST',
        body: signed.rawBody,
        headers: { [TEST_SIGNATURE_HEADER]: 't=1,v1=00' },
      }),
    );
    expect(bad.status).toBe(400);
  });

  it('answers 400 to a validly signed body that is not JSON', async () => {
    const { f, handler } = await setup();
    const signed = f.gateway.signWebhook({ type: 'checkout.expired' } as PaymentEvent);
    const garbage = 'not json';
    const header = signed.headers[TEST_SIGNATURE_HEADER] ?? '';
    const timestamp = Number(header.split(',')[0]?.slice(2));
    const { createHmac } = await import('node:crypto');
    const v1 = createHmac('sha256', 'whsec_test_careslot').update(`${timestamp}.${garbage}`).digest('hex');
    const response = await handler({
      rawBody: garbage,
      headers: { [TEST_SIGNATURE_HEADER]: `t=${timestamp},v1=${v1}` },
    });
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
  });

  it('refuses a chunked body without Content-Length once it passes the limit, in the fetch form', async () => {
    const { f } = await setup();
    const small = createWebhookHandler({ engine: f.engine, gateway: f.gateway, maxBodyBytes: 1024 });
    const chunk = new Uint8Array(512);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const response = await small.fetch(
      new Request('http://localhost/webhooks', { method: 'POST', body, duplex: 'half' } as RequestInit),
    );
    expect(response.status).toBe(413);
    expect(sent).toBeLessThan(10);
  });

  it('answers 400 when the fetch request body was already read', async () => {
    const { handler } = await setup();
    const request = new Request('http://localhost/webhooks', { method: 'POST', body: '{}' });
    await request.text();
    const response = await handler.fetch(request);
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('raw');
  });

  it('refuses to build without an engine or a gateway', () => {
    expect(() => createWebhookHandler({} as never)).toThrow(/engine/);
  });
});
