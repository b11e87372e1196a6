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
  declinedAttempts: number;
  expiresAt: Date;
}

export interface TestRefund {
  id: string;
  paymentId: string;
  amount: number;
  idempotencyKey: string;
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
   * Minimum session life, as Stripe's 30 minutes; careslot expires sessions itself.
   * @defaultValue 30
   */
  minimumSessionMinutes?: number;
  /** @defaultValue the system clock */
  clock?: Clock;
}

export const TEST_SIGNATURE_HEADER = 'careslot-test-signature';

/**
 * A `PaymentGateway` with no network: sessions, payments and refunds live in memory, and
 * `pay`/`failPayment`/`expire` return the same normalized events the Stripe adapter produces.
 * `failNext` injects provider failures. Deterministic ids make test output readable.
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
  private readonly minimumSessionMinutes: number;
  private readonly clock: Clock;
  private counter = 0;

  constructor(options: TestPaymentGatewayOptions = {}) {
    this.checkoutBaseUrl = (options.checkoutBaseUrl ?? 'http://localhost/checkout').replace(/\/$/, '');
    this.secret = options.webhookSecret ?? 'whsec_test_careslot';
    this.toleranceSeconds = options.toleranceSeconds ?? 300;
    this.minimumSessionMinutes = options.minimumSessionMinutes ?? 30;
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
    const minimum = this.clock.now().getTime() + this.minimumSessionMinutes * 60_000;
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
    if (session.status === 'complete' && session.payment) return { outcome: 'paid', payment: { ...session.payment } };
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
    if (replay) return { providerRefundId: replay.id, status: 'succeeded' };
    const paid = [...this.sessions.values()].find((s) => s.payment?.paymentId === request.paymentId)?.payment;
    if (!paid) throw new BookingError('PAYMENT_PROVIDER_ERROR', `No such payment: ${request.paymentId}`);
    const refunded = this.refunds
      .filter((r) => r.paymentId === request.paymentId)
      .reduce((sum, r) => sum + r.amount, 0);
    if (!Number.isSafeInteger(request.amount) || request.amount <= 0 || refunded + request.amount > paid.amount) {
      throw new BookingError(
        'PAYMENT_PROVIDER_ERROR',
        `Refund of ${request.amount} exceeds what is left of ${request.paymentId}`,
      );
    }
    const refund: TestRefund = {
      id: this.nextId('re'),
      paymentId: request.paymentId,
      amount: request.amount,
      idempotencyKey: request.idempotencyKey,
    };
    this.refunds.push(refund);
    this.refundsByKey.set(request.idempotencyKey, refund);
    return { providerRefundId: refund.id, status: 'succeeded' };
  }

  /** The patient pays on the hosted page. Returns the provider's event (deliver it to the engine). */
  pay(sessionId: string, override: { amount?: number; currency?: string } = {}): PaymentEvent {
    const session = this.session(sessionId);
    if (session.status !== 'open') throw new Error(`TestPaymentGateway: session ${sessionId} is ${session.status}`);
    session.status = 'complete';
    session.payment = {
      paymentId: this.nextId('pi'),
      amount: override.amount ?? session.amount,
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

  /** A delayed payment method that finally failed: terminal, like Stripe's async_payment_failed. */
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
