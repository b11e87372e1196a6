// A loopback fake of the few Stripe endpoints careslot calls: records requests, honours idempotency keys, injects failures.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

export interface RecordedRequest {
  method: string;
  path: string;
  /** Form body (POST) or query string (GET), flat as sent: `line_items[0][price_data][currency]`. */
  params: Record<string, string>;
  idempotencyKey: string | null;
}

export interface FakeResponse {
  status: number;
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export interface FakeSession {
  id: string;
  object: 'checkout.session';
  mode: string;
  status: 'open' | 'complete' | 'expired';
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  url: string | null;
  amount_total: number;
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

interface Failure {
  method: string;
  path: RegExp;
  response: FakeResponse;
  remaining: number;
}

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

/**
 * Answers like Stripe for POST /v1/customers, POST /v1/checkout/sessions, GET
 * /v1/checkout/sessions/:id, POST /v1/checkout/sessions/:id/expire, POST and GET /v1/refunds.
 * `now` is the fake's notion of time, used to validate `expires_at` as Stripe does.
 */
export class FakeStripeServer {
  readonly requests: RecordedRequest[] = [];
  readonly customers = new Map<string, Record<string, unknown>>();
  readonly sessions = new Map<string, FakeSession>();
  readonly refunds = new Map<string, FakeRefund>();
  /** Replay the first answer for a reused key, and refuse a key reused with other parameters. */
  honourIdempotency = true;
  now: () => Date;

  private readonly idempotent = new Map<string, { fingerprint: string; response: FakeResponse }>();
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

  /** A real stripe-node client pointed at this fake. No retries unless asked. */
  client(config: { maxNetworkRetries?: number } = {}): Stripe {
    return new Stripe('sk_test_careslot_fake', {
      host: '127.0.0.1',
      port: this.port,
      protocol: 'http',
      maxNetworkRetries: config.maxNetworkRetries ?? 0,
      telemetry: false,
    });
  }

  /** The next `times` requests matching `method` and `path` get `response` before any processing. */
  failNext(method: string, path: RegExp | string, response: FakeResponse, times = 1): this {
    const pattern = typeof path === 'string' ? new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : path;
    this.failures.push({ method, path: pattern, response, remaining: times });
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
    outcome: { paymentStatus?: FakeSession['payment_status']; amount?: number; currency?: string } = {},
  ): FakeSession {
    const session = this.session(id);
    session.status = 'complete';
    session.payment_status = outcome.paymentStatus ?? 'paid';
    if (outcome.amount !== undefined) session.amount_total = outcome.amount;
    if (outcome.currency !== undefined) session.currency = outcome.currency;
    if (session.payment_status !== 'no_payment_required') session.payment_intent ??= this.nextId('pi');
    return structuredClone(session);
  }

  /** A delayed payment method settled (or failed) after `completed` with `unpaid`. */
  settleAsync(id: string, paid: boolean): FakeSession {
    const session = this.session(id);
    if (paid) session.payment_status = 'paid';
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
    this.refunds.clear();
    this.idempotent.clear();
    this.failures.length = 0;
    this.honourIdempotency = true;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((error) => (error ? reject(error) : resolve())));
  }

  private nextId(prefix: string): string {
    this.counter++;
    return `${prefix}_fake_${this.counter.toString().padStart(6, '0')}`;
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
    };
    this.requests.push(recorded);
    const response = this.answer(recorded);
    res.writeHead(response.status, {
      'content-type': 'application/json',
      'request-id': `req_fake_${this.requests.length}`,
      ...response.headers,
    });
    res.end(JSON.stringify(response.body ?? {}));
  }

  private answer(request: RecordedRequest): FakeResponse {
    const failure = this.failures.find((f) => f.method === request.method && f.path.test(request.path));
    if (failure) {
      failure.remaining--;
      if (failure.remaining <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
      return failure.response;
    }
    const key = request.idempotencyKey;
    if (request.method !== 'POST' || key === null || !this.honourIdempotency) return this.route(request);
    const fingerprint = `${request.path}?${new URLSearchParams(Object.entries(request.params).sort()).toString()}`;
    const earlier = this.idempotent.get(key);
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        return stripeError(
          400,
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          { type: 'idempotency_error' },
        );
      }
      return { ...earlier.response, headers: { ...earlier.response.headers, 'idempotent-replayed': 'true' } };
    }
    const response = this.route(request);
    // Stripe saves the result once the request began executing; validation errors are not saved.
    if (response.status < 400 || response.status >= 500) this.idempotent.set(key, { fingerprint, response });
    return response;
  }

  private route(request: RecordedRequest): FakeResponse {
    const { method, path } = request;
    if (method === 'POST' && path === '/v1/customers') return this.createCustomer(request.params);
    if (method === 'POST' && path === '/v1/checkout/sessions') return this.createSession(request.params);
    const expire = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (method === 'POST' && expire) return this.expire(decodeURIComponent(expire[1] ?? ''));
    const retrieve = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (method === 'GET' && retrieve) return this.retrieve(decodeURIComponent(retrieve[1] ?? ''));
    if (method === 'POST' && path === '/v1/refunds') return this.createRefund(request.params);
    if (method === 'GET' && path === '/v1/refunds') return this.listRefunds(request.params);
    return stripeError(404, `Unrecognized request URL (${method}: ${path}).`);
  }

  private createCustomer(params: Record<string, string>): FakeResponse {
    const id = this.nextId('cus');
    const customer = {
      id,
      object: 'customer',
      name: params.name ?? null,
      email: params.email ?? null,
      metadata: nested(params, 'metadata'),
      created: Math.floor(this.now().getTime() / 1000),
      livemode: false,
    };
    this.customers.set(id, customer);
    return { status: 200, body: customer };
  }

  private createSession(params: Record<string, string>): FakeResponse {
    const now = Math.floor(this.now().getTime() / 1000);
    const currency = params['line_items[0][price_data][currency]'] ?? '';
    const unitAmount = Number(params['line_items[0][price_data][unit_amount]']);
    const quantity = Number(params['line_items[0][quantity]'] ?? '1');
    if (params.mode !== 'payment') return stripeError(400, 'Missing required param: mode.', { param: 'mode' });
    if (!/^[a-z]{3}$/.test(currency)) {
      return stripeError(400, `Invalid currency: ${currency}.`, { param: 'line_items[0][price_data][currency]' });
    }
    if (!Number.isInteger(unitAmount) || unitAmount < 0) {
      return stripeError(400, 'Invalid integer: unit_amount.', { param: 'line_items[0][price_data][unit_amount]' });
    }
    const expiresAt = params.expires_at === undefined ? now + 24 * 3600 : Number(params.expires_at);
    if (!(expiresAt >= now + 30 * 60 && expiresAt <= now + 24 * 3600)) {
      return stripeError(
        400,
        'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.',
        { param: 'expires_at' },
      );
    }
    if (params.customer !== undefined && params.customer_email !== undefined) {
      return stripeError(400, 'You may only specify one of these parameters: customer, customer_email.');
    }
    if (params.customer !== undefined && !this.customers.has(params.customer)) {
      return stripeError(400, `No such customer: '${params.customer}'`, {
        code: 'resource_missing',
        param: 'customer',
      });
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
    return { status: 200, body: structuredClone(session) as unknown as Record<string, unknown> };
  }

  private missingSession(id: string): FakeResponse {
    return stripeError(404, `No such checkout.session: '${id}'`, { code: 'resource_missing', param: 'session' });
  }

  private retrieve(id: string): FakeResponse {
    const session = this.sessions.get(id);
    if (!session) return this.missingSession(id);
    return { status: 200, body: structuredClone(session) as unknown as Record<string, unknown> };
  }

  private expire(id: string): FakeResponse {
    const session = this.sessions.get(id);
    if (!session) return this.missingSession(id);
    if (session.status !== 'open') {
      return stripeError(
        400,
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
      );
    }
    session.status = 'expired';
    return { status: 200, body: structuredClone(session) as unknown as Record<string, unknown> };
  }

  private createRefund(params: Record<string, string>): FakeResponse {
    const paymentIntent = params.payment_intent ?? '';
    const session = [...this.sessions.values()].find((s) => s.payment_intent === paymentIntent);
    if (session?.payment_status !== 'paid') {
      return stripeError(400, `No such payment_intent: '${paymentIntent}'`, {
        code: 'resource_missing',
        param: 'payment_intent',
      });
    }
    const refunded = [...this.refunds.values()]
      .filter((r) => r.payment_intent === paymentIntent && r.status !== 'failed')
      .reduce((sum, r) => sum + r.amount, 0);
    const amount = params.amount === undefined ? session.amount_total - refunded : Number(params.amount);
    if (refunded >= session.amount_total) {
      return stripeError(400, `Charge for ${paymentIntent} has already been refunded.`, {
        code: 'charge_already_refunded',
      });
    }
    if (!Number.isInteger(amount) || amount <= 0 || refunded + amount > session.amount_total) {
      return stripeError(
        400,
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${session.amount_total - refunded})`,
        { code: 'amount_too_large', param: 'amount' },
      );
    }
    const refund: FakeRefund = {
      id: this.nextId('re'),
      object: 'refund',
      amount,
      currency: session.currency,
      payment_intent: paymentIntent,
      status: 'succeeded',
      reason: params.reason ?? null,
      metadata: nested(params, 'metadata'),
      created: Math.floor(this.now().getTime() / 1000),
    };
    this.refunds.set(refund.id, refund);
    return { status: 200, body: structuredClone(refund) as unknown as Record<string, unknown> };
  }

  private listRefunds(params: Record<string, string>): FakeResponse {
    const data = [...this.refunds.values()]
      .filter((r) => params.payment_intent === undefined || r.payment_intent === params.payment_intent)
      .reverse()
      .slice(0, Number(params.limit ?? '10'));
    return { status: 200, body: { object: 'list', data, has_more: false, url: '/v1/refunds' } };
  }
}
