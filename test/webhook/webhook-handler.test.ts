// createWebhookHandler over the test gateway's signed webhooks: status codes, raw-body rule, replays, options.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BookingError,
  createWebhookHandler,
  ErrorCodes,
  type PaymentEvent,
  RAW_BODY_HINT,
  type WebhookResponse,
} from '../../src/index.js';
import { TEST_SIGNATURE_HEADER } from '../../src/testing/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

async function setup() {
  const f = createFixture();
  const errors: unknown[] = [];
  const handler = createWebhookHandler({ engine: f.engine, payments: f.gateway, onError: (e) => errors.push(e) });
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { f, handler, booking, sessionId, errors };
}

/** A body the test gateway signs correctly that is not JSON. */
function signedGarbage(f: ReturnType<typeof createFixture>) {
  const rawBody = 'not json';
  const timestamp = Math.floor(f.clock.now().getTime() / 1000);
  const v1 = createHmac('sha256', 'whsec_test_careslot').update(`${timestamp}.${rawBody}`).digest('hex');
  return { rawBody, headers: { [TEST_SIGNATURE_HEADER]: `t=${timestamp},v1=${v1}` } };
}

/** A body stream that counts how often it was asked for bytes; nothing is produced before a read. */
function countingBody(chunk: Uint8Array, chunks: number) {
  const stats = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        stats.pulled++;
        if (stats.pulled > chunks) controller.close();
        else controller.enqueue(chunk);
      },
      cancel() {
        stats.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { body, stats };
}

function streamed(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request {
  return new Request('http://localhost/webhooks', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
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

  it('verifies a Buffer body byte for byte, as express.raw hands it over', async () => {
    const { f, handler, booking, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await handler({ rawBody: Buffer.from(request.rawBody), headers: request.headers });
    expect(response).toEqual({ status: 200, body: { received: true, outcome: 'confirmed' } });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('finds the signature header whatever the case of its name', async () => {
    const { f, handler, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const shouted = { 'Careslot-Test-Signature': request.headers[TEST_SIGNATURE_HEADER] };
    expect(await handler({ rawBody: request.rawBody, headers: shouted })).toMatchObject({ status: 200 });
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

  it('answers 400 INVALID_INPUT with the one raw-body hint when given a parsed object, and changes nothing', async () => {
    const { f, handler, booking, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await handler({ rawBody: JSON.parse(request.rawBody), headers: request.headers } as never);
    expect(response).toEqual({ status: 400, body: { error: { code: 'INVALID_INPUT', message: RAW_BODY_HINT } } });
    expect(RAW_BODY_HINT).toContain('express.raw({ type: "application/json" })');
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 400 INVALID_INPUT, not a thrown error, to header values HTTP does not allow', async () => {
    const { f, handler, sessionId } = await setup();
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await handler({ rawBody: request.rawBody, headers: { ...request.headers, 'x-bad': 'a\nb' } });
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
  });

  it('answers 413 PAYLOAD_TOO_LARGE to an oversized body before verifying it', async () => {
    const { f, sessionId, booking } = await setup();
    const small = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 64 });
    const response = await small(f.gateway.signWebhook(f.gateway.pay(sessionId)));
    expect(response).toEqual({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE', message: 'Webhook body exceeds 64 bytes' } },
    });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('measures the body it was given, not a Content-Length header passed along with it', async () => {
    const { f, sessionId } = await setup();
    const small = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 4096 });
    const request = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const response = await small({ rawBody: request.rawBody, headers: { ...request.headers, 'content-length': '1' } });
    expect(response).toMatchObject({ status: 200, body: { outcome: 'confirmed' } });
    const claimsMore = await small({
      rawBody: request.rawBody,
      headers: { ...request.headers, 'content-length': '1e9' },
    });
    expect(claimsMore).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
  });

  it('answers 500 INTERNAL (so the provider retries) when the engine fails for a reason that may pass', async () => {
    const { f, sessionId, errors } = await setup();
    const failing = createWebhookHandler({
      engine: {
        handlePaymentEvent: async () => {
          throw new Error('database unreachable');
        },
      },
      payments: f.gateway,
      onError: (e) => errors.push(e),
    });
    const response = await failing(f.gateway.signWebhook(f.gateway.pay(sessionId)));
    expect(response).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
    expect(JSON.stringify(response.body)).not.toContain('database unreachable');
    expect(errors).toEqual([new Error('database unreachable')]);
  });

  it('answers 500 INTERNAL and reports the error when the gateway itself fails (a provider 5xx is not passed on)', async () => {
    const { f, sessionId } = await setup();
    const errors: unknown[] = [];
    const outage = new BookingError('PAYMENT_PROVIDER_ERROR', 'provider down');
    const handler = createWebhookHandler({
      engine: f.engine,
      payments: {
        parseWebhook: async () => {
          throw outage;
        },
      },
      onError: (e) => errors.push(e),
    });
    const response = await handler(f.gateway.signWebhook(f.gateway.pay(sessionId)));
    expect(response).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
    expect(errors).toEqual([outage]);
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
    const response = await handler(signedGarbage(f));
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
  });

  it('refuses a chunked body without Content-Length once it passes the limit, in the fetch form', async () => {
    const { f } = await setup();
    const small = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 1024 });
    const { body, stats } = countingBody(new Uint8Array(512), 100);
    const response = await small.fetch(streamed(body));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(stats.pulled).toBe(3);
    expect(stats.cancelled).toBe(true);
  });

  it('refuses a body whose declared Content-Length passes the limit without reading any of it', async () => {
    const { f } = await setup();
    const small = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 1024 });
    const { body, stats } = countingBody(new Uint8Array(512), 100);
    const response = await small.fetch(streamed(body, { 'content-length': '51200' }));
    expect(response.status).toBe(413);
    expect(stats.pulled).toBe(0);
    expect(stats.cancelled).toBe(true);
  });

  it('answers 400 when the fetch request body was already read', async () => {
    const { handler } = await setup();
    const request = new Request('http://localhost/webhooks', { method: 'POST', body: '{}' });
    await request.text();
    const response = await handler.fetch(request);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'INVALID_INPUT', message: `The request body was already read. ${RAW_BODY_HINT}` },
    });
  });

  it('answers 400 when the body stream breaks before its end, and changes nothing', async () => {
    const { handler, f, booking } = await setup();
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(new Error('socket hang up'));
      },
    });
    const response = await handler.fetch(streamed(body));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_INPUT' } });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers every refusal with a code from ErrorCodes whose status is the HTTP status', async () => {
    const { f, sessionId } = await setup();
    const failingEngine = {
      handlePaymentEvent: async () => {
        throw new Error('database unreachable');
      },
    };
    const quiet = { onError: () => {} };
    const small = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 1024, ...quiet });
    const failing = createWebhookHandler({ engine: failingEngine, payments: f.gateway, ...quiet });
    const brokenGateway = createWebhookHandler({
      engine: f.engine,
      payments: {
        parseWebhook: async () => {
          throw new Error('bug');
        },
      },
      ...quiet,
    });
    const signed = f.gateway.signWebhook(f.gateway.pay(sessionId));
    const read = new Request('http://localhost/', { method: 'POST', body: '{}' });
    await read.text();
    const fromFetch = async (response: Promise<Response>): Promise<WebhookResponse> => {
      const r = await response;
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const answers = [
      await small({ rawBody: {} as never, headers: {} }),
      await small({ rawBody: signed.rawBody, headers: { 'x-bad': 'a\nb' } }),
      await small(signedGarbage(f)),
      await small({ rawBody: signed.rawBody, headers: {} }),
      await small({ rawBody: 'x'.repeat(2048), headers: {} }),
      await fromFetch(small.fetch(read)),
      await fromFetch(small.fetch(streamed(countingBody(new Uint8Array(512), 10).body))),
      await fromFetch(small.fetch(streamed(countingBody(new Uint8Array(1), 1).body, { 'content-length': '2048' }))),
      await failing(signed),
      await brokenGateway(signed),
    ];
    const seen = new Set<string>();
    for (const answer of answers) {
      const code = (answer.body as { error: { code: string } }).error.code;
      seen.add(code);
      expect(Object.hasOwn(ErrorCodes, code), code).toBe(true);
      expect(ErrorCodes[code as keyof typeof ErrorCodes], code).toBe(answer.status);
    }
    expect([...seen].sort()).toEqual(['INTERNAL', 'INVALID_INPUT', 'INVALID_SIGNATURE', 'PAYLOAD_TOO_LARGE']);
  });

  it('exposes the size cap it resolved', async () => {
    const { f, handler } = await setup();
    expect(handler.maxBodyBytes).toBe(1_048_576);
    expect(createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 2048 }).maxBodyBytes).toBe(2048);
  });

  it('refuses to build with a size cap that is not a whole number of bytes above 0', async () => {
    const { f } = await setup();
    for (const maxBodyBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes })).toThrow(
        /maxBodyBytes must be a whole number of bytes above 0/,
      );
    }
  });

  it('refuses to build without an engine', () => {
    expect(() => createWebhookHandler({} as never)).toThrow(/options\.engine must be a BookingEngine/);
  });
});

describe('createWebhookHandler: which gateway verifies', () => {
  it('still verifies with the deprecated gateway option', async () => {
    const { f, booking, sessionId } = await setup();
    const legacy = createWebhookHandler({ engine: f.engine, gateway: f.gateway });
    expect(await legacy(f.gateway.signWebhook(f.gateway.pay(sessionId)))).toMatchObject({ status: 200 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('accepts payments and gateway naming the same gateway', async () => {
    const { f, sessionId } = await setup();
    const both = createWebhookHandler({ engine: f.engine, payments: f.gateway, gateway: f.gateway });
    expect(await both(f.gateway.signWebhook(f.gateway.pay(sessionId)))).toMatchObject({ status: 200 });
  });

  it('refuses payments and gateway naming different gateways, saying to pass payments only', () => {
    const f = createFixture();
    const other = createFixture();
    expect(() => createWebhookHandler({ engine: f.engine, payments: f.gateway, gateway: other.gateway })).toThrow(
      new TypeError(
        'createWebhookHandler: options.payments and options.gateway name different gateways; pass payments only (gateway is its deprecated name)',
      ),
    );
  });

  it('needs nothing but a BookingEngine: its payments verify the webhooks', async () => {
    const { f, booking, sessionId } = await setup();
    expect(f.engine.payments).toBe(f.gateway);
    const handler = createWebhookHandler({ engine: f.engine });
    expect(await handler(f.gateway.signWebhook(f.gateway.pay(sessionId)))).toMatchObject({ status: 200 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it("uses the engine's own payments when the options name no gateway", async () => {
    const { f, booking, sessionId } = await setup();
    const engine = { handlePaymentEvent: (e: PaymentEvent) => f.engine.handlePaymentEvent(e), payments: f.gateway };
    const handler = createWebhookHandler({ engine });
    expect(await handler(f.gateway.signWebhook(f.gateway.pay(sessionId)))).toMatchObject({ status: 200 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it("prefers the payments option over the engine's own gateway", async () => {
    const { f, sessionId } = await setup();
    const unused = {
      parseWebhook: async (): Promise<never> => {
        throw new Error('the engine gateway was used');
      },
    };
    const engine = { handlePaymentEvent: (e: PaymentEvent) => f.engine.handlePaymentEvent(e), payments: unused };
    const handler = createWebhookHandler({ engine, payments: f.gateway, onError: () => {} });
    expect(await handler(f.gateway.signWebhook(f.gateway.pay(sessionId)))).toMatchObject({ status: 200 });
  });

  it('fails fast, saying what to pass, when no gateway can be found', () => {
    const f = createFixture();
    const engine = { handlePaymentEvent: (e: PaymentEvent) => f.engine.handlePaymentEvent(e) };
    expect(() => createWebhookHandler({ engine })).toThrow(
      new TypeError(
        'createWebhookHandler: no payment gateway to verify webhooks with; pass the one the BookingEngine uses: createWebhookHandler({ engine, payments })',
      ),
    );
  });
});
