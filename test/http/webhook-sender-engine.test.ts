// createWebhookSender on a real engine and a real local receiver: only a drain sends, once each, in order per booking, signed; retries and 410.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CARESLOT_EVENT_ID_HEADER,
  createWebhookSender,
  type OutboxEventType,
  verifyCareslotWebhook,
  type WebhookEndpointOptions,
} from '../../src/index.js';
import { createFixture, type Fixture, PATIENTS } from '../support/engine-fixture.js';

const SECRET = 'whsec_engine_sender_test';

interface Delivery {
  id: string;
  type: string;
  bookingId: string | null;
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that verifies each request against the fixture's clock and answers with the next scripted status (200 once they run out). */
interface Receiver {
  url: string;
  /** Every request that verified, with the status it was answered. */
  deliveries: Delivery[];
  /** Requests that did not verify (should stay empty). */
  rejected: string[];
  replies: number[];
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function receiver(f: Fixture, replies: number[] = []): Promise<Receiver> {
  const state: Receiver = { url: '', deliveries: [], rejected: [], replies };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        const event = verifyCareslotWebhook({
          rawBody: body,
          headers: req.headers,
          secret: SECRET,
          now: () => f.clock.now().getTime(),
        });
        const status = state.replies.shift() ?? 200;
        state.deliveries.push({
          id: event.id,
          type: event.type,
          bookingId: event.bookingId,
          status,
          headers: req.headers,
          body,
        });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 400 ? `refused with ${status}` : 'ok');
      } catch (error) {
        state.rejected.push(error instanceof Error ? error.message : String(error));
        res.writeHead(400).end('bad signature');
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/careslot`;
  return state;
}

/** A fixture with a webhook sender subscribed before any traffic, to a fresh receiver. */
async function setup(replies: number[] = [], endpoint: Partial<WebhookEndpointOptions> = {}) {
  const f = createFixture({ keepDeliveredOutbox: true });
  const hook = await receiver(f, replies);
  const sender = createWebhookSender({
    engine: f.engine,
    clock: f.clock,
    endpoints: [{ name: 'crm', url: hook.url, secret: SECRET, ...endpoint }],
  });
  return { f, hook, sender };
}

async function paidBooking(f: Fixture) {
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  expect((await f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).outcome).toBe('confirmed');
  return { slot, booking };
}

describe('createWebhookSender on a real engine', () => {
  it('sends nothing before a drain, then each event once, in order per booking, signed', async () => {
    const { f, hook } = await setup();
    const { slot, booking } = await paidBooking(f);
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a1' } });
    // fastPath: false: the commits delivered the built-in effects, but no webhook went out.
    expect(hook.deliveries).toEqual([]);
    const pending = await f.store.findOutbox({ consumer: 'webhook:crm', status: 'pending' });
    expect(pending.length).toBeGreaterThanOrEqual(4);

    const report = await f.engine.outbox.drain();
    expect(hook.rejected).toEqual([]);
    expect(report.failed + report.dead).toBe(0);
    const ofBooking = hook.deliveries.filter((d) => d.bookingId === booking.id).map((d) => d.type);
    expect(ofBooking).toEqual<OutboxEventType[]>([
      'booking.created',
      'booking.confirmed',
      'booking.cancelled',
      'schedule.released',
      'refund.succeeded',
    ]);
    expect(hook.deliveries[0]).toMatchObject({ type: 'schedule.created', bookingId: null });
    expect(report).toEqual({ delivered: hook.deliveries.length, failed: 0, dead: 0 });
    // Once each: one request per record, every record delivered, the event id in header and body.
    const records = await f.store.findOutbox({ consumer: 'webhook:crm' });
    expect(records.every((r) => r.status === 'delivered')).toBe(true);
    expect(hook.deliveries.map((d) => d.id)).toEqual(records.map((r) => r.eventId));
    expect(new Set(hook.deliveries.map((d) => d.id)).size).toBe(hook.deliveries.length);
    for (const d of hook.deliveries) expect(d.headers[CARESLOT_EVENT_ID_HEADER]).toBe(d.id);
    const created = hook.deliveries.find((d) => d.type === 'booking.created');
    expect(JSON.parse(created?.body ?? '{}')).toMatchObject({
      bookingId: booking.id,
      scheduleId: slot.id,
      version: 1,
      payload: { booking: { id: booking.id, slotStart: slot.startTime.toISOString() } },
    });

    // A second drain (and the sweep) sends nothing again.
    const count = hook.deliveries.length;
    f.clock.advanceMinutes(5);
    await f.engine.outbox.drain();
    await f.engine.reconcile();
    expect(hook.deliveries).toHaveLength(count);
  });

  it('signs so that a tampered body or a stale timestamp is refused by verifyCareslotWebhook', async () => {
    const { f, hook } = await setup([], { events: ['booking.created'] });
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.engine.outbox.drain();
    expect(hook.deliveries).toHaveLength(1);
    const [delivery] = hook.deliveries;
    if (!delivery) throw new Error('no delivery');
    const now = () => f.clock.now().getTime();
    expect(verifyCareslotWebhook({ rawBody: delivery.body, headers: delivery.headers, secret: SECRET, now }).id).toBe(
      delivery.id,
    );
    const tampered = delivery.body.replace(PATIENTS.vise, PATIENTS.other);
    expect(tampered).not.toBe(delivery.body);
    expect(() => verifyCareslotWebhook({ rawBody: tampered, headers: delivery.headers, secret: SECRET, now })).toThrow(
      expect.objectContaining({ code: 'INVALID_SIGNATURE' }),
    );
    expect(() =>
      verifyCareslotWebhook({ rawBody: delivery.body, headers: delivery.headers, secret: 'whsec_other', now }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_SIGNATURE' }));
    // Replayed six minutes later: outside the 300 s tolerance.
    f.clock.advanceMinutes(6);
    expect(() =>
      verifyCareslotWebhook({ rawBody: delivery.body, headers: delivery.headers, secret: SECRET, now }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_SIGNATURE', message: expect.stringMatching(/old/) }));
  });

  it('retries a receiver that answered 500 after the 30 s backoff, and delivers it once', async () => {
    const { f, hook } = await setup([500], { events: ['booking.created'] });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect((await f.engine.outbox.drain()).failed).toBe(1);
    expect(hook.deliveries.map((d) => d.status)).toEqual([500]);
    const [record] = await f.store.findOutbox({ consumer: 'webhook:crm' });
    expect(record).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/answered 500/) });
    expect(record?.nextAttemptAt.getTime()).toBe(f.clock.now().getTime() + 30_000);

    // Not due yet: nothing is sent before the backoff ends.
    f.clock.advance(29_000);
    await f.engine.outbox.drain();
    expect(hook.deliveries).toHaveLength(1);
    f.clock.advance(2_000);
    expect((await f.engine.outbox.drain()).delivered).toBe(1);
    expect(hook.rejected).toEqual([]);
    expect(hook.deliveries.map((d) => [d.id, d.type, d.bookingId, d.status])).toEqual([
      [record?.eventId, 'booking.created', booking.id, 500],
      [record?.eventId, 'booking.created', booking.id, 200],
    ]);
    expect((await f.store.findOutbox({ consumer: 'webhook:crm' })).map((r) => [r.status, r.attempts])).toEqual([
      ['delivered', 1],
    ]);
    f.clock.advanceMinutes(10);
    await f.engine.outbox.drain();
    expect(hook.deliveries).toHaveLength(2);
  });

  it('disables an endpoint that answered 410: its deliveries end dead, without further requests', async () => {
    const { f, hook, sender } = await setup([410]);
    const { booking } = await paidBooking(f);
    await f.engine.outbox.drain();
    expect(hook.deliveries.map((d) => d.status)).toEqual([410]);
    expect(sender.isDisabled('crm')).toBe(true);
    const dead = await f.engine.outbox.listDead({ consumer: 'webhook:crm' });
    const all = await f.store.findOutbox({ consumer: 'webhook:crm' });
    expect(dead.map((r) => r.key)).toEqual(all.map((r) => r.key));
    expect(dead.map((r) => r.type)).toEqual(['schedule.created', 'booking.created', 'booking.confirmed']);
    expect(dead.every((r) => r.attempts === 1)).toBe(true);
    expect(dead[0]?.lastError).toMatch(/410 Gone/);
    expect(dead.filter((r) => r.bookingId === booking.id)).toHaveLength(2);
    // Later events go dead too, with no request; the built-in consumers are unaffected.
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a1' } });
    f.clock.advanceMinutes(5);
    await f.engine.outbox.drain();
    expect(hook.deliveries).toHaveLength(1);
    expect(await f.store.findOutbox({ consumer: 'webhook:crm', status: 'pending' })).toEqual([]);
    expect((await f.engine.outbox.listDead({ consumer: 'webhook:crm' })).length).toBeGreaterThan(3);
    expect(await f.engine.outbox.listDead({ consumer: 'careslot:notifier' })).toEqual([]);
  });
});
