// Maps verified Stripe events to careslot's normalized payment events (pure, no I/O).
import { BookingError } from '../../domain/errors.js';
import type { PaymentEvent, RefundResult, WebhookParseResult } from '../../ports/payment-gateway.js';
import type { StripeCheckoutSessionLike, StripeRef, StripeRefundLike } from './stripe-client.js';

/** Metadata keys careslot writes on Stripe objects (and reads back from events). */
export const STRIPE_METADATA = {
  bookingId: 'careslot_booking_id',
  scheduleId: 'careslot_schedule_id',
  patientId: 'careslot_patient_id',
  doctorId: 'careslot_doctor_id',
  refundId: 'careslot_refund_id',
  reason: 'careslot_reason',
} as const;

/**
 * The Stripe event types careslot acts on; subscribe the webhook endpoint to these. Other
 * types are acknowledged without action. `charge.refunded` is deliberately not used: its
 * charge no longer carries the refunds list by default, and the refund events already
 * report every refund (one source, no double counting).
 */
export const STRIPE_WEBHOOK_EVENTS = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'refund.created',
  'refund.updated',
  'refund.failed',
] as const;

interface StripeEventLike {
  id: string;
  type: string;
  data: { object: Record<string, unknown> };
}

function assertStripeEvent(value: unknown): asserts value is StripeEventLike {
  const e = value as { id?: unknown; type?: unknown; data?: { object?: unknown } } | null;
  const valid =
    typeof e === 'object' &&
    e !== null &&
    typeof e.id === 'string' &&
    e.id.length > 0 &&
    typeof e.type === 'string' &&
    typeof e.data === 'object' &&
    e.data !== null &&
    typeof e.data.object === 'object' &&
    e.data.object !== null;
  if (!valid) throw new BookingError('INVALID_INPUT', 'Webhook body is not a Stripe event (id, type, data.object)');
}

export function refId(ref: StripeRef | undefined): string | null {
  if (typeof ref === 'string') return ref;
  return ref && typeof ref.id === 'string' ? ref.id : null;
}

/** Stripe refund statuses → careslot's three; `requires_action` and unknown ones are still pending. */
export function refundStatus(status: string | null): RefundResult['status'] {
  if (status === 'succeeded') return 'succeeded';
  if (status === 'failed' || status === 'canceled') return 'failed';
  return 'pending';
}

function sessionEvent(event: StripeEventLike): WebhookParseResult {
  const ignored: WebhookParseResult = { kind: 'ignored', id: event.id, type: event.type };
  const session = event.data.object as unknown as StripeCheckoutSessionLike;
  const bookingId = session.metadata?.[STRIPE_METADATA.bookingId];
  // Another Checkout integration on the same Stripe account: not careslot's to act on.
  if (typeof bookingId !== 'string' || bookingId.length === 0) return ignored;
  if (session.mode != null && session.mode !== 'payment') return ignored;
  const base = { id: event.id, bookingId, sessionId: typeof session.id === 'string' ? session.id : null };
  let normalized: PaymentEvent;
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      // 'unpaid': a delayed method (bank debit) is still settling, wait for the async events.
      // 'no_payment_required': no money moved, so nothing may confirm a paid booking.
      const paymentId = refId(session.payment_intent);
      if (session.payment_status !== 'paid' || paymentId === null) return ignored;
      normalized = {
        type: 'payment.succeeded',
        ...base,
        payment: {
          paymentId,
          // A missing total becomes a mismatch in the engine, never a silent confirmation.
          amount: typeof session.amount_total === 'number' ? session.amount_total : -1,
          currency: (session.currency ?? '').toLowerCase(),
        },
      };
      break;
    }
    case 'checkout.session.async_payment_failed':
      normalized = { type: 'payment.failed', ...base, reason: 'async_payment_failed' };
      break;
    case 'checkout.session.expired':
      normalized = { type: 'checkout.expired', ...base };
      break;
    default:
      return ignored;
  }
  return { kind: 'event', event: normalized };
}

function refundEvent(event: StripeEventLike): WebhookParseResult {
  const refund = event.data.object as unknown as StripeRefundLike;
  const paymentId = refId(refund.payment_intent);
  // A refund of a bare charge (no PaymentIntent) cannot belong to a Checkout payment.
  if (paymentId === null || typeof refund.id !== 'string') return { kind: 'ignored', id: event.id, type: event.type };
  const refundId = refund.metadata?.[STRIPE_METADATA.refundId];
  return {
    kind: 'event',
    event: {
      type: 'refund.updated',
      id: event.id,
      paymentId,
      providerRefundId: refund.id,
      refundId: typeof refundId === 'string' && refundId.length > 0 ? refundId : null,
      amount: refund.amount,
      currency: String(refund.currency ?? '').toLowerCase(),
      status: refundStatus(refund.status),
    },
  };
}

/** Normalizes a verified Stripe event; types careslot does not act on come back as `ignored`. */
export function normalizeStripeEvent(value: unknown): WebhookParseResult {
  assertStripeEvent(value);
  if (value.type.startsWith('checkout.session.')) return sessionEvent(value);
  if (value.type === 'refund.created' || value.type === 'refund.updated' || value.type === 'refund.failed') {
    return refundEvent(value);
  }
  return { kind: 'ignored', id: value.id, type: value.type };
}
