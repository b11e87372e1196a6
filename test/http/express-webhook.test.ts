// expressWebhook in a real Express app: the raw body reaches Stripe's verifier next to express.json() routes.
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expressWebhook } from '../../src/http/express.js';
import {
  createWebhookHandler,
  type PaymentEvent,
  type PaymentEventResult,
  RAW_BODY_HINT,
  type WebhookHandler,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { FakeStripeServer } from '../stripe/fake-stripe-server.js';
import { signedRequest, stripeEvent } from '../stripe/signed-events.js';
import { ADA, createStripeFixture, type StripeFixture } from '../stripe/stripe-engine-fixture.js';

let fake: FakeStripeServer;
const clock = new ManualClock('2030-03-01T08:00:00Z');
const servers: Server[] = [];

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
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** Serves `app` on a loopback port; closed after the test. */
async function serve(app: express.Express): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An app with only the webhook route, mounted as documented: express.raw on that one route. */
function serveRawWebhook(t: StripeFixture): Promise<string> {
  const app = express();
  app.post(
    '/webhooks/stripe',
    express.raw({ type: 'application/json' }),
    expressWebhook({ engine: t.engine, payments: t.gateway }),
  );
  return serve(app);
}

/** An app whose webhook route has no body parser at all. */
function serveUnparsedWebhook(handler: Parameters<typeof expressWebhook>[0]): Promise<string> {
  const app = express();
  app.post('/webhooks/stripe', expressWebhook(handler));
  return serve(app);
}

/** A pending booking and the signed checkout.session.completed Stripe would send for it. */
async function paidWebhook(t: StripeFixture, padding = 0) {
  const { booking, sessionId } = await t.pending();
  if (padding === 0)
    return { booking, request: t.signed('checkout.session.completed', fake.completeSession(sessionId)) };
  // Trailing whitespace keeps the JSON valid and the signature real, at any size.
  const json = JSON.stringify(stripeEvent('checkout.session.completed', fake.completeSession(sessionId)), null, 2);
  return { booking, request: signedRequest(json + ' '.repeat(padding), { at: clock.now() }) };
}

function post(url: string, request: { rawBody: string; headers: Record<string, string> }) {
  return fetch(url, { method: 'POST', body: request.rawBody, headers: request.headers });
}

/**
 * Sends the headers and `chunks`, then leaves the body open: a response can only arrive if the
 * server answered without waiting for the rest.
 */
function postUnfinished(
  url: string,
  headers: Record<string, string>,
  chunks: Buffer[],
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
  });
}

describe('expressWebhook', () => {
  it('verifies the raw body with express.raw on the webhook route while the rest of the app uses express.json()', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post(
      '/webhooks/stripe',
      express.raw({ type: 'application/json' }),
      expressWebhook({ engine: t.engine, payments: t.gateway }),
    );
    app.use(express.json());
    app.post('/api/echo', (req, res) => {
      res.json({ parsed: req.body });
    });
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);
    // Pretty-printed JSON: re-serializing a parsed body would change the bytes and break the signature.
    expect(request.rawBody).toContain('\n  ');

    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, outcome: 'confirmed' });
    expect(await t.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });

    const echo = await fetch(`${base}/api/echo`, {
      method: 'POST',
      body: JSON.stringify({ hello: 'json' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(await echo.json()).toEqual({ parsed: { hello: 'json' } });
  });

  it('answers 400 with the express.raw hint when a global express.json() parsed the body first, and changes nothing', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.use(express.json());
    app.post('/webhooks/stripe', expressWebhook({ engine: t.engine, payments: t.gateway }));
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);

    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'INVALID_INPUT', message: RAW_BODY_HINT } });
    expect(RAW_BODY_HINT).toContain('express.raw({ type: "application/json" })');
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 400 with the hint when a middleware read the stream without leaving a body', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post(
      '/webhooks/stripe',
      async (req, _res, next) => {
        for await (const _chunk of req) {
          // a logger or proxy that drained the body
        }
        next();
      },
      expressWebhook({ engine: t.engine, payments: t.gateway }),
    );
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'INVALID_INPUT', message: `The request body was already read. ${RAW_BODY_HINT}` },
    });
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('reads the raw stream itself when no body parser ran', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveUnparsedWebhook({ engine: t.engine, payments: t.gateway });
    const { booking, request } = await paidWebhook(t);

    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(200);
    expect((await t.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('reads the raw stream when a parser skipped the request and left only a placeholder object (body-parser 1.x)', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post(
      '/webhooks/stripe',
      (req, _res, next) => {
        req.body = {};
        next();
      },
      expressWebhook({ engine: t.engine, payments: t.gateway }),
    );
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);
    expect((await post(`${base}/webhooks/stripe`, request)).status).toBe(200);
    expect((await t.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('verifies a string body from express.text as is', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post(
      '/webhooks/stripe',
      express.text({ type: 'application/json' }),
      expressWebhook({ engine: t.engine, payments: t.gateway }),
    );
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);
    expect((await post(`${base}/webhooks/stripe`, request)).status).toBe(200);
    expect((await t.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('answers 200 to every redelivery and credits the wallet once', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveRawWebhook(t);
    const { request } = await paidWebhook(t);
    const outcomes: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post(`${base}/webhooks/stripe`, request);
      expect(response.status).toBe(200);
      outcomes.push(((await response.json()) as { outcome: string }).outcome);
    }
    expect(outcomes).toEqual(['confirmed', 'duplicate', 'duplicate']);
    expect(await t.wallet()).toEqual({ eur: 5000 });
  });

  it('answers 400 to a forged signature and changes nothing', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveRawWebhook(t);
    const { booking, sessionId } = await t.pending();
    const forged = signedRequest(stripeEvent('checkout.session.completed', fake.completeSession(sessionId)), {
      at: clock.now(),
      secret: 'whsec_forged',
    });
    const response = await post(`${base}/webhooks/stripe`, forged);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 413 PAYLOAD_TOO_LARGE with Connection: close to a body over maxBodyBytes read from the stream', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveUnparsedWebhook({ engine: t.engine, payments: t.gateway, maxBodyBytes: 1024 });
    const { booking, request } = await paidWebhook(t);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'Webhook body exceeds 1024 bytes' },
    });
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 413 to a chunked body without Content-Length while the client is still sending it', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveUnparsedWebhook({ engine: t.engine, payments: t.gateway, maxBodyBytes: 1024 });
    const response = await postUnfinished(`${base}/webhooks/stripe`, { 'content-type': 'application/json' }, [
      Buffer.alloc(600, 0x20),
      Buffer.alloc(600, 0x20),
    ]);
    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
  });

  it('answers 413 to a declared Content-Length over the limit before the body arrives', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveUnparsedWebhook({ engine: t.engine, payments: t.gateway, maxBodyBytes: 1024 });
    const response = await postUnfinished(
      `${base}/webhooks/stripe`,
      { 'content-type': 'application/json', 'content-length': '50000' },
      [Buffer.from('{')],
    );
    expect(response.status).toBe(413);
    expect(response.headers.connection).toBe('close');
  });

  it('mounts a handler built with createWebhookHandler', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook(t.webhook));
    const base = await serve(app);
    const { request } = await paidWebhook(t);
    expect((await post(`${base}/webhooks/stripe`, request)).status).toBe(200);
  });

  it("honours a prebuilt handler's maxBodyBytes above the default when it reads the stream", async () => {
    const t = createStripeFixture(fake, clock);
    const handler = createWebhookHandler({ engine: t.engine, payments: t.gateway, maxBodyBytes: 4 * 1_048_576 });
    const base = await serveUnparsedWebhook(handler);
    const { booking, request } = await paidWebhook(t, 1_500_000);
    expect(Buffer.byteLength(request.rawBody)).toBeGreaterThan(1_048_576);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(200);
    expect((await t.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it("honours a prebuilt handler's smaller maxBodyBytes, on the stream and on an express.raw Buffer", async () => {
    const t = createStripeFixture(fake, clock);
    const handler = createWebhookHandler({ engine: t.engine, payments: t.gateway, maxBodyBytes: 1024 });
    const app = express();
    app.post('/raw', express.raw({ type: 'application/json' }), expressWebhook(handler));
    app.post('/stream', expressWebhook(handler));
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);
    for (const path of ['/raw', '/stream']) {
      const response = await post(`${base}${path}`, request);
      expect(response.status, path).toBe(413);
      expect(await response.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    }
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers an express.raw Buffer (no fetch Request built) with the status, headers and body the stream gets', async () => {
    const t = createStripeFixture(fake, clock);
    const handler = createWebhookHandler({ engine: t.engine, payments: t.gateway, maxBodyBytes: 2048 });
    const app = express();
    app.post('/raw', express.raw({ type: 'application/json' }), expressWebhook(handler));
    app.post('/stream', expressWebhook(handler));
    const base = await serve(app);
    const { sessionId } = await t.pending();
    const event = stripeEvent('checkout.session.completed', fake.completeSession(sessionId));
    const cases = {
      forged: signedRequest(event, { at: clock.now(), secret: 'whsec_forged' }),
      ignored: t.signed('customer.created', { id: 'cus_x', object: 'customer', metadata: { patient: ADA } }),
      oversized: (await paidWebhook(t, 4096)).request,
    };
    const answer = async (path: string, request: { rawBody: string; headers: Record<string, string> }) => {
      const response = await post(`${base}${path}`, request);
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        connection: response.headers.get('connection'),
        body: await response.json(),
      };
    };
    for (const [name, request] of Object.entries(cases)) {
      const raw = await answer('/raw', request);
      expect(raw, name).toEqual(await answer('/stream', request));
      expect(raw.type, name).toBe('application/json');
    }
    expect((await answer('/raw', cases.oversized)).connection).toBe('close');
    // The same paid event: applied from the Buffer, a duplicate on the stream, in the same envelope.
    const paid = signedRequest(event, { at: clock.now() });
    const applied = await answer('/raw', paid);
    const again = await answer('/stream', paid);
    expect(applied).toEqual({ ...again, body: { received: true, outcome: 'confirmed' } });
    expect(again.body).toEqual({ received: true, outcome: 'duplicate' });
  });

  it('answers 500, so Stripe retries, when the engine fails for a reason that may pass', async () => {
    const t = createStripeFixture(fake, clock);
    const errors: unknown[] = [];
    const failing = {
      handlePaymentEvent: async (_event: PaymentEvent): Promise<PaymentEventResult> => {
        throw new Error('database unreachable');
      },
    };
    const handler = createWebhookHandler({ engine: failing, payments: t.gateway, onError: (e) => errors.push(e) });
    const app = express();
    app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook(handler));
    const base = await serve(app);
    const { request } = await paidWebhook(t);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: 'INTERNAL' } });
    expect(errors).toHaveLength(1);
  });

  it('ignores event types careslot does not act on with a 200', async () => {
    const t = createStripeFixture(fake, clock);
    const base = await serveRawWebhook(t);
    const request = t.signed('customer.created', { id: 'cus_x', object: 'customer', metadata: { patient: ADA } });
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, outcome: 'ignored', type: 'customer.created' });
  });

  it('refuses, when mounted, a bare function that is not a handler from createWebhookHandler', () => {
    const bare = (async () => ({ status: 200, body: {} })) as unknown as WebhookHandler;
    expect(() => expressWebhook(bare)).toThrow(
      new TypeError('expressWebhook: pass the options of createWebhookHandler, or the handler it returned'),
    );
  });
});
