// Delivers outbox events to the host's HTTP endpoints as signed webhooks, with the outbox doing the retries.
import {
  type EngineOutbox,
  OUTBOX_EVENT_TYPES,
  type OutboxEvent,
  type OutboxEventType,
  PermanentDeliveryError,
} from '../engine/outbox-types.js';
import { type Clock, systemClock } from '../ports/clock.js';
import {
  CARESLOT_EVENT_ID_HEADER,
  CARESLOT_SIGNATURE_HEADER,
  CARESLOT_TIMESTAMP_HEADER,
  signCareslotWebhook,
} from './webhook-signature.js';

/** One receiver of careslot's webhooks. */
export interface WebhookEndpointOptions {
  /**
   * Names the durable outbox consumer `webhook:<name>`. Give one: without it the URL is the name,
   * and a new URL is a new consumer that does not receive what was committed before it existed.
   * @defaultValue `url`
   */
  name?: string;
  /** An http(s) URL; redirects are not followed. */
  url: string;
  /** Shared with the receiver, which checks deliveries with `verifyCareslotWebhook`. */
  secret: string;
  /** @defaultValue every type in `OUTBOX_EVENT_TYPES` */
  events?: readonly OutboxEventType[];
}

/** What the sender needs from the engine; the BookingEngine is one. */
export interface WebhookSenderEngine {
  readonly outbox: Pick<EngineOutbox, 'subscribe'>;
}

export interface WebhookSenderOptions {
  /** Anything with `outbox.subscribe`: normally the BookingEngine. */
  engine: WebhookSenderEngine;
  endpoints: readonly WebhookEndpointOptions[];
  /** @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch;
  /** A delivery that has no answer by then fails and is retried. @defaultValue 10_000 */
  timeoutMs?: number;
  /** Stamps the signature's timestamp. @defaultValue the system clock */
  clock?: Clock;
}

/** An endpoint as the sender runs it; the secret stays inside. */
export interface WebhookSenderEndpoint {
  readonly name: string;
  readonly url: string;
  /** The outbox consumer whose records are this endpoint's delivery log. */
  readonly consumer: string;
  readonly events: readonly OutboxEventType[] | undefined;
  /** True once the endpoint answered 410 Gone; until the process restarts. */
  readonly disabled: boolean;
}

export interface WebhookSender {
  readonly endpoints: readonly WebhookSenderEndpoint[];
  /** Unsubscribes every endpoint; their pending deliveries stay in the outbox. */
  stop(): void;
  /** Whether the endpoint with this name (or else this URL) answered 410 Gone. */
  isDisabled(nameOrUrl: string): boolean;
}

/**
 * Retries for about 3 days, from 30 s doubling to 6 h apart: a receiver down for a weekend still
 * gets everything. `maxAttempts` is high so that the age is what ends it.
 */
export const WEBHOOK_RETRY_POLICY = {
  maxAgeMs: 3 * 24 * 60 * 60 * 1000,
  baseDelayMs: 30_000,
  maxDelayMs: 6 * 60 * 60 * 1000,
  maxAttempts: 40,
} as const;

export const WEBHOOK_USER_AGENT = 'careslot-webhooks';
const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough of a refusal's body to see the receiver's reason in the outbox error. */
const SNIPPET_BYTES = 200;

interface EndpointState {
  view: WebhookSenderEndpoint;
  secret: string;
  disabled: boolean;
}

function fail(message: string): never {
  throw new TypeError(`createWebhookSender: ${message}`);
}

function checkEndpoint(endpoint: WebhookEndpointOptions, index: number): void {
  const at = `endpoints[${index}]`;
  if (typeof endpoint !== 'object' || endpoint === null) fail(`${at} must be { url, secret, name?, events? }`);
  let url: URL | null = null;
  try {
    url = new URL(endpoint.url);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail(`${at}.url must be an absolute http(s) URL (got ${JSON.stringify(endpoint.url)})`);
  }
  if (typeof endpoint.secret !== 'string' || endpoint.secret === '') {
    fail(`${at}.secret must be a non-empty string: the secret the receiver verifies with`);
  }
  if (endpoint.name !== undefined && (typeof endpoint.name !== 'string' || endpoint.name === '')) {
    fail(`${at}.name must be a non-empty string, or left out to use the URL`);
  }
  if (endpoint.events !== undefined) {
    if (!Array.isArray(endpoint.events) || endpoint.events.length === 0) {
      fail(`${at}.events must be a non-empty array of event types, or left out for every type`);
    }
    const unknown = endpoint.events.filter((type) => !(OUTBOX_EVENT_TYPES as readonly string[]).includes(type));
    if (unknown.length > 0) {
      fail(`${at}.events has unknown types ${unknown.join(', ')}; the types are ${OUTBOX_EVENT_TYPES.join(', ')}`);
    }
  }
}

/** The first bytes of a body, as text; the rest is dropped so the connection is freed. */
async function snippet(response: Response): Promise<string> {
  const body = response.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < SNIPPET_BYTES) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // An unreadable refusal is still a refusal: the status says enough.
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(chunks).toString('utf8', 0, SNIPPET_BYTES).trim();
  return text === '' ? '' : `: ${text}`;
}

function bodyOf(event: OutboxEvent): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    createdAt: event.createdAt.toISOString(),
    bookingId: event.bookingId,
    scheduleId: event.scheduleId,
    version: event.version,
    payload: event.payload,
  });
}

/**
 * Subscribes one outbox consumer per endpoint (`webhook:<name>`) that POSTs each event as JSON,
 * signed with the endpoint's secret. A 2xx answer delivers it; any other answer, a network error
 * or no answer within `timeoutMs` throws, so the outbox retries with `WEBHOOK_RETRY_POLICY`.
 * A 410 Gone disables the endpoint: that delivery and every later one go dead at once
 * (`PermanentDeliveryError`) without a request, until the process restarts; re-drive them then.
 */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  if (!options || typeof options.engine?.outbox?.subscribe !== 'function') {
    fail('options.engine must be a BookingEngine (it needs engine.outbox.subscribe)');
  }
  const { endpoints, timeoutMs = DEFAULT_TIMEOUT_MS, clock = systemClock } = options;
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    fail('options.endpoints must list at least one endpoint: [{ name, url, secret }]');
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    fail(`options.timeoutMs must be whole milliseconds above 0 (got ${String(timeoutMs)}); leave it out for 10 s`);
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') fail('no fetch in this runtime; pass options.fetch');

  const states: EndpointState[] = [];
  endpoints.forEach((endpoint, index) => {
    checkEndpoint(endpoint, index);
    const name = endpoint.name ?? endpoint.url;
    if (states.some((s) => s.view.name === name)) {
      fail(`two endpoints are named ${JSON.stringify(name)}; give each a distinct name (it names the outbox consumer)`);
    }
    const state: EndpointState = {
      secret: endpoint.secret,
      disabled: false,
      view: {
        name,
        url: endpoint.url,
        consumer: `webhook:${name}`,
        events: endpoint.events === undefined ? undefined : [...endpoint.events],
        get disabled() {
          return state.disabled;
        },
      },
    };
    states.push(state);
  });

  const deliver = async (state: EndpointState, event: OutboxEvent): Promise<void> => {
    const { name, url } = state.view;
    if (state.disabled) throw new PermanentDeliveryError(`webhook ${name}: endpoint disabled (410 Gone)`);
    const body = bodyOf(event);
    const timestamp = Math.floor(clock.now().getTime() / 1000);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      let response: Response;
      try {
        response = await fetchImpl(url, {
          method: 'POST',
          body,
          redirect: 'manual',
          signal: controller.signal,
          headers: {
            'content-type': 'application/json',
            'user-agent': WEBHOOK_USER_AGENT,
            [CARESLOT_EVENT_ID_HEADER]: event.id,
            [CARESLOT_TIMESTAMP_HEADER]: String(timestamp),
            [CARESLOT_SIGNATURE_HEADER]: signCareslotWebhook({ rawBody: body, secret: state.secret, timestamp }),
          },
        });
      } catch (error) {
        if (controller.signal.aborted) {
          throw new Error(`webhook ${name}: ${url} did not answer within ${timeoutMs} ms`, { cause: error });
        }
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`webhook ${name}: POST ${url} failed: ${reason}`, { cause: error });
      }
      if (response.ok) {
        await response.body?.cancel().catch(() => {});
        return;
      }
      const detail = await snippet(response);
      if (response.status === 410) {
        state.disabled = true;
        throw new PermanentDeliveryError(`webhook ${name}: ${url} answered 410 Gone; endpoint disabled${detail}`);
      }
      const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      throw new Error(`webhook ${name}: ${url} answered ${response.status}${redirect}${detail}`);
    } finally {
      clearTimeout(timer);
    }
  };

  const unsubscribes = states.map((state) =>
    options.engine.outbox.subscribe(state.view.consumer, (event) => deliver(state, event), {
      ...(state.view.events === undefined ? {} : { events: state.view.events }),
      ...WEBHOOK_RETRY_POLICY,
      // Off the request path: the outbox job (a BullMQ worker, with BullMQScheduler) delivers.
      fastPath: false,
    }),
  );

  const views = states.map((s) => s.view);
  return {
    endpoints: views,
    stop() {
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
    },
    isDisabled(nameOrUrl) {
      const byName = states.find((s) => s.view.name === nameOrUrl);
      if (byName) return byName.disabled;
      const byUrl = states.filter((s) => s.view.url === nameOrUrl);
      if (byUrl.length === 0) {
        throw new TypeError(
          `isDisabled: no endpoint is named or at ${JSON.stringify(nameOrUrl)}; the endpoints are ${views.map((v) => v.name).join(', ')}`,
        );
      }
      return byUrl.some((s) => s.disabled);
    },
  };
}
