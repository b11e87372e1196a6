// A payment provider simulated in memory: hosted checkout, pay/decline/expire, refunds, signed webhooks.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BookingError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import { systemClock } from '../ports/clock.js';
import type { Patient } from '../ports/patient-directory.js';
import type {
  CheckoutRequest,
  CheckoutSession,
  CheckoutState,
  ExpireResult,
  PaymentDetails,
  PaymentEvent,
  PaymentGateway,
  RefundRequest,
  RefundResult,
  WebhookParseResult,
  WebhookRequest,
} from '../ports/payment-gateway.js';
import { RAW_BODY_HINT } from '../ports/payment-gateway.js';

export type TestGatewayMethod = 'ensureCustomer' | 'createCheckout' | 'expireCheckout' | 'retrieveCheckout' | 'refund';

export interface TestCheckoutSession {
  id: string;
  url: string;
  bookingId: string;
  patientId: string;
  customerId: string | null;
  amount: number;
  currency: string;
  description: string;
  successUrl: string | null;
  cancelUrl: string | null;
  status: 'open' | 'complete' | 'expired';
  payment: PaymentDetails | null;
  /**
   * A delayed payment method (bank debit) used on the page: `settling` from `payDelayed`
   * until `settleDelayed` makes it `succeeded` or `failed`; null when none was used.
   */
  delayedPayment: 'settling' | 'succeeded' | 'failed' | null;
  declinedAttempts: number;
  expiresAt: Date;
}

export interface TestRefund {
  id: string;
  paymentId: string;
  amount: number;
  idempotencyKey: string;
  /** What `refund` answered, until `updateRefund` reports a change. */
  status: RefundResult['status'];
}

export interface TestPaymentGatewayOptions {
  /**
   * Base of the simulated hosted page; a session's url is `${checkoutBaseUrl}/${sessionId}`.
   * @defaultValue 'http://localhost/checkout'
   */
  checkoutBaseUrl?: string;
  /**
   * Secret for the simulated webhook signature (`careslot-test-signature` header).
   * @defaultValue 'whsec_test_careslot'
   */
  webhookSecret?: string;
  /**
   * Signatures older than this are rejected, as Stripe's are.
   * @defaultValue 300
   */
  toleranceSeconds?: number;
  /**
   * Shortest session life asked of the provider, counted from session creation; a longer
   * hold keeps the session open until the hold ends. Same name and default as
   * `StripeCheckoutGateway`'s option, so both open sessions of the same length. careslot
   * still expires the session itself when the hold ends.
   * @defaultValue 31
   */
  minSessionMinutes?: number;
  /**
   * The old name of `minSessionMinutes` (whose default is 31, where this one's was 30).
   * Still honoured in this release; giving both is a TypeError.
   * @deprecated Use `minSessionMinutes`.
   */
  minimumSessionMinutes?: number;
  /** @defaultValue the system clock */
  clock?: Clock;
}

export const TEST_SIGNATURE_HEADER = 'careslot-test-signature';

function sessionMinutes(options: TestPaymentGatewayOptions): number {
  const { minSessionMinutes, minimumSessionMinutes } = options;
  if (minSessionMinutes !== undefined && minimumSessionMinutes !== undefined) {
    throw new TypeError(
      'TestPaymentGateway: give minSessionMinutes only (minimumSessionMinutes is its deprecated name)',
    );
  }
  const minutes = minSessionMinutes ?? minimumSessionMinutes ?? 31;
  if (typeof minutes !== 'number' || !Number.isFinite(minutes) || minutes < 0) {
    const name = minSessionMinutes === undefined ? 'minimumSessionMinutes' : 'minSessionMinutes';
    throw new TypeError(`TestPaymentGateway: ${name} must be a number of minutes, 0 or more (got ${String(minutes)})`);
  }
  return minutes;
}

/**
 * A `PaymentGateway` with no network: sessions, payments and refunds live in memory, and
 * `pay`/`failPayment`/`expire`/`settleDelayed`/`updateRefund` return the same normalized
 * events the Stripe adapter produces; `payDelayed` gives the "still processing" outcome.
 * `failNext` injects provider failures. Deterministic ids make test output readable. It
 * passes the same PaymentGateway conformance suite as `StripeCheckoutGateway`.
 */
export class TestPaymentGateway implements PaymentGateway {
  readonly provider = 'test';
  readonly sessions = new Map<string, TestCheckoutSession>();
  readonly refunds: TestRefund[] = [];
  /** Every call made, in order, for assertions. */
  readonly calls: { method: TestGatewayMethod; idempotencyKey?: string }[] = [];
  customersCreated = 0;

  private readonly customers = new Map<string, string>();
  private readonly sessionsByKey = new Map<string, string>();
  private readonly refundsByKey = new Map<string, TestRefund>();
  private readonly failures = new Map<TestGatewayMethod, unknown[]>();
  private readonly checkoutBaseUrl: string;
  private readonly secret: string;
  private readonly toleranceSeconds: number;
  private readonly minSessionMinutes: number;
  private readonly clock: Clock;
  private counter = 0;

  constructor(options: TestPaymentGatewayOptions = {}) {
    this.checkoutBaseUrl = (options.checkoutBaseUrl ?? 'http://localhost/checkout').replace(/\/$/, '');
    this.secret = options.webhookSecret ?? 'whsec_test_careslot';
    this.toleranceSeconds = options.toleranceSeconds ?? 300;
    this.minSessionMinutes = sessionMinutes(options);
    this.clock = options.clock ?? systemClock;
  }

  /** Makes the next `times` calls of `method` fail like a provider outage (or with `error`). */
  failNext(method: TestGatewayMethod, times = 1, error?: unknown): this {
    const queue = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) queue.push(error ?? new Error(`simulated ${method} outage`));
    this.failures.set(method, queue);
    return this;
  }

  private call(method: TestGatewayMethod, idempotencyKey?: string): void {
    this.calls.push(idempotencyKey === undefined ? { method } : { method, idempotencyKey });
    const queue = this.failures.get(method);
    const failure = queue?.shift();
    if (failure !== undefined) {
      throw new BookingError('PAYMENT_PROVIDER_ERROR', `Test provider failed in ${method}`, { cause: failure });
    }
  }

  private nextId(prefix: string): string {
    this.counter++;
    return `${prefix}_test_${this.counter.toString().padStart(6, '0')}`;
  }

  async ensureCustomer(args: { patient: Patient; customerId: string | null }): Promise<string | null> {
    this.call('ensureCustomer');
    if (args.customerId) return args.customerId;
    const existing = this.customers.get(args.patient.id);
    if (existing) return existing;
    const id = this.nextId('cus');
    this.customers.set(args.patient.id, id);
    this.customersCreated++;
    return id;
  }

  async createCheckout(request: CheckoutRequest): Promise<CheckoutSession> {
    this.call('createCheckout', request.idempotencyKey);
    const replay = this.sessionsByKey.get(request.idempotencyKey);
    const known = replay ? this.sessions.get(replay) : undefined;
    if (known) return { sessionId: known.id, url: known.url, expiresAt: known.expiresAt };
    const id = this.nextId('cs');
    const minimum = this.clock.now().getTime() + this.minSessionMinutes * 60_000;
    const session: TestCheckoutSession = {
      id,
      url: `${this.checkoutBaseUrl}/${id}`,
      bookingId: request.booking.id,
      patientId: request.patient.id,
      customerId: request.customerId,
      amount: request.booking.price.amount,
      currency: request.booking.price.currency,
      description: `Appointment ${request.schedule.startTime.toISOString()}`,
      successUrl: request.successUrl ?? null,
      cancelUrl: request.cancelUrl ?? null,
      status: 'open',
      payment: null,
      delayedPayment: null,
      declinedAttempts: 0,
      expiresAt: new Date(Math.max(minimum, request.holdExpiresAt.getTime())),
    };
    this.sessions.set(id, session);
    this.sessionsByKey.set(request.idempotencyKey, id);
    return { sessionId: id, url: session.url, expiresAt: session.expiresAt };
  }

  private session(sessionId: string): TestCheckoutSession {
    const session = this.sessions.get(sessionId);
    if (!session) throw new BookingError('PAYMENT_PROVIDER_ERROR', `No such checkout session: ${sessionId}`);
    return session;
  }

  async expireCheckout(args: { sessionId: string }): Promise<ExpireResult> {
    this.call('expireCheckout');
    const session = this.session(args.sessionId);
    if (session.status === 'complete') {
      // As on Stripe: completed without money means a delayed method is settling (or failed).
      return session.payment ? { outcome: 'paid', payment: { ...session.payment } } : { outcome: 'processing' };
    }
    session.status = 'expired';
    return { outcome: 'expired' };
  }

  async retrieveCheckout(args: { sessionId: string }): Promise<CheckoutState> {
    this.call('retrieveCheckout');
    const session = this.session(args.sessionId);
    return { sessionId: session.id, status: session.status, payment: session.payment ? { ...session.payment } : null };
  }

  async refund(request: RefundRequest): Promise<RefundResult> {
    this.call('refund', request.idempotencyKey);
    const replay = this.refundsByKey.get(request.idempotencyKey);
    if (replay) return { providerRefundId: replay.id, status: replay.status };
    const paidSession = [...this.sessions.values()].find((s) => s.payment?.paymentId === request.paymentId);
    const paid = paidSession?.payment;
    if (!paidSession || !paid)
      throw new BookingError('PAYMENT_PROVIDER_ERROR', `No such payment: ${request.paymentId}`);
    const refunded = this.refunds
      .filter((r) => r.paymentId === request.paymentId && r.status !== 'failed')
      .reduce((sum, r) => sum + r.amount, 0);
    // A payment reported without an amount still took the session's amount.
    const total = paid.amount ?? paidSession.amount;
    const amount = request.amount ?? total - refunded;
    if (!Number.isSafeInteger(amount) || amount <= 0 || refunded + amount > total) {
      throw new BookingError(
        'PAYMENT_PROVIDER_ERROR',
        `Refund of ${request.amount} exceeds what is left of ${request.paymentId}`,
      );
    }
    const refund: TestRefund = {
      id: this.nextId('re'),
      paymentId: request.paymentId,
      amount,
      idempotencyKey: request.idempotencyKey,
      status: 'succeeded',
    };
    this.refunds.push(refund);
    this.refundsByKey.set(request.idempotencyKey, refund);
    return { providerRefundId: refund.id, status: refund.status };
  }

  /** The patient pays on the hosted page. Returns the provider's event (deliver it to the engine). */
  pay(sessionId: string, override: { amount?: number | null; currency?: string } = {}): PaymentEvent {
    const session = this.session(sessionId);
    if (session.status !== 'open') throw new Error(`TestPaymentGateway: session ${sessionId} is ${session.status}`);
    session.status = 'complete';
    session.payment = {
      paymentId: this.nextId('pi'),
      // null: the provider reports no amount (as a Stripe session with amount_total null).
      amount: override.amount === undefined ? session.amount : override.amount,
      currency: override.currency ?? session.currency,
    };
    return {
      type: 'payment.succeeded',
      id: this.nextId('evt'),
      bookingId: session.bookingId,
      sessionId,
      payment: { ...session.payment },
    };
  }

  /** A declined card: the page stays open and the patient may try again. No event. */
  decline(sessionId: string): void {
    const session = this.session(sessionId);
    if (session.status !== 'open') throw new Error(`TestPaymentGateway: session ${sessionId} is ${session.status}`);
    session.declinedAttempts++;
  }

  /**
   * A payment that failed for good: the session ends `expired` and the event is `payment.failed`
   * (reason `declined`). For Stripe's exact sequence with a delayed method, use `payDelayed`
   * then `settleDelayed(sessionId, { succeed: false })`.
   */
  failPayment(sessionId: string): PaymentEvent {
    const session = this.session(sessionId);
    session.status = 'expired';
    return {
      type: 'payment.failed',
      id: this.nextId('evt'),
      bookingId: session.bookingId,
      sessionId,
      reason: 'declined',
    };
  }

  /**
   * The patient completes the page with a delayed payment method (a bank debit): the session
   * is `complete` but no money has moved yet. Until `settleDelayed`, `retrieveCheckout`
   * answers `complete` with `payment: null` and `expireCheckout` answers `processing`, as
   * `StripeCheckoutGateway` does for a session completed with `payment_status: 'unpaid'`.
   * Stripe's event for this (`checkout.session.completed`, unpaid) is not a payment event, so
   * nothing is returned.
   */
  payDelayed(sessionId: string): void {
    const session = this.session(sessionId);
    if (session.status !== 'open') throw new Error(`TestPaymentGateway: session ${sessionId} is ${session.status}`);
    session.status = 'complete';
    session.delayedPayment = 'settling';
  }

  /**
   * The delayed payment started by `payDelayed` settles (`succeed: true`: the money is taken,
   * like Stripe's `async_payment_succeeded`) or fails (like `async_payment_failed`). Returns
   * the provider's event, `payment.succeeded` or `payment.failed` (deliver it to the engine).
   * A failed one leaves the session `complete` without a payment, as on Stripe (so
   * `expireCheckout` still answers `processing`: the event is what ends the booking).
   */
  settleDelayed(sessionId: string, outcome: { succeed: boolean }): PaymentEvent {
    const session = this.session(sessionId);
    if (session.delayedPayment !== 'settling') {
      throw new Error(
        `TestPaymentGateway: session ${sessionId} has no delayed payment settling (call payDelayed first)`,
      );
    }
    if (!outcome.succeed) {
      session.delayedPayment = 'failed';
      return {
        type: 'payment.failed',
        id: this.nextId('evt'),
        bookingId: session.bookingId,
        sessionId,
        reason: 'async_payment_failed',
      };
    }
    session.delayedPayment = 'succeeded';
    session.payment = { paymentId: this.nextId('pi'), amount: session.amount, currency: session.currency };
    return {
      type: 'payment.succeeded',
      id: this.nextId('evt'),
      bookingId: session.bookingId,
      sessionId,
      payment: { ...session.payment },
    };
  }

  /**
   * The provider reports a refund's state, like Stripe's `refund.updated`: moves the refund to
   * `status` when given (a later `refund` call with its key answers that status) and returns the
   * normalized `refund.updated` event, carrying careslot's refund id (the idempotency key).
   */
  updateRefund(providerRefundId: string, change: { status?: RefundResult['status'] } = {}): PaymentEvent {
    const refund = this.refunds.find((r) => r.id === providerRefundId);
    if (!refund) throw new Error(`TestPaymentGateway: no refund ${providerRefundId}`);
    if (change.status !== undefined) refund.status = change.status;
    const currency = [...this.sessions.values()].find((s) => s.payment?.paymentId === refund.paymentId)?.payment
      ?.currency;
    return {
      type: 'refund.updated',
      id: this.nextId('evt'),
      paymentId: refund.paymentId,
      providerRefundId: refund.id,
      refundId: refund.idempotencyKey,
      amount: refund.amount,
      currency: currency ?? '',
      status: refund.status,
    };
  }

  /** The provider expires the session itself (its own deadline passed). */
  expire(sessionId: string): PaymentEvent {
    const session = this.session(sessionId);
    if (session.status === 'open') session.status = 'expired';
    return { type: 'checkout.expired', id: this.nextId('evt'), bookingId: session.bookingId, sessionId };
  }

  /** The session of a booking, for tests that only know the booking. */
  sessionForBooking(bookingId: string): TestCheckoutSession | undefined {
    return [...this.sessions.values()].find((s) => s.bookingId === bookingId);
  }

  /** Wraps an event as a signed webhook request, as the provider would send it. */
  signWebhook(event: PaymentEvent, at: Date = this.clock.now()): { rawBody: string; headers: Record<string, string> } {
    const rawBody = JSON.stringify(event);
    const timestamp = Math.floor(at.getTime() / 1000);
    return {
      rawBody,
      headers: {
        'content-type': 'application/json',
        [TEST_SIGNATURE_HEADER]: `t=${timestamp},v1=${this.sign(timestamp, rawBody)}`,
      },
    };
  }

  private sign(timestamp: number, rawBody: string): string {
    return createHmac('sha256', this.secret).update(`${timestamp}.${rawBody}`).digest('hex');
  }

  async parseWebhook(request: WebhookRequest): Promise<WebhookParseResult> {
    const { rawBody } = request;
    if (typeof rawBody !== 'string' && !(rawBody instanceof Uint8Array)) {
      throw new BookingError('INVALID_INPUT', RAW_BODY_HINT);
    }
    const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
    const header = request.headers[TEST_SIGNATURE_HEADER];
    const value = Array.isArray(header) ? header[0] : header;
    const parts = Object.fromEntries((value ?? '').split(',').map((p) => p.split('=', 2) as [string, string]));
    const timestamp = Number(parts.t);
    const signature = parts.v1;
    if (!value || !Number.isInteger(timestamp) || typeof signature !== 'string') {
      throw new BookingError('INVALID_SIGNATURE', `Missing or malformed ${TEST_SIGNATURE_HEADER} header`);
    }
    const expected = Buffer.from(this.sign(timestamp, body), 'hex');
    const given = Buffer.from(signature, 'hex');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new BookingError('INVALID_SIGNATURE', 'Webhook signature does not match the payload');
    }
    if (Math.abs(this.clock.now().getTime() / 1000 - timestamp) > this.toleranceSeconds) {
      throw new BookingError('INVALID_SIGNATURE', 'Webhook timestamp is outside the tolerance');
    }
    let event: PaymentEvent;
    try {
      event = JSON.parse(body) as PaymentEvent;
    } catch (error) {
      throw new BookingError('INVALID_INPUT', 'Webhook body is not JSON', { cause: error });
    }
    return { kind: 'event', event };
  }
}
