// The payment port: hosted checkout, expiry, refunds and webhook parsing.
import type { Booking, Schedule } from '../domain/entities.js';
import type { Patient } from './patient-directory.js';

/** Money the provider actually took. */
export interface PaymentDetails {
  /** The provider's payment id (Stripe PaymentIntent id). */
  paymentId: string;
  /** Minor units taken; null when the provider reported no amount (it matches no price: a mismatch). */
  amount: number | null;
  currency: string;
}

export interface CheckoutRequest {
  booking: Booking;
  schedule: Schedule;
  patient: Patient;
  /** The patient's customer id at this provider, when `ensureCustomer` gave one. */
  customerId: string | null;
  successUrl?: string;
  cancelUrl?: string;
  /**
   * When careslot releases the hold. A provider with a longer minimum session life (Stripe:
   * 30 minutes) may set a later expiry; careslot expires the session itself at this time.
   */
  holdExpiresAt: Date;
  /** Same key for the same booking: a retried call must not open a second session. */
  idempotencyKey: string;
}

export interface CheckoutSession {
  sessionId: string;
  url: string;
  expiresAt: Date;
}

export interface CheckoutState {
  sessionId: string;
  status: 'open' | 'complete' | 'expired';
  /** Present once the money is taken. */
  payment: PaymentDetails | null;
}

/** What happened when careslot tried to close a session. */
export type ExpireResult =
  | { outcome: 'expired' }
  /** The patient paid before the session could be closed: the payment wins. */
  | { outcome: 'paid'; payment: PaymentDetails }
  /** Completed with a delayed payment method still settling: wait for its webhook. */
  | { outcome: 'processing' };

export interface RefundRequest {
  bookingId: string;
  paymentId: string;
  /**
   * Minor units to refund; null: everything left on the payment (careslot asks this only for a
   * payment whose amount the provider never reported, recorded with amount 0).
   */
  amount: number | null;
  currency: string;
  /** careslot's refund id; the provider must refund at most once per key. */
  idempotencyKey: string;
  reason?: string;
}

export interface RefundResult {
  providerRefundId: string;
  status: 'succeeded' | 'pending' | 'failed';
}

/** A provider event, normalized. Every event has the provider's unique `id`. */
export type PaymentEvent =
  | {
      type: 'payment.succeeded';
      id: string;
      bookingId: string | null;
      sessionId: string | null;
      payment: PaymentDetails;
    }
  | { type: 'payment.failed'; id: string; bookingId: string | null; sessionId: string | null; reason?: string }
  | { type: 'checkout.expired'; id: string; bookingId: string | null; sessionId: string | null }
  | {
      type: 'refund.updated';
      id: string;
      paymentId: string;
      providerRefundId: string;
      /** careslot's refund id when the refund was made through careslot (metadata/idempotency). */
      refundId: string | null;
      amount: number;
      currency: string;
      status: RefundResult['status'];
    };

/**
 * What to tell a host that passed a parsed object instead of the raw body: every gateway and the
 * webhook handler refuse it with this one message.
 */
export const RAW_BODY_HINT =
  'Webhook body must be the raw request body (string or Buffer), not parsed JSON: mount the route with express.raw({ type: "application/json" }) before any express.json()';

export interface WebhookRequest {
  /** The exact bytes received; a parsed object cannot be verified (see `RAW_BODY_HINT`). */
  rawBody: string | Uint8Array;
  headers: Record<string, string | string[] | undefined>;
}

/** A verified webhook: either an event for the engine, or a type careslot does not act on. */
export type WebhookParseResult = { kind: 'event'; event: PaymentEvent } | { kind: 'ignored'; id: string; type: string };

/**
 * Talks to a payment provider. Implementations: `StripeCheckoutGateway` ('careslot/stripe')
 * and `TestPaymentGateway` ('careslot/testing'). Provider failures throw
 * `BookingError('PAYMENT_PROVIDER_ERROR')` with the provider's error as `cause`.
 */
export interface PaymentGateway {
  /** Stable provider name, stored on payment records (e.g. `stripe`). */
  readonly provider: string;
  /**
   * Returns the patient's customer id, creating it when `customerId` is null (idempotently
   * per patient, so two concurrent first bookings create one customer). Providers without
   * customers return null.
   */
  ensureCustomer(args: { patient: Patient; customerId: string | null }): Promise<string | null>;
  createCheckout(request: CheckoutRequest): Promise<CheckoutSession>;
  /** Closes an open session; tells whether it was paid meanwhile. Safe to call twice. */
  expireCheckout(args: { sessionId: string }): Promise<ExpireResult>;
  retrieveCheckout(args: { sessionId: string }): Promise<CheckoutState>;
  refund(request: RefundRequest): Promise<RefundResult>;
  /**
   * Verifies and normalizes a webhook. Throws `BookingError('INVALID_SIGNATURE')` for a bad
   * or missing signature or a stale timestamp, and `INVALID_INPUT` for a parsed body.
   */
  parseWebhook(request: WebhookRequest): Promise<WebhookParseResult>;
}
