// A loopback fake of the few Stripe endpoints careslot calls: records requests, keeps idempotency keys as Stripe documents, injects faults.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

export interface RecordedRequest {
  method: string;
  path: string;
  /** Form body (POST) or query string (GET), flat as sent: `line_items[0][price_data][currency]`. */
  params: Record<string, string>;
  idempotencyKey: string | null;
  /** The answer was a stored one, replayed for a key seen before (`Idempotent-Replayed: true`). */
  replayed: boolean;
}

export interface FakeResponse {
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * A fault for the next matching requests, placed where it happens relative to Stripe's
 * idempotency layer (https://docs.stripe.com/api/idempotent_requests,
 * https://docs.stripe.com/error-low-level): results are saved once an endpoint began executing,
 * 500s included; a request that never reached the API (rate limited, refused by validation, lost
 * on the way) saves nothing and may be retried under the same key.
 */
export interface FakeFault {
  /** What the client gets. Omitted: the connection is closed without an answer (a network error). */
  response?: FakeResponse;
  /**
   * - `edge`: before the API ran (429, 401, a 409 for a request in progress, a request lost on
   *   the way): nothing is created, nothing is saved under the key.
   * - `before-create`: the endpoint began, then failed before creating anything; the answer is
   *   saved under the key and replayed for 24 hours.
   * - `after-create`: the endpoint created the object, then failed or the answer was lost; the
   *   failure (or, for a dropped connection, the real result) is saved under the key.
   * @defaultValue `before-create` for a 5xx answer, `edge` otherwise
   */
  at?: 'edge' | 'before-create' | 'after-create';
  /** Runs when the request arrives, before anything else: e.g. advance the clock as a client timeout would. */
  onArrive?: () => void;
}

export interface FakeSession {
  id: string;
  object: 'checkout.session';
  mode: string;
  status: 'open' | 'complete' | 'expired';
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  url: string | null;
  amount_total: number | null;
  amount_subtotal: number;
  currency: string;
  customer: string | null;
  customer_email: string | null;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  payment_intent: string | null;
  expires_at: number;
  created: number;
  success_url: string | null;
  cancel_url: string | null;
  livemode: false;
}

export interface FakePaymentIntent {
  id: string;
  object: 'payment_intent';
  /** Stripe's PaymentIntent statuses: https://docs.stripe.com/payments/paymentintents/lifecycle */
  status:
    | 'requires_payment_method'
    | 'requires_confirmation'
    | 'requires_action'
    | 'processing'
    | 'requires_capture'
    | 'canceled'
    | 'succeeded';
  amount: number;
  amount_received: number;
  currency: string;
  metadata: Record<string, string>;
  created: number;
  livemode: false;
}

export interface FakeRefund {
  id: string;
  object: 'refund';
  amount: number;
  currency: string;
  payment_intent: string;
  status: string;
  reason: string | null;
  metadata: Record<string, string>;
  created: number;
}

export interface FakeCustomer {
  id: string;
  object: 'customer';
  name: string | null;
  email: string | null;
  metadata: Record<string, string>;
  created: number;
  livemode: false;
}

interface Failure {
  method: string;
  path: RegExp;
  fault: FakeFault;
  remaining: number;
}

/** What an endpoint answered, and whether it got far enough to be saved under an idempotency key. */
interface Outcome {
  response: FakeResponse;
  /** False for parameter validation errors: Stripe saves nothing for those. */
  executed: boolean;
}

interface StoredKey {
  fingerprint: string;
  response: FakeResponse;
  at: number;
}

const DAY_MS = 24 * 3600_000;
const LIST_LIMIT_MAX = 100;

/** `metadata[a]=1` → `{ a: '1' }` for the given prefix. */
export function nested(params: Record<string, string>, prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (key.startsWith(`${prefix}[`) && key.endsWith(']')) out[key.slice(prefix.length + 1, -1)] = value;
  }
  return out;
}

function stripeError(
  status: number,
  message: string,
  extra: { type?: string; code?: string; param?: string } = {},
): FakeResponse {
  return { status, body: { error: { type: extra.type ?? 'invalid_request_error', message, ...extra } } };
}

/** A parameter check that fails before the endpoint runs: never saved under the key. */
const invalid = (response: FakeResponse): Outcome => ({ response, executed: false });
const done = (response: FakeResponse): Outcome => ({ response, executed: true });
const ok = (body: object): Outcome => done({ status: 200, body: structuredClone(body) as Record<string, unknown> });

/** Stripe's list pagination over objects sorted newest first. */
function page<T extends { id: string }>(items: T[], params: Record<string, string>, url: string): FakeResponse {
  const limit = Math.min(Number(params.limit ?? '10'), LIST_LIMIT_MAX);
  const after = params.starting_after;
  const start = after === undefined ? 0 : items.findIndex((item) => item.id === after) + 1;
  const data = items.slice(start, start + limit);
  return {
    status: 200,
    body: { object: 'list', data: structuredClone(data), has_more: start + limit < items.length, url },
  };
}

/**
 * Answers like Stripe for POST and GET /v1/customers, GET /v1/customers/search, POST /v1/checkout/sessions,
 * GET /v1/checkout/sessions/:id (with `expand[]=payment_intent`), POST /v1/checkout/sessions/:id/expire,
 * GET /v1/payment_intents/:id, POST and GET /v1/refunds. `now` is the fake's notion of time, used to
 * validate `expires_at`, to date objects, to age idempotency keys (24 hours) and to index customers
 * for search (`searchIndexDelayMs`).
 */
export class FakeStripeServer {
  readonly requests: RecordedRequest[] = [];
  readonly customers = new Map<string, FakeCustomer>();
  readonly sessions = new Map<string, FakeSession>();
  readonly paymentIntents = new Map<string, FakePaymentIntent>();
  readonly refunds = new Map<string, FakeRefund>();
  /** Replay the saved answer for a reused key, and refuse a key reused with other parameters. */
  honourIdempotency = true;
  /**
   * How long after creation a customer shows up in search. Stripe: "Don't use search in
   * read-after-write flows ... data is searchable in less than a minute ... up to an hour behind
   * during outages" (https://docs.stripe.com/api/customers/search). List endpoints are immediate.
   */
  searchIndexDelayMs = 60_000;
  /** How long a key's saved answer is replayed. Stripe: keys are pruned once "at least 24 hours old". */
  keyLifetimeMs = DAY_MS;
  now: () => Date;

  private readonly idempotent = new Map<string, StoredKey>();
  private readonly failures: Failure[] = [];
  private counter = 0;

  private constructor(
    private readonly server: Server,
    now: () => Date,
  ) {
    this.now = now;
  }

  static async start(options: { now?: () => Date } = {}): Promise<FakeStripeServer> {
    const server = createServer();
    const fake = new FakeStripeServer(server, options.now ?? (() => new Date()));
    server.on('request', (req, res) => {
      fake.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A real stripe-node client pointed at this fake. No retries unless asked; stripe-node's 80 s timeout unless asked. */
  client(config: { maxNetworkRetries?: number; timeout?: number } = {}): Stripe {
    return new Stripe('sk_test_careslot_fake', {
      host: '127.0.0.1',
      port: this.port,
      protocol: 'http',
      maxNetworkRetries: config.maxNetworkRetries ?? 0,
      ...(config.timeout === undefined ? {} : { timeout: config.timeout }),
      telemetry: false,
    });
  }

  /**
   * The next `times` requests matching `method` and `path` meet `fault` (or get `response`, a
   * 5xx saved under its key as Stripe does, anything else answered before the idempotency layer).
   */
  failNext(method: string, path: RegExp | string, fault: FakeResponse | FakeFault, times = 1): this {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    const asFault: FakeFault = 'status' in fault ? { response: fault } : fault;
    this.failures.push({ method, path: pattern, fault: asFault, remaining: times });
    return this;
  }

  requestsTo(method: string, path: RegExp | string): RecordedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    );
  }

  /** The patient finishes the hosted page. Returns the session as Stripe would put it in an event. */
  completeSession(
    id: string,
    outcome: { paymentStatus?: FakeSession['payment_status']; amount?: number | null; currency?: string } = {},
  ): FakeSession {
    const session = this.session(id);
    session.status = 'complete';
    session.payment_status = outcome.paymentStatus ?? 'paid';
    if (outcome.amount !== undefined) session.amount_total = outcome.amount;
    if (outcome.currency !== undefined) session.currency = outcome.currency;
    if (session.payment_status !== 'no_payment_required') {
      const intent = this.intentFor(session);
      // A card settles at once; a delayed method (bank debit) stays processing until it settles or fails.
      intent.status = session.payment_status === 'paid' ? 'succeeded' : 'processing';
      intent.amount_received = session.payment_status === 'paid' ? intent.amount : 0;
    }
    return structuredClone(session);
  }

  /**
   * A delayed payment method settled, or failed: Stripe keeps the session `complete` with
   * `payment_status: unpaid` and returns the PaymentIntent to `requires_payment_method` (or, if
   * it was canceled, `canceled`).
   */
  settleAsync(
    id: string,
    paid: boolean,
    failedAs: 'requires_payment_method' | 'canceled' = 'requires_payment_method',
  ): FakeSession {
    const session = this.session(id);
    if (paid) session.payment_status = 'paid';
    const intent = session.payment_intent === null ? undefined : this.paymentIntents.get(session.payment_intent);
    if (intent) {
      intent.status = paid ? 'succeeded' : failedAs;
      intent.amount_received = paid ? intent.amount : 0;
    }
    return structuredClone(session);
  }

  /** Stripe's own deadline passed. */
  expireSession(id: string): FakeSession {
    const session = this.session(id);
    if (session.status === 'open') session.status = 'expired';
    return structuredClone(session);
  }

  session(id: string): FakeSession {
    const session = this.sessions.get(id);
    if (!session) throw new Error(`FakeStripeServer: no session ${id}`);
    return session;
  }

  sessionForBooking(bookingId: string): FakeSession | undefined {
    return [...this.sessions.values()].find((s) => s.client_reference_id === bookingId);
  }

  reset(): void {
    this.requests.length = 0;
    this.customers.clear();
    this.sessions.clear();
    this.paymentIntents.clear();
    this.refunds.clear();
    this.idempotent.clear();
    this.failures.length = 0;
    this.honourIdempotency = true;
    this.searchIndexDelayMs = 60_000;
    this.keyLifetimeMs = DAY_MS;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }

  private nextId(prefix: string): string {
    this.counter++;
    return `${prefix}_fake_${this.counter.toString().padStart(6, '0')}`;
  }

  private seconds(): number {
    return Math.floor(this.now().getTime() / 1000);
  }

  private intentFor(session: FakeSession): FakePaymentIntent {
    const existing = session.payment_intent === null ? undefined : this.paymentIntents.get(session.payment_intent);
    if (existing) return existing;
    const amount = session.amount_total ?? session.amount_subtotal;
    const intent: FakePaymentIntent = {
      id: this.nextId('pi'),
      object: 'payment_intent',
      status: 'requires_payment_method',
      amount,
      amount_received: 0,
      currency: session.currency,
      metadata: { ...session.metadata },
      created: this.seconds(),
      livemode: false,
    };
    this.paymentIntents.set(intent.id, intent);
    session.payment_intent = intent.id;
    return intent;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const body = method === 'GET' ? url.searchParams : new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const key = req.headers['idempotency-key'];
    const recorded: RecordedRequest = {
      method,
      path: url.pathname,
      params: Object.fromEntries(body.entries()),
      idempotencyKey: typeof key === 'string' ? key : null,
      replayed: false,
    };
    this.requests.push(recorded);
    const response = this.answer(recorded);
    if (response === null) {
      // The network lost the answer (or the request): the client sees a closed connection.
      res.socket?.destroy();
      return;
    }
    res.writeHead(response.status, {
      'content-type': 'application/json',
      'request-id': `req_fake_${this.requests.length}`,
      ...response.headers,
    });
    res.end(JSON.stringify(response.body ?? {}));
  }

  private takeFailure(request: RecordedRequest): FakeFault | null {
    const failure = this.failures.find((f) => f.method === request.method && f.path.test(request.path));
    if (!failure) return null;
    failure.remaining--;
    if (failure.remaining <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
    return failure.fault;
  }

  /** The answer, or null to close the connection without one. */
  private answer(request: RecordedRequest): FakeResponse | null {
    const fault = this.takeFailure(request);
    fault?.onArrive?.();
    const at = fault ? (fault.at ?? ((fault.response?.status ?? 0) >= 500 ? 'before-create' : 'edge')) : null;
    // Rate limiters, authentication and lost requests come before the idempotency layer.
    if (fault && at === 'edge') return fault.response ?? null;

    const key = request.idempotencyKey;
    const keyed = request.method === 'POST' && key !== null && this.honourIdempotency;
    const fingerprint = `${request.path}?${new URLSearchParams(Object.entries(request.params).sort()).toString()}`;
    if (keyed) {
      const earlier = this.idempotent.get(key);
      // Keys are pruned once at least 24 hours old; then the request runs afresh.
      if (earlier && this.now().getTime() - earlier.at >= this.keyLifetimeMs) this.idempotent.delete(key);
      const stored = this.idempotent.get(key);
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          return stripeError(
            400,
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            { type: 'idempotency_error' },
          );
        }
        request.replayed = true;
        return { ...stored.response, headers: { ...stored.response.headers, 'idempotent-replayed': 'true' } };
      }
    }

    let outcome: Outcome;
    if (!fault) outcome = this.route(request);
    else if (at === 'before-create') outcome = { response: fault.response ?? stripeError(500, 'lost'), executed: true };
    else {
      const real = this.route(request);
      outcome = { response: fault.response ?? real.response, executed: true };
    }
    // Saved once the endpoint began executing, whatever it answered (500s included).
    if (keyed && outcome.executed) {
      this.idempotent.set(key, { fingerprint, response: outcome.response, at: this.now().getTime() });
    }
    return fault && !fault.response ? null : outcome.response;
  }

  private route(request: RecordedRequest): Outcome {
    const { method, path, params } = request;
    if (method === 'POST' && path === '/v1/customers') return this.createCustomer(params);
    if (method === 'GET' && path === '/v1/customers') return this.listCustomers(params);
    if (method === 'GET' && path === '/v1/customers/search') return this.searchCustomers(params);
    if (method === 'POST' && path === '/v1/checkout/sessions') return this.createSession(params);
    const expire = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (method === 'POST' && expire) return this.expire(decodeURIComponent(expire[1] ?? ''));
    const retrieve = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (method === 'GET' && retrieve) return this.retrieve(decodeURIComponent(retrieve[1] ?? ''), params);
    const intent = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (method === 'GET' && intent) return this.retrieveIntent(decodeURIComponent(intent[1] ?? ''));
    if (method === 'POST' && path === '/v1/refunds') return this.createRefund(params);
    if (method === 'GET' && path === '/v1/refunds') return this.listRefunds(params);
    return invalid(stripeError(404, `Unrecognized request URL (${method}: ${path}).`));
  }

  private createCustomer(params: Record<string, string>): Outcome {
    const customer: FakeCustomer = {
      id: this.nextId('cus'),
      object: 'customer',
      name: params.name ?? null,
      email: params.email ?? null,
      metadata: nested(params, 'metadata'),
      created: this.seconds(),
      livemode: false,
    };
    this.customers.set(customer.id, customer);
    return ok(customer);
  }

  /** Newest first, filtered by `created[gte|gt|lte|lt]` and `email`, as GET /v1/customers does. */
  private listCustomers(params: Record<string, string>): Outcome {
    const bound = (name: string) =>
      params[`created[${name}]`] === undefined ? null : Number(params[`created[${name}]`]);
    const [gte, gt, lte, lt] = [bound('gte'), bound('gt'), bound('lte'), bound('lt')];
    const matching = [...this.customers.values()]
      .filter(
        (c) =>
          (gte === null || c.created >= gte) &&
          (gt === null || c.created > gt) &&
          (lte === null || c.created <= lte) &&
          (lt === null || c.created < lt) &&
          (params.email === undefined || c.email === params.email),
      )
      .reverse();
    return done(page(matching, params, '/v1/customers'));
  }

  /** Supports `metadata['key']:'value'` only; finds customers once they are indexed. */
  private searchCustomers(params: Record<string, string>): Outcome {
    const clause = /^metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'$/.exec(params.query ?? '');
    if (!clause) return invalid(stripeError(400, `Invalid search query: ${params.query ?? ''}`, { param: 'query' }));
    const [, field = '', value = ''] = clause;
    const wanted = value.replace(/\\(.)/g, '$1');
    const indexedBefore = (this.now().getTime() - this.searchIndexDelayMs) / 1000;
    const data = [...this.customers.values()]
      .filter((c) => c.created <= indexedBefore && c.metadata[field] === wanted)
      .reverse()
      .slice(0, Math.min(Number(params.limit ?? '10'), LIST_LIMIT_MAX));
    return done({
      status: 200,
      body: {
        object: 'search_result',
        data: structuredClone(data),
        has_more: false,
        next_page: null,
        url: '/v1/customers/search',
      },
    });
  }

  private createSession(params: Record<string, string>): Outcome {
    const now = this.seconds();
    const currency = params['line_items[0][price_data][currency]'] ?? '';
    const unitAmount = Number(params['line_items[0][price_data][unit_amount]']);
    const quantity = Number(params['line_items[0][quantity]'] ?? '1');
    if (params.mode !== 'payment') return invalid(stripeError(400, 'Missing required param: mode.', { param: 'mode' }));
    if (!/^[a-z]{3}$/.test(currency)) {
      return invalid(
        stripeError(400, `Invalid currency: ${currency}.`, { param: 'line_items[0][price_data][currency]' }),
      );
    }
    if (!Number.isInteger(unitAmount) || unitAmount < 0) {
      return invalid(
        stripeError(400, 'Invalid integer: unit_amount.', { param: 'line_items[0][price_data][unit_amount]' }),
      );
    }
    // Hosted Checkout redirects the patient here after paying; Stripe refuses a hosted session without it.
    if (params.success_url === undefined) {
      return invalid(
        stripeError(400, 'Missing required param: success_url.', { code: 'parameter_missing', param: 'success_url' }),
      );
    }
    const expiresAt = params.expires_at === undefined ? now + 24 * 3600 : Number(params.expires_at);
    if (!(expiresAt >= now + 30 * 60 && expiresAt <= now + 24 * 3600)) {
      return invalid(
        stripeError(
          400,
          'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.',
          { param: 'expires_at' },
        ),
      );
    }
    if (params.customer !== undefined && params.customer_email !== undefined) {
      return invalid(stripeError(400, 'You may only specify one of these parameters: customer, customer_email.'));
    }
    if (params.customer !== undefined && !this.customers.has(params.customer)) {
      return done(
        stripeError(400, `No such customer: '${params.customer}'`, { code: 'resource_missing', param: 'customer' }),
      );
    }
    const id = this.nextId('cs_test');
    const session: FakeSession = {
      id,
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      url: `https://checkout.stripe.test/c/pay/${id}`,
      amount_total: unitAmount * quantity,
      amount_subtotal: unitAmount * quantity,
      currency,
      customer: params.customer ?? null,
      customer_email: params.customer_email ?? null,
      client_reference_id: params.client_reference_id ?? null,
      metadata: nested(params, 'metadata'),
      payment_intent: null,
      expires_at: expiresAt,
      created: now,
      success_url: params.success_url ?? null,
      cancel_url: params.cancel_url ?? null,
      livemode: false,
    };
    this.sessions.set(id, session);
    return ok(session);
  }

  private missingSession(id: string): Outcome {
    return done(stripeError(404, `No such checkout.session: '${id}'`, { code: 'resource_missing', param: 'session' }));
  }

  private retrieve(id: string, params: Record<string, string>): Outcome {
    const session = this.sessions.get(id);
    if (!session) return this.missingSession(id);
    const expand = Object.entries(params)
      .filter(([name]) => name === 'expand' || /^expand\[\d*\]$/.test(name))
      .map(([, value]) => value);
    const intent = session.payment_intent === null ? undefined : this.paymentIntents.get(session.payment_intent);
    if (expand.includes('payment_intent') && intent) return ok({ ...session, payment_intent: intent });
    return ok(session);
  }

  private retrieveIntent(id: string): Outcome {
    const intent = this.paymentIntents.get(id);
    if (intent) return ok(intent);
    return done(stripeError(404, `No such payment_intent: '${id}'`, { code: 'resource_missing', param: 'intent' }));
  }

  private expire(id: string): Outcome {
    const session = this.sessions.get(id);
    if (!session) return this.missingSession(id);
    if (session.status !== 'open') {
      return done(
        stripeError(
          400,
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
        ),
      );
    }
    session.status = 'expired';
    return ok(session);
  }

  private createRefund(params: Record<string, string>): Outcome {
    const paymentIntent = params.payment_intent ?? '';
    const intent = this.paymentIntents.get(paymentIntent);
    if (intent?.status !== 'succeeded') {
      return done(
        stripeError(400, `No such payment_intent: '${paymentIntent}'`, {
          code: 'resource_missing',
          param: 'payment_intent',
        }),
      );
    }
    const paid = intent.amount_received;
    const refunded = [...this.refunds.values()]
      .filter((r) => r.payment_intent === paymentIntent && r.status !== 'failed')
      .reduce((sum, r) => sum + r.amount, 0);
    const amount = params.amount === undefined ? paid - refunded : Number(params.amount);
    if (refunded >= paid) {
      return done(
        stripeError(400, `Charge for ${paymentIntent} has already been refunded.`, { code: 'charge_already_refunded' }),
      );
    }
    if (!Number.isInteger(amount) || amount <= 0 || refunded + amount > paid) {
      return done(
        stripeError(400, `Refund amount (${amount}) is greater than unrefunded amount on charge (${paid - refunded})`, {
          code: 'amount_too_large',
          param: 'amount',
        }),
      );
    }
    const refund: FakeRefund = {
      id: this.nextId('re'),
      object: 'refund',
      amount,
      currency: intent.currency,
      payment_intent: paymentIntent,
      status: 'succeeded',
      reason: params.reason ?? null,
      metadata: nested(params, 'metadata'),
      created: this.seconds(),
    };
    this.refunds.set(refund.id, refund);
    return ok(refund);
  }

  private listRefunds(params: Record<string, string>): Outcome {
    const matching = [...this.refunds.values()]
      .filter((r) => params.payment_intent === undefined || r.payment_intent === params.payment_intent)
      .reverse();
    return done(page(matching, params, '/v1/refunds'));
  }
}
