// nodeWebhook on a bare node:http server: the same answers as handler.fetch, from the raw stream.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createWebhookHandler, nodeWebhook, type PaymentEvent } from '../../src/index.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

async function pendingBooking() {
  const f = createFixture();
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const request = f.gateway.signWebhook(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return { f, booking, request };
}

function post(url: string, request: { rawBody: string; headers: Record<string, string> }) {
  return fetch(url, { method: 'POST', body: request.rawBody, headers: request.headers });
}

describe('nodeWebhook', () => {
  it('confirms the booking from a signed body read off the stream, and answers duplicate on a replay', async () => {
    const { f, booking, request } = await pendingBooking();
    const url = await serve(nodeWebhook({ engine: f.engine, payments: f.gateway }));
    const first = await post(url, request);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true, outcome: 'confirmed' });
    expect(await (await post(url, request)).json()).toEqual({ received: true, outcome: 'duplicate' });
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it("answers 413 PAYLOAD_TOO_LARGE with Connection: close over a prebuilt handler's maxBodyBytes", async () => {
    const { f, booking, request } = await pendingBooking();
    const handler = createWebhookHandler({ engine: f.engine, payments: f.gateway, maxBodyBytes: 64 });
    const url = await serve(nodeWebhook(handler));
    const response = await post(url, request);
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'Webhook body exceeds 64 bytes' },
    });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 400 INVALID_SIGNATURE to a forged body and changes nothing', async () => {
    const { f, booking, request } = await pendingBooking();
    const url = await serve(nodeWebhook({ engine: f.engine, payments: f.gateway }));
    const forged = { ...request, rawBody: request.rawBody.replace('"amount":5000', '"amount":1') };
    const response = await post(url, forged);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });

  it('answers 500 INTERNAL and reports the error when the engine fails', async () => {
    const { f, request } = await pendingBooking();
    const errors: unknown[] = [];
    const engine = {
      handlePaymentEvent: async (_event: PaymentEvent): Promise<never> => {
        throw new Error('database unreachable');
      },
    };
    const url = await serve(nodeWebhook({ engine, payments: f.gateway, onError: (e) => errors.push(e) }));
    const response = await post(url, request);
    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ error: { code: 'INTERNAL' } });
    expect(errors).toEqual([new Error('database unreachable')]);
  });

  it("answers 500 INTERNAL, and logs, when the host's onError itself throws", async () => {
    const { f, request } = await pendingBooking();
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const engine = {
        handlePaymentEvent: async (_event: PaymentEvent): Promise<never> => {
          throw new Error('database unreachable');
        },
      };
      const onError = () => {
        throw new Error('logger down');
      };
      const url = await serve(nodeWebhook({ engine, payments: f.gateway, onError }));
      const response = await post(url, request);
      expect(response.status).toBe(500);
      expect(await response.json()).toMatchObject({ error: { code: 'INTERNAL' } });
      expect(logged).toHaveBeenCalledWith('careslot: webhook failed', new Error('logger down'));
    } finally {
      logged.mockRestore();
    }
  });
});
