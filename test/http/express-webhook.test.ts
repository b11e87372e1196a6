// expressWebhook in a real Express app: the raw body reaches Stripe's verifier next to express.json() routes.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expressWebhook } from '../../src/http/express.js';
import { createWebhookHandler, type PaymentEvent, type PaymentEventResult } from '../../src/index.js';
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
    expressWebhook({ engine: t.engine, gateway: t.gateway }),
  );
  return serve(app);
}

/** A pending booking and the signed checkout.session.completed Stripe would send for it. */
async function paidWebhook(t: StripeFixture) {
  const { booking, sessionId } = await t.pending();
  const request = t.signed('checkout.session.completed', fake.completeSession(sessionId));
  return { booking, request };
}

function post(url: string, request: { rawBody: string; headers: Record<string, string> }) {
  return fetch(url, { method: 'POST', body: request.rawBody, headers: request.headers });
}

describe('expressWebhook', () => {
  it('verifies the raw body with express.raw on the webhook route while the rest of the app uses express.json()', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post(
      '/webhooks/stripe',
      express.raw({ type: 'application/json' }),
      expressWebhook({ engine: t.engine, gateway: t.gateway }),
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
    app.post('/webhooks/stripe', expressWebhook({ engine: t.engine, gateway: t.gateway }));
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);

    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(body.error.message).toContain('express.raw({ type: "application/json" })');
    expect((await t.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('reads the raw stream itself when no body parser ran', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post('/webhooks/stripe', expressWebhook({ engine: t.engine, gateway: t.gateway }));
    const base = await serve(app);
    const { booking, request } = await paidWebhook(t);

    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(200);
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

  it('answers 413 to a body over maxBodyBytes read from the stream', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post('/webhooks/stripe', expressWebhook({ engine: t.engine, gateway: t.gateway, maxBodyBytes: 1024 }));
    const base = await serve(app);
    const { request } = await paidWebhook(t);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(413);
  });

  it('mounts a handler built with createWebhookHandler', async () => {
    const t = createStripeFixture(fake, clock);
    const app = express();
    app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook(t.webhook));
    const base = await serve(app);
    const { request } = await paidWebhook(t);
    expect((await post(`${base}/webhooks/stripe`, request)).status).toBe(200);
  });

  it('answers 500, so Stripe retries, when the engine fails for a reason that may pass', async () => {
    const t = createStripeFixture(fake, clock);
    const errors: unknown[] = [];
    const failing = {
      handlePaymentEvent: async (_event: PaymentEvent): Promise<PaymentEventResult> => {
        throw new Error('database unreachable');
      },
    };
    const handler = createWebhookHandler({ engine: failing, gateway: t.gateway, onError: (e) => errors.push(e) });
    const app = express();
    app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), expressWebhook(handler));
    const base = await serve(app);
    const { request } = await paidWebhook(t);
    const response = await post(`${base}/webhooks/stripe`, request);
    expect(response.status).toBe(500);
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
});
