// createWebhookSender against a real local receiver: signed deliveries, retries by throwing, 410 disabling, timeouts.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type OutboxEvent,
  type OutboxHandler,
  PermanentDeliveryError,
  type SubscribeOptions,
} from '../../src/engine/outbox-types.js';
import { createWebhookSender, WEBHOOK_RETRY_POLICY, type WebhookSenderOptions } from '../../src/http/webhook-sender.js';
import {
  CARESLOT_EVENT_ID_HEADER,
  CARESLOT_SIGNATURE_HEADER,
  CARESLOT_TIMESTAMP_HEADER,
  verifyCareslotWebhook,
} from '../../src/http/webhook-signature.js';

const SECRET = 'whsec_sender_test';
const NOW = new Date('2026-06-01T10:00:05.000Z');
const clock = { now: () => NOW };

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that records each request and answers with the next scripted reply (200 once they run out). */
interface Receiver {
  url: string;
  received: Received[];
  replies: Array<number | 'hang'>;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function receiver(replies: Array<number | 'hang'> = []): Promise<Receiver> {
  const received: Received[] = [];
  const state: Receiver = { url: '', received, replies };
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const reply = state.replies.shift() ?? 200;
      if (reply === 'hang') return; // never answers
      res.writeHead(reply, { 'content-type': 'text/plain' }).end(reply >= 400 ? `refused with ${reply}` : 'ok');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/careslot`;
  return state;
}

interface Subscription {
  name: string;
  handler: OutboxHandler;
  options: SubscribeOptions | undefined;
  unsubscribed: boolean;
}

/** What the engine's outbox does with a subscriber, minus the store: the test calls the handler as a drain would. */
function fakeEngine() {
  const subscriptions: Subscription[] = [];
  const engine = {
    outbox: {
      subscribe(name: string, handler: OutboxHandler, options?: SubscribeOptions) {
        const subscription: Subscription = { name, handler, options, unsubscribed: false };
        subscriptions.push(subscription);
        return () => {
          subscription.unsubscribed = true;
        };
      },
    },
  };
  return { engine, subscriptions };
}

function outboxEvent(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  return {
    id: 'obx_1',
    type: 'booking.confirmed',
    bookingId: 'bk_1',
    scheduleId: 'sch_1',
    createdAt: new Date('2026-06-01T10:00:00.000Z'),
    version: 1,
    payload: { booking: { id: 'bk_1', status: 'confirmed', notes: 'café ☕' } },
    attempt: 1,
    ...overrides,
  };
}

function deliver(subscription: Subscription | undefined, event = outboxEvent()) {
  if (!subscription) throw new Error('no subscription was made');
  return Promise.resolve(subscription.handler(event));
}

describe('createWebhookSender', () => {
  it('subscribes webhook:<name> with the events filter and the 3-day retry policy', async () => {
    const { engine, subscriptions } = fakeEngine();
    const sender = createWebhookSender({
      engine,
      clock,
      endpoints: [
        { name: 'crm', url: 'https://crm.example/hooks', secret: SECRET, events: ['booking.confirmed'] },
        { url: 'https://ops.example/hooks', secret: SECRET },
      ],
    });
    expect(subscriptions.map((s) => s.name)).toEqual(['webhook:crm', 'webhook:https://ops.example/hooks']);
    expect(subscriptions[0]?.options).toEqual({
      events: ['booking.confirmed'],
      ...WEBHOOK_RETRY_POLICY,
      fastPath: false,
    });
    expect(subscriptions[1]?.options).toEqual({ ...WEBHOOK_RETRY_POLICY, fastPath: false });
    expect(WEBHOOK_RETRY_POLICY).toEqual({
      maxAgeMs: 259_200_000,
      baseDelayMs: 30_000,
      maxDelayMs: 21_600_000,
      maxAttempts: 40,
    });
    expect(sender.endpoints.map((e) => [e.name, e.consumer, e.disabled])).toEqual([
      ['crm', 'webhook:crm', false],
      ['https://ops.example/hooks', 'webhook:https://ops.example/hooks', false],
    ]);
    expect(JSON.stringify(sender.endpoints)).not.toContain(SECRET);
    sender.stop();
    expect(subscriptions.every((s) => s.unsubscribed)).toBe(true);
  });

  it('POSTs the event as JSON that the receiver verifies with verifyCareslotWebhook, byte for byte', async () => {
    const hook = await receiver();
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({ engine, clock, endpoints: [{ name: 'crm', url: hook.url, secret: SECRET }] });
    await deliver(subscriptions[0]);

    expect(hook.received).toHaveLength(1);
    const { headers, body } = hook.received[0] as Received;
    expect(body).toBe(
      JSON.stringify({
        id: 'obx_1',
        type: 'booking.confirmed',
        createdAt: '2026-06-01T10:00:00.000Z',
        bookingId: 'bk_1',
        scheduleId: 'sch_1',
        version: 1,
        payload: { booking: { id: 'bk_1', status: 'confirmed', notes: 'café ☕' } },
      }),
    );
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe('careslot-webhooks');
    expect(headers[CARESLOT_EVENT_ID_HEADER]).toBe('obx_1');
    expect(headers[CARESLOT_TIMESTAMP_HEADER]).toBe(String(NOW.getTime() / 1000));
    expect(headers[CARESLOT_SIGNATURE_HEADER]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const verified = verifyCareslotWebhook({ rawBody: body, headers, secret: SECRET, now: () => NOW.getTime() });
    expect(verified).toMatchObject({ id: 'obx_1', type: 'booking.confirmed', bookingId: 'bk_1', version: 1 });
    expect(verified.createdAt).toEqual(new Date('2026-06-01T10:00:00.000Z'));
    expect(verified.payload).toEqual({ booking: { id: 'bk_1', status: 'confirmed', notes: 'café ☕' } });
    expect(() =>
      verifyCareslotWebhook({ rawBody: body, headers, secret: 'whsec_wrong', now: () => NOW.getTime() }),
    ).toThrow(/does not match/);
  });

  it('throws on a 500 so the outbox retries, and the retry that gets a 200 delivers', async () => {
    const hook = await receiver([500]);
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({ engine, clock, endpoints: [{ name: 'crm', url: hook.url, secret: SECRET }] });

    const first = deliver(subscriptions[0]);
    await expect(first).rejects.toThrow(/answered 500: refused with 500/);
    await expect(first).rejects.not.toBeInstanceOf(PermanentDeliveryError);
    await expect(deliver(subscriptions[0], outboxEvent({ attempt: 2 }))).resolves.toBeUndefined();
    expect(hook.received.map((r) => r.headers[CARESLOT_EVENT_ID_HEADER])).toEqual(['obx_1', 'obx_1']);
  });

  it('disables the endpoint on 410 Gone: that delivery and every later one go dead without a request', async () => {
    const hook = await receiver([410]);
    const other = await receiver();
    const { engine, subscriptions } = fakeEngine();
    const sender = createWebhookSender({
      engine,
      clock,
      endpoints: [
        { name: 'crm', url: hook.url, secret: SECRET },
        { name: 'ops', url: other.url, secret: SECRET },
      ],
    });

    await expect(deliver(subscriptions[0])).rejects.toBeInstanceOf(PermanentDeliveryError);
    expect(sender.isDisabled('crm')).toBe(true);
    expect(sender.isDisabled(hook.url)).toBe(true);
    expect(sender.endpoints[0]?.disabled).toBe(true);

    const later = deliver(subscriptions[0], outboxEvent({ id: 'obx_2' }));
    await expect(later).rejects.toBeInstanceOf(PermanentDeliveryError);
    await expect(later).rejects.toThrow(/endpoint disabled \(410 Gone\)/);
    expect(hook.received).toHaveLength(1);

    // The other endpoint is its own consumer and keeps receiving.
    await deliver(subscriptions[1], outboxEvent({ id: 'obx_2' }));
    expect(sender.isDisabled('ops')).toBe(false);
    expect(other.received).toHaveLength(1);
    expect(() => sender.isDisabled('nope')).toThrow(/no endpoint is named or at "nope"/);
  });

  it('gives up on a receiver that does not answer within timeoutMs, and the outbox may retry', async () => {
    const hook = await receiver(['hang']);
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({
      engine,
      clock,
      timeoutMs: 100,
      endpoints: [{ name: 'slow', url: hook.url, secret: SECRET }],
    });

    const started = performance.now();
    const attempt = deliver(subscriptions[0]);
    await expect(attempt).rejects.toThrow(/did not answer within 100 ms/);
    await expect(attempt).rejects.not.toBeInstanceOf(PermanentDeliveryError);
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(deliver(subscriptions[0])).resolves.toBeUndefined();
  });

  it('throws a retryable error naming the URL when the receiver cannot be reached', async () => {
    const hook = await receiver();
    const server = servers.pop() as Server;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({ engine, clock, endpoints: [{ name: 'down', url: hook.url, secret: SECRET }] });
    const attempt = deliver(subscriptions[0]);
    await expect(attempt).rejects.toThrow(`webhook down: POST ${hook.url} failed`);
    await expect(attempt).rejects.not.toBeInstanceOf(PermanentDeliveryError);
  });

  it('does not follow redirects: a 3xx is a failed delivery', async () => {
    const hook = await receiver([308]);
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({ engine, clock, endpoints: [{ name: 'moved', url: hook.url, secret: SECRET }] });
    await expect(deliver(subscriptions[0])).rejects.toThrow(/answered 308 \(redirects are not followed\)/);
    expect(hook.received).toHaveLength(1);
  });

  it('uses the fetch it is given', async () => {
    const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
    const fetchStub: typeof fetch = async (input, init) => {
      calls.push({ url: String(input), init });
      return new Response(null, { status: 204 });
    };
    const { engine, subscriptions } = fakeEngine();
    createWebhookSender({
      engine,
      clock,
      fetch: fetchStub,
      endpoints: [{ url: 'https://crm.example/h', secret: SECRET }],
    });
    await deliver(subscriptions[0]);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('https://crm.example/h');
    expect(calls[0]?.init?.method).toBe('POST');
  });

  describe('refuses options it cannot run with', () => {
    const { engine } = fakeEngine();
    const endpoint = { name: 'crm', url: 'https://crm.example/hooks', secret: SECRET };
    const cases: Array<[string, unknown, RegExp]> = [
      ['no engine', { endpoints: [endpoint] }, /options\.engine must be a BookingEngine/],
      ['no endpoints', { engine, endpoints: [] }, /at least one endpoint/],
      ['a non-http URL', { engine, endpoints: [{ ...endpoint, url: 'ftp://crm.example/x' }] }, /http\(s\) URL/],
      ['a relative URL', { engine, endpoints: [{ ...endpoint, url: '/hooks' }] }, /endpoints\[0\]\.url/],
      ['an empty secret', { engine, endpoints: [{ ...endpoint, secret: '' }] }, /endpoints\[0\]\.secret/],
      [
        'duplicate names',
        { engine, endpoints: [endpoint, { ...endpoint, url: 'https://other.example/hooks' }] },
        /two endpoints are named "crm"/,
      ],
      [
        'duplicate URLs without names',
        {
          engine,
          endpoints: [
            { url: endpoint.url, secret: SECRET },
            { url: endpoint.url, secret: 'x' },
          ],
        },
        /two endpoints are named/,
      ],
      ['an unknown event type', { engine, endpoints: [{ ...endpoint, events: ['booking.paid'] }] }, /booking\.paid/],
      ['an empty events list', { engine, endpoints: [{ ...endpoint, events: [] }] }, /non-empty array/],
      ['a zero timeout', { engine, endpoints: [endpoint], timeoutMs: 0 }, /timeoutMs/],
    ];
    it.each(cases)('%s', (_label, options, message) => {
      expect(() => createWebhookSender(options as WebhookSenderOptions)).toThrow(TypeError);
      expect(() => createWebhookSender(options as WebhookSenderOptions)).toThrow(message);
    });
  });
});
