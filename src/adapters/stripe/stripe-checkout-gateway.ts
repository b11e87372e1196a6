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
  StripeRefundCreateParams,
  StripeRefundLike,
} from './stripe-client.js';
import { isStripeIdempotencyError, isStripeSignatureError, providerError } from './stripe-errors.js';
import { normalizeStripeEvent, refId, refundStatus, STRIPE_METADATA } from './stripe-events.js';

export interface StripeCheckoutGatewayOptions {
  /** The host's client, `new Stripe(process.env.STRIPE_SECRET_KEY)`; careslot never changes its settings. */
  stripe: StripeClient;
  /** The webhook endpoint's signing secret (`whsec_...`, from the Dashboard or `stripe listen`). */
  webhookSecret: string;
  /**
   * Where Checkout sends the patient after paying. Precedence: `book({ successUrl })`, then the
   * engine's `successUrl` option, then this one. Still honoured for this release as that last
   * fallback. May contain Stripe's `{CHECKOUT_SESSION_ID}` placeholder.
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
   * after creation; the extra minute covers the time between booking and session creation
   * (beyond it, careslot asks for 30 minutes and 10 seconds from now). careslot still expires
   * the session itself when the shorter hold ends. Between 30 and 1439.
   * @defaultValue 31
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
const LATENCY_MARGIN_MS = 10_000;
const SAFETY_MARGIN_MS = 60_000;
const MAX_IDEMPOTENCY_KEY = 255;
const REFUND_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer']);

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
    typeof stripe.refunds?.create !== 'function' ||
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

  constructor(options: StripeCheckoutGatewayOptions) {
    validateOptions(options);
    this.stripe = options.stripe;
    this.webhookSecret = options.webhookSecret;
    this.successUrl = options.successUrl;
    this.cancelUrl = options.cancelUrl;
    this.toleranceSeconds = options.toleranceSeconds ?? 300;
    this.minSessionMs = (options.minSessionMinutes ?? 31) * 60_000;
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

  async ensureCustomer(args: { patient: Patient; customerId: string | null }): Promise<string | null> {
    if (args.customerId) return args.customerId;
    const { patient } = args;
    const params: StripeCustomerCreateParams = {
      name: patient.name,
      ...(patient.email ? { email: patient.email } : {}),
      metadata: { [STRIPE_METADATA.patientId]: patient.id },
    };
    const key = this.key(`customer-${patient.id}`);
    try {
      return (await this.stripe.customers.create(params, { idempotencyKey: key })).id;
    } catch (error) {
      if (!isStripeIdempotencyError(error)) throw providerError('customer creation', error);
    }
    // The patient's details changed within the key's 24 hours: a key of these details still
    // dedupes concurrent bookings, instead of failing every booking for a day.
    try {
      const retryKey = this.key(`customer-${patient.id}-${sha256(JSON.stringify(params)).slice(0, 16)}`);
      return (await this.stripe.customers.create(params, { idempotencyKey: retryKey })).id;
    } catch (error) {
      throw providerError('customer creation', error);
    }
  }

  /**
   * Session life: the hold or `minSessionMinutes` after the booking was made, whichever is
   * later, so a retry for the same booking sends the same parameters (Stripe refuses a reused
   * idempotency key with different ones). Never under Stripe's 30 minutes from now, never past
   * its 24 hours.
   */
  private expiresAt(booking: CheckoutRequest['booking'], holdExpiresAt: Date): number {
    const now = this.clock.now().getTime();
    const wanted = Math.max(booking.createdAt.getTime() + this.minSessionMs, holdExpiresAt.getTime());
    const target = Math.max(wanted, now + STRIPE_MIN_SESSION_MS + LATENCY_MARGIN_MS);
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
    const successUrl = request.successUrl ?? this.successUrl;
    const cancelUrl = request.cancelUrl ?? this.cancelUrl;
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
      ...(successUrl === undefined ? {} : { success_url: successUrl }),
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
      session = await this.stripe.checkout.sessions.retrieve(args.sessionId);
    } catch {
      throw providerError('Checkout Session expiry', expireError);
    }
    if (session.status === 'expired') return { outcome: 'expired' };
    if (session.status === 'complete') {
      const payment = this.paymentOf(session);
      if (payment) return { outcome: 'paid', payment };
      if (session.payment_status === 'unpaid') return { outcome: 'processing' };
      // 'no_payment_required': nothing was paid, so the hold may go.
      return { outcome: 'expired' };
    }
    throw providerError('Checkout Session expiry', expireError);
  }

  async retrieveCheckout(args: { sessionId: string }): Promise<CheckoutState> {
    let session: StripeCheckoutSessionLike;
    try {
      session = await this.stripe.checkout.sessions.retrieve(args.sessionId);
    } catch (error) {
      throw providerError('Checkout Session retrieval', error);
    }
    const status = session.status === 'complete' || session.status === 'expired' ? session.status : 'open';
    return { sessionId: session.id, status, payment: this.paymentOf(session) };
  }

  private paymentOf(session: StripeCheckoutSessionLike): PaymentDetails | null {
    const paymentId = refId(session.payment_intent);
    if (session.payment_status !== 'paid' || paymentId === null) return null;
    return {
      paymentId,
      amount: typeof session.amount_total === 'number' ? session.amount_total : -1,
      currency: (session.currency ?? '').toLowerCase(),
    };
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    // Idempotency keys live 24 hours; a refund retried later is found by its careslot id instead.
    let earlier: StripeRefundLike | undefined;
    try {
      const page = await this.stripe.refunds.list({ payment_intent: request.paymentId, limit: 100 });
      earlier = page.data.find((r) => r.metadata?.[STRIPE_METADATA.refundId] === request.idempotencyKey);
    } catch (error) {
      throw providerError('refund lookup', error);
    }
    if (earlier) return { providerRefundId: earlier.id, status: refundStatus(earlier.status) };
    const metadata: Record<string, string> = {
      [STRIPE_METADATA.refundId]: request.idempotencyKey,
      [STRIPE_METADATA.bookingId]: request.bookingId,
    };
    const params: StripeRefundCreateParams = { payment_intent: request.paymentId, amount: request.amount, metadata };
    if (request.reason !== undefined) {
      if (REFUND_REASONS.has(request.reason)) params.reason = request.reason as NonNullable<typeof params.reason>;
      else metadata[STRIPE_METADATA.reason] = request.reason.slice(0, 500);
    }
    try {
      const refund = await this.stripe.refunds.create(params, {
        idempotencyKey: this.key(`refund-${request.idempotencyKey}`),
      });
      return { providerRefundId: refund.id, status: refundStatus(refund.status) };
    } catch (error) {
      throw providerError('refund', error);
    }
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
