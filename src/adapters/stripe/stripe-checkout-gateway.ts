// PaymentGateway on Stripe Checkout: customers, hosted sessions, expiry, refunds and signed webhooks.
import { createHash } from 'node:crypto';
import { BookingError } from '../../domain/errors.js';
import { formatLocal } from '../../domain/time.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { Patient } from '../../ports/patient-directory.js';
import type {
  CheckoutRequest,
  CheckoutSession,
  CheckoutState,
  ExpireResult,
  PaymentDetails,
  PaymentGateway,
  RefundRequest,
  RefundResult,
  WebhookParseResult,
  WebhookRequest,
} from '../../ports/payment-gateway.js';
import { RAW_BODY_HINT } from '../../ports/payment-gateway.js';
import type {
  StripeCheckoutSessionCreateParams,
  StripeCheckoutSessionLike,
  StripeClient,
  StripeCustomerCreateParams,
  StripeCustomerLike,
  StripeRefundCreateParams,
  StripeRefundLike,
} from './stripe-client.js';
import {
  failureDoubt,
  isReplayedServerError,
  isStripeIdempotencyError,
  isStripeSignatureError,
  providerError,
} from './stripe-errors.js';
import { normalizeStripeEvent, refId, refundStatus, STRIPE_METADATA, sessionAmount } from './stripe-events.js';

export interface StripeCheckoutGatewayOptions {
  /** The host's client, `new Stripe(process.env.STRIPE_SECRET_KEY)`; careslot never changes its settings. */
  stripe: StripeClient;
  /** The webhook endpoint's signing secret (`whsec_...`, from the Dashboard or `stripe listen`). */
  webhookSecret: string;
  /**
   * Where Checkout sends the patient after paying. Precedence: `book({ successUrl })`, then the
   * engine's `successUrl` option, then this one. Still honoured for this release as that last
   * fallback. May contain Stripe's `{CHECKOUT_SESSION_ID}` placeholder. Hosted Checkout needs
   * one: with none anywhere, `createCheckout` fails with `INVALID_INPUT` before calling Stripe.
   * @deprecated Set `successUrl` on the `BookingEngine` options (the one documented place), or per
   * call in `book()`.
   */
  successUrl?: string;
  /**
   * Where Checkout sends a patient who gives up. Precedence: `book({ cancelUrl })`, then the
   * engine's `cancelUrl` option, then this one. Still honoured for this release as that last
   * fallback.
   * @deprecated Set `cancelUrl` on the `BookingEngine` options (the one documented place), or per
   * call in `book()`.
   */
  cancelUrl?: string;
  /**
   * Webhook signatures older than this are refused (replay protection).
   * @defaultValue 300 (stripe-node's default)
   */
  toleranceSeconds?: number;
  /**
   * Shortest session life asked of Stripe, counted from when the booking was made (so retries
   * for one booking send identical parameters). Stripe refuses `expires_at` under 30 minutes
   * after it receives the request, and stripe-node may send the same request again after a
   * timeout: whatever this says, careslot never asks for less than 30 minutes plus the client's
   * retry window (retries × (timeout + 5 s) + 10 s) from now. careslot still expires the
   * session itself when the shorter hold ends. Between 30 and 1439.
   * @defaultValue 31 plus the client's retry window in whole minutes: 31 for a client without
   * retries, 34 for stripe-node's defaults (2 retries, 80 s timeout)
   */
  minSessionMinutes?: number;
  /**
   * Prepended to every idempotency key sent to Stripe, so several apps or environments can
   * share one Stripe account without their keys colliding.
   * @defaultValue 'careslot-'
   */
  idempotencyKeyPrefix?: string;
  /**
   * The line item's product name shown on the Checkout page.
   * @defaultValue `Appointment <local start> (<time zone>)`
   */
  lineItemName?: (request: CheckoutRequest) => string;
  /** Used for `expires_at` and as the receive time when checking webhook timestamps. @defaultValue the system clock */
  clock?: Clock;
}

const STRIPE_MIN_SESSION_MS = 30 * 60_000;
const STRIPE_MAX_SESSION_MS = 24 * 60 * 60_000;
/** Transit to Stripe and disagreement between clocks, on top of stripe-node's retries. */
const LATENCY_MARGIN_MS = 10_000;
const SAFETY_MARGIN_MS = 60_000;
const MAX_IDEMPOTENCY_KEY = 255;
const REFUND_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer']);
// stripe-node's defaults (stripe.core.js: DEFAULT_TIMEOUT, MAX_NETWORK_RETRY_DELAY_SEC; PlatformFunctions: 2 retries).
const STRIPE_NODE_TIMEOUT_MS = 80_000;
const STRIPE_NODE_RETRIES = 2;
const STRIPE_NODE_MAX_RETRY_DELAY_S = 5;
/** Stripe keeps an idempotency key at least this long; a result saved under it is replayed meanwhile. */
const KEY_LIFETIME_MS = 24 * 3600_000;
/** How far Stripe's `created` timestamps may disagree with this host's clock. */
const CLOCK_SKEW_MS = 5 * 60_000;
const LIST_LIMIT = 100;
/** Lists are read at most this many pages deep (newest first) when looking for an earlier attempt's object. */
const MAX_LIST_PAGES = 10;
/** Fresh keys tried in one call after keys whose saved answer is a failure. */
const MAX_FRESH_KEYS = 3;
/** Ids careslot puts in a search query as they are (no quoting needed). */
const SEARCHABLE_ID = /^[A-Za-z0-9_-]{1,200}$/;
/**
 * PaymentIntent statuses after which a completed session brings no money: Stripe returns the
 * intent to `requires_payment_method` when a payment attempt fails (and a completed session
 * takes no new attempt), and `canceled` is final. The others (`processing`, and
 * `requires_action` for a bank transfer awaiting funds) may still settle.
 */
const FAILED_INTENT = new Set(['requires_payment_method', 'canceled']);

/** What this process knows about one family of idempotency keys (one patient's customer, one refund). */
interface KeyFamily {
  /** The key to send next: 0 is the plain key, n the n-th fresh one (`...-retry<n>`). */
  generation: number;
  /**
   * Set when an attempt with the current key failed in a way Stripe may have kept: `server` (a
   * 5xx, saved and replayed for 24 hours) or `network` (no answer: maybe never arrived, maybe ran).
   */
  doubt: 'server' | 'network' | null;
  /** When the first doubtful attempt began: an object it made is at least this recent. */
  since: number | null;
  touched: number;
}

function readNumber(read: () => unknown, fallback: number): number {
  try {
    const value = read();
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

/**
 * How much later than its first attempt stripe-node may deliver the same request: after a
 * timeout or a failed attempt it sends the same body again, up to `maxNetworkRetries` times,
 * each after the timeout and a pause of at most 5 seconds. Read from the host's client (never
 * changed); stripe-node's defaults (2 retries, 80 s) when the client does not say.
 */
function retryWindowMs(stripe: StripeClient): number {
  const retries = readNumber(() => stripe.getMaxNetworkRetries?.(), STRIPE_NODE_RETRIES);
  const timeout = readNumber(() => stripe.getApiField?.('timeout'), STRIPE_NODE_TIMEOUT_MS);
  const pause = readNumber(() => stripe.getMaxNetworkRetryDelay?.(), STRIPE_NODE_MAX_RETRY_DELAY_S) * 1000;
  return retries * (timeout + pause);
}

function fail(message: string): never {
  throw new TypeError(`StripeCheckoutGateway: ${message}`);
}

function validateOptions(options: StripeCheckoutGatewayOptions): void {
  if (options === null || typeof options !== 'object') {
    fail('pass an options object ({ stripe, webhookSecret })');
  }
  const stripe = options.stripe as Partial<StripeClient> | undefined;
  if (
    typeof stripe?.checkout?.sessions?.create !== 'function' ||
    typeof stripe.customers?.create !== 'function' ||
    typeof stripe.customers.list !== 'function' ||
    typeof stripe.refunds?.create !== 'function' ||
    typeof stripe.refunds.list !== 'function' ||
    typeof stripe.webhooks?.constructEventAsync !== 'function'
  ) {
    fail('options.stripe must be a Stripe client: new Stripe(process.env.STRIPE_SECRET_KEY) from the stripe package');
  }
  const secret = options.webhookSecret as unknown;
  if (typeof secret !== 'string' || secret.trim().length === 0) {
    fail('options.webhookSecret is required: the signing secret (whsec_...) of your webhook endpoint');
  }
  if (/^(sk|rk|pk)_/.test(secret)) {
    fail('options.webhookSecret looks like an API key; pass the webhook signing secret (whsec_...) instead');
  }
  const tolerance = options.toleranceSeconds;
  if (tolerance !== undefined && (!Number.isInteger(tolerance) || tolerance <= 0)) {
    fail(`options.toleranceSeconds must be a positive whole number of seconds (got ${String(tolerance)})`);
  }
  const minutes = options.minSessionMinutes;
  if (minutes !== undefined && (typeof minutes !== 'number' || !(minutes >= 30 && minutes <= 1439))) {
    fail(`options.minSessionMinutes must be between 30 (Stripe's minimum) and 1439 (got ${String(minutes)})`);
  }
  const prefix = options.idempotencyKeyPrefix;
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix.length > 64)) {
    fail('options.idempotencyKeyPrefix must be a string of at most 64 characters');
  }
  for (const name of ['successUrl', 'cancelUrl'] as const) {
    const url = options[name];
    if (url !== undefined && (typeof url !== 'string' || !URL.canParse(url))) {
      fail(`options.${name} must be an absolute URL (got ${String(url)})`);
    }
  }
  if (options.lineItemName !== undefined && typeof options.lineItemName !== 'function') {
    fail('options.lineItemName must be a function (request) => string');
  }
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    fail('options.clock must have a now() method');
  }
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function header(headers: WebhookRequest['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== name) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string' && first.length > 0) return first;
  }
  return undefined;
}

/**
 * Stripe Checkout behind careslot's payment port. Every write carries an idempotency key (per
 * patient for customers, per booking for sessions, per careslot refund for refunds), so the
 * engine's retries and stripe-node's own network retries never charge, refund or create twice.
 *
 * Stripe saves the answer to a keyed request for 24 hours once it began running, 500s
 * included, and replays it for every retry with that key. So after a 5xx or no answer at all,
 * the next attempt for a customer or a refund first looks for what the failed attempt may have
 * made (customers by careslot's patient id in metadata, refunds by careslot's refund id on the
 * PaymentIntent's refunds) and only then creates it, under a fresh key when the old one holds a
 * saved failure. This process remembers which keys failed that way; another process learns it
 * from Stripe's `Idempotent-Replayed` answer.
 *
 * Return URLs come with each request: `book({ successUrl, cancelUrl })` over the engine's
 * `successUrl`/`cancelUrl` options. The gateway's own (deprecated) URL options are used only
 * when the request carries none.
 */
export class StripeCheckoutGateway implements PaymentGateway {
  readonly provider = 'stripe';
  private readonly stripe: StripeClient;
  private readonly webhookSecret: string;
  private readonly successUrl: string | undefined;
  private readonly cancelUrl: string | undefined;
  private readonly toleranceSeconds: number;
  private readonly minSessionMs: number;
  private readonly keyPrefix: string;
  private readonly lineItemName: (request: CheckoutRequest) => string;
  private readonly clock: Clock;
  private readonly retryWindowMs: number;
  private readonly families = new Map<string, KeyFamily>();

  constructor(options: StripeCheckoutGatewayOptions) {
    validateOptions(options);
    this.stripe = options.stripe;
    this.webhookSecret = options.webhookSecret;
    this.successUrl = options.successUrl;
    this.cancelUrl = options.cancelUrl;
    this.toleranceSeconds = options.toleranceSeconds ?? 300;
    this.retryWindowMs = retryWindowMs(options.stripe);
    const defaultMinutes = Math.min(1439, 31 + Math.ceil(this.retryWindowMs / 60_000));
    this.minSessionMs = (options.minSessionMinutes ?? defaultMinutes) * 60_000;
    this.keyPrefix = options.idempotencyKeyPrefix ?? 'careslot-';
    this.lineItemName =
      options.lineItemName ??
      ((request) => `Appointment ${formatLocal(request.schedule.startTime, request.schedule.timeZone)}`);
    this.clock = options.clock ?? systemClock;
  }

  /** Stripe keeps keys 24 hours and allows 255 characters; longer ones are hashed, stably. */
  private key(suffix: string): string {
    const key = `${this.keyPrefix}${suffix}`;
    return key.length <= MAX_IDEMPOTENCY_KEY ? key : `${this.keyPrefix}sha256-${sha256(suffix)}`;
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private family(name: string): KeyFamily {
    const now = this.now();
    let family = this.families.get(name);
    if (!family) {
      // Forget families whose keys Stripe has pruned; the map only holds keys that failed.
      for (const [other, known] of this.families) {
        if (now - known.touched > KEY_LIFETIME_MS + CLOCK_SKEW_MS) this.families.delete(other);
      }
      family = { generation: 0, doubt: null, since: null, touched: now };
      this.families.set(name, family);
    }
    family.touched = now;
    return family;
  }

  /** The next key after `generation`, unless a concurrent attempt already moved on. */
  private advance(name: string, generation: number): void {
    const family = this.family(name);
    if (family.generation !== generation) return;
    family.generation = generation + 1;
    family.doubt = null;
  }

  private async lookup<T>(operation: string, find: () => Promise<T | null>): Promise<T | null> {
    try {
      return await find();
    } catch (error) {
      throw providerError(`${operation} lookup`, error);
    }
  }

  /**
   * Creates at most one object for a family of keys (one patient's customer, one careslot
   * refund), whatever failed before. `find` looks for an object an earlier attempt may have
   * made; `since` is when the first doubtful attempt began (null: unknown, within the last 24 h).
   */
  private async createOnce<T>(
    name: string,
    op: {
      operation: string;
      find: (since: number | null) => Promise<T | null>;
      create: (idempotencyKey: string) => Promise<T>;
      /** The caller has just looked (refunds always look first). */
      lookedUp?: boolean;
    },
  ): Promise<T> {
    const known = this.families.get(name);
    if (known?.doubt) {
      const { generation, doubt, since } = known;
      if (!op.lookedUp) {
        const found = await this.lookup(op.operation, () => op.find(since));
        if (found !== null) return found;
      }
      // A 5xx is saved under its key, so only a fresh key can create now. No answer at all: the
      // request may still be running at Stripe, so the same key goes again (Stripe answers 409
      // while it runs, and its saved result once it is done).
      if (doubt === 'server') this.advance(name, generation);
    }
    for (let fresh = 0; ; fresh++) {
      const generation = this.families.get(name)?.generation ?? 0;
      const started = this.now();
      try {
        const created = await op.create(this.key(generation === 0 ? name : `${name}-retry${generation}`));
        const family = this.families.get(name);
        if (family?.generation === generation) family.doubt = null;
        return created;
      } catch (error) {
        if (isReplayedServerError(error) && fresh < MAX_FRESH_KEYS) {
          // This key holds a saved failure (from this process or another): look for what that
          // attempt may have made, then move to a fresh key.
          const since = this.families.get(name)?.since ?? null;
          const found = await this.lookup(op.operation, () => op.find(since));
          if (found !== null) return found;
          this.advance(name, generation);
          continue;
        }
        const doubt = failureDoubt(error);
        if (doubt !== null) {
          const family = this.family(name);
          family.since = family.since === null ? started : Math.min(family.since, started);
          if (family.generation === generation) family.doubt = doubt;
        }
        throw providerError(op.operation, error);
      }
    }
  }

  /**
   * The oldest customer carrying this patient's id. Lists are strongly consistent, so customers
   * created since `since` (or within a key's 24 hours) are listed; older ones are searched for,
   * which only finds what Stripe has indexed (under a minute, up to an hour in an outage).
   */
  private async findCustomer(patientId: string, since: number | null): Promise<string | null> {
    const mine = (customer: StripeCustomerLike) => customer.metadata?.[STRIPE_METADATA.patientId] === patientId;
    const from = Math.floor(((since ?? this.now() - KEY_LIFETIME_MS) - CLOCK_SKEW_MS) / 1000);
    let oldest: string | null = null;
    let after: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const list = await this.stripe.customers.list({
        created: { gte: from },
        limit: LIST_LIMIT,
        ...(after === undefined ? {} : { starting_after: after }),
      });
      // Newest first: the last match is the oldest.
      for (const customer of list.data) if (mine(customer)) oldest = customer.id;
      const last = list.data.at(-1);
      if (!list.has_more || last === undefined) break;
      after = last.id;
    }
    if (oldest !== null) return oldest;
    if (typeof this.stripe.customers.search !== 'function' || !SEARCHABLE_ID.test(patientId)) return null;
    let found: { data: StripeCustomerLike[] };
    try {
      found = await this.stripe.customers.search({
        query: `metadata['${STRIPE_METADATA.patientId}']:'${patientId}'`,
        limit: LIST_LIMIT,
      });
    } catch (error) {
      // Search is not offered on every account (a 4xx): the list above is then all there is.
      if (failureDoubt(error) === null) return null;
      throw error;
    }
    const matches = found.data.filter(mine).sort((a, b) => (a.created ?? 0) - (b.created ?? 0));
    return matches[0]?.id ?? null;
  }

  async ensureCustomer(args: { patient: Patient; customerId: string | null }): Promise<string | null> {
    if (args.customerId) return args.customerId;
    const { patient } = args;
    const params: StripeCustomerCreateParams = {
      name: patient.name,
      ...(patient.email ? { email: patient.email } : {}),
      metadata: { [STRIPE_METADATA.patientId]: patient.id },
    };
    const operation = 'customer creation';
    const find = (since: number | null) => this.findCustomer(patient.id, since);
    const create = async (idempotencyKey: string) =>
      (await this.stripe.customers.create(params, { idempotencyKey })).id;
    try {
      return await this.createOnce(`customer-${patient.id}`, { operation, find, create });
    } catch (error) {
      if (!isStripeIdempotencyError((error as { cause?: unknown }).cause)) throw error;
    }
    // The patient's details changed while Stripe still kept the key (24 hours): the customer
    // the first details made is this patient's; only when there is none is one made, under a
    // key of the new details (which still dedupes concurrent bookings).
    const existing = await this.lookup(operation, () => find(null));
    if (existing !== null) return existing;
    const details = sha256(JSON.stringify(params)).slice(0, 16);
    return this.createOnce(`customer-${patient.id}-${details}`, { operation, find, create });
  }

  /**
   * Session life: the hold or `minSessionMinutes` after the booking was made, whichever is
   * later, so a retry for the same booking sends the same parameters (Stripe refuses a reused
   * idempotency key with different ones). Never under Stripe's 30 minutes plus the client's
   * retry window (and 10 s for transit) from now, never past its 24 hours.
   */
  private expiresAt(booking: CheckoutRequest['booking'], holdExpiresAt: Date): number {
    const now = this.now();
    const wanted = Math.max(booking.createdAt.getTime() + this.minSessionMs, holdExpiresAt.getTime());
    // stripe-node may deliver this very body up to the retry window later; Stripe then counts
    // its 30 minutes from that moment.
    const target = Math.max(wanted, now + STRIPE_MIN_SESSION_MS + this.retryWindowMs + LATENCY_MARGIN_MS);
    return Math.ceil(Math.min(target, now + STRIPE_MAX_SESSION_MS - SAFETY_MARGIN_MS) / 1000);
  }

  async createCheckout(request: CheckoutRequest): Promise<CheckoutSession> {
    const { booking, schedule, patient } = request;
    const metadata = {
      [STRIPE_METADATA.bookingId]: booking.id,
      [STRIPE_METADATA.scheduleId]: schedule.id,
      [STRIPE_METADATA.patientId]: patient.id,
      [STRIPE_METADATA.doctorId]: booking.doctorId,
    };
    // The request's URLs already are book()'s or else the engine's; the deprecated options come last.
    const successUrl = request.successUrl || this.successUrl;
    const cancelUrl = request.cancelUrl ?? this.cancelUrl;
    if (!successUrl) {
      // Stripe refuses a hosted session without one (Missing required param: success_url).
      throw new BookingError(
        'INVALID_INPUT',
        'Stripe Checkout needs a success URL to send the patient back to after paying, and none is configured: set `successUrl` on the BookingEngine options (or pass successUrl to book())',
        { details: { provider: 'stripe', option: 'successUrl' } },
      );
    }
    const params: StripeCheckoutSessionCreateParams = {
      mode: 'payment',
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: booking.price.currency.toLowerCase(),
            unit_amount: booking.price.amount,
            product_data: { name: this.lineItemName(request) },
          },
        },
      ],
      client_reference_id: booking.id,
      metadata,
      // Also on the PaymentIntent, so charges and refunds in the Dashboard name the booking.
      payment_intent_data: { metadata },
      expires_at: this.expiresAt(booking, request.holdExpiresAt),
      ...(request.customerId
        ? { customer: request.customerId }
        : patient.email
          ? { customer_email: patient.email }
          : {}),
      success_url: successUrl,
      ...(cancelUrl === undefined ? {} : { cancel_url: cancelUrl }),
    };
    let session: StripeCheckoutSessionLike;
    try {
      session = await this.stripe.checkout.sessions.create(params, {
        idempotencyKey: this.key(request.idempotencyKey),
      });
    } catch (error) {
      throw providerError('Checkout Session creation', error);
    }
    if (typeof session.url !== 'string' || session.url.length === 0) {
      throw new BookingError('PAYMENT_PROVIDER_ERROR', `Stripe returned Checkout Session ${session.id} without a url`, {
        details: { provider: 'stripe', operation: 'Checkout Session creation', sessionId: session.id },
      });
    }
    return { sessionId: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000) };
  }

  /** The session with its PaymentIntent expanded, so its status can be read in the same call. */
  private retrieveSession(sessionId: string): Promise<StripeCheckoutSessionLike> {
    return this.stripe.checkout.sessions.retrieve(sessionId, { expand: ['payment_intent'] });
  }

  /**
   * Whether a completed but unpaid session (a delayed method) may still bring money. After
   * `checkout.session.async_payment_failed` Stripe keeps the session `complete` and `unpaid`;
   * only its PaymentIntent tells a failed payment from one still settling.
   */
  private async stillSettling(session: StripeCheckoutSessionLike): Promise<boolean> {
    let intent = session.payment_intent;
    // No PaymentIntent: no payment was attempted, so none can arrive.
    if (intent === null || intent === undefined) return false;
    if (typeof intent === 'string') {
      // A client that did not expand: ask for the intent, or stay on the safe side.
      if (typeof this.stripe.paymentIntents?.retrieve !== 'function') return true;
      intent = await this.stripe.paymentIntents.retrieve(intent);
    }
    return !FAILED_INTENT.has(intent.status);
  }

  async expireCheckout(args: { sessionId: string }): Promise<ExpireResult> {
    let expireError: unknown;
    try {
      await this.stripe.checkout.sessions.expire(args.sessionId);
      return { outcome: 'expired' };
    } catch (error) {
      // Stripe refuses to expire a session that is no longer open: ask what became of it.
      expireError = error;
    }
    let session: StripeCheckoutSessionLike;
    try {
      session = await this.retrieveSession(args.sessionId);
    } catch {
      throw providerError('Checkout Session expiry', expireError);
    }
    if (session.status === 'expired') return { outcome: 'expired' };
    if (session.status === 'complete') {
      const payment = this.paymentOf(session);
      if (payment) return { outcome: 'paid', payment };
      // 'no_payment_required': nothing was paid, so the hold may go.
      if (session.payment_status !== 'unpaid') return { outcome: 'expired' };
      let settling: boolean;
      try {
        settling = await this.stillSettling(session);
      } catch (error) {
        throw providerError('Checkout Session expiry', error);
      }
      // A delayed payment that failed closes the session for good: nobody can pay it any more.
      return settling ? { outcome: 'processing' } : { outcome: 'expired' };
    }
    throw providerError('Checkout Session expiry', expireError);
  }

  /**
   * The session as Stripe has it. A completed session whose delayed payment failed stays
   * `complete` without a payment (its hold is let go by `expireCheckout`, which answers
   * `expired` for it).
   */
  async retrieveCheckout(args: { sessionId: string }): Promise<CheckoutState> {
    let session: StripeCheckoutSessionLike;
    try {
      session = await this.retrieveSession(args.sessionId);
    } catch (error) {
      throw providerError('Checkout Session retrieval', error);
    }
    const status = session.status === 'complete' || session.status === 'expired' ? session.status : 'open';
    return { sessionId: session.id, status, payment: this.paymentOf(session) };
  }

  /**
   * The money a session took: paid, or (a delayed method) its expanded PaymentIntent
   * succeeded before the session caught up. A missing total stays null: the engine treats it
   * as a payment that matches no price and refunds it.
   */
  private paymentOf(session: StripeCheckoutSessionLike): PaymentDetails | null {
    const paymentId = refId(session.payment_intent);
    const intent = session.payment_intent;
    const intentSucceeded = typeof intent === 'object' && intent !== null && intent.status === 'succeeded';
    if (paymentId === null || (session.payment_status !== 'paid' && !intentSucceeded)) return null;
    if (session.payment_status === 'no_payment_required') return null;
    return { paymentId, amount: sessionAmount(session), currency: (session.currency ?? '').toLowerCase() };
  }

  /** careslot's refund among the PaymentIntent's refunds (a list, so it is there the moment it exists). */
  private async findRefund(paymentId: string, refundId: string): Promise<StripeRefundLike | null> {
    let after: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const list = await this.stripe.refunds.list({
        payment_intent: paymentId,
        limit: LIST_LIMIT,
        ...(after === undefined ? {} : { starting_after: after }),
      });
      const found = list.data.find((r) => r.metadata?.[STRIPE_METADATA.refundId] === refundId);
      if (found) return found;
      const last = list.data.at(-1);
      if (!list.has_more || last === undefined) return null;
      after = last.id;
    }
    return null;
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    // Idempotency keys live 24 hours; a refund retried later is found by its careslot id instead.
    const find = () => this.findRefund(request.paymentId, request.idempotencyKey);
    const earlier = await this.lookup('refund', find);
    if (earlier) return { providerRefundId: earlier.id, status: refundStatus(earlier.status) };
    const metadata: Record<string, string> = {
      [STRIPE_METADATA.refundId]: request.idempotencyKey,
      [STRIPE_METADATA.bookingId]: request.bookingId,
    };
    // No amount: Stripe refunds everything not yet refunded (a payment whose amount was never reported).
    const params: StripeRefundCreateParams = {
      payment_intent: request.paymentId,
      ...(request.amount === null ? {} : { amount: request.amount }),
      metadata,
    };
    if (request.reason !== undefined) {
      if (REFUND_REASONS.has(request.reason)) params.reason = request.reason as NonNullable<typeof params.reason>;
      else metadata[STRIPE_METADATA.reason] = request.reason.slice(0, 500);
    }
    const refund = await this.createOnce(`refund-${request.idempotencyKey}`, {
      operation: 'refund',
      lookedUp: true,
      find,
      create: (idempotencyKey) => this.stripe.refunds.create(params, { idempotencyKey }),
    });
    return { providerRefundId: refund.id, status: refundStatus(refund.status) };
  }

  async parseWebhook(request: WebhookRequest): Promise<WebhookParseResult> {
    const rawBody = request?.rawBody as unknown;
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
      throw new BookingError('INVALID_INPUT', RAW_BODY_HINT);
    }
    const signature = header(request.headers, 'stripe-signature');
    if (signature === undefined) {
      throw new BookingError('INVALID_SIGNATURE', 'Missing stripe-signature header: is this request from Stripe?');
    }
    let event: unknown;
    try {
      event = await this.stripe.webhooks.constructEventAsync(
        rawBody,
        signature,
        this.webhookSecret,
        this.toleranceSeconds,
        undefined,
        this.clock.now().getTime(),
      );
    } catch (error) {
      if (isStripeSignatureError(error)) {
        const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '').trim() : '';
        throw new BookingError('INVALID_SIGNATURE', `Stripe webhook signature rejected${reason ? `: ${reason}` : ''}`, {
          cause: error,
        });
      }
      if (error instanceof SyntaxError) {
        throw new BookingError('INVALID_INPUT', 'Webhook body is signed but is not JSON', { cause: error });
      }
      throw error;
    }
    return normalizeStripeEvent(event);
  }
}
