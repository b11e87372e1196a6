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

/** The longest provider id the engine accepts on an event (its `paymentEventSchema`). */
const MAX_EVENT_ID = 255;

/**
 * An id from a Stripe object that careslot can pass on, or null. Metadata is free text (values
 * up to 500 characters), so a verified event may still carry an id that fits nothing: it must
 * become "unknown", never a validation error that makes Stripe retry the event for days.
 */
export function usableId(value: unknown): string | null {
  return typeof value === 'string' && value.trim().length > 0 && value.length <= MAX_EVENT_ID ? value : null;
}

export function refId(ref: StripeRef | undefined): string | null {
  if (typeof ref === 'string') return usableId(ref);
  return ref && typeof ref === 'object' ? usableId(ref.id) : null;
}

/** The session's total, or null when Stripe sent none: the engine treats null as a payment that matches no price. */
export function sessionAmount(session: Pick<StripeCheckoutSessionLike, 'amount_total'>): number | null {
  return typeof session.amount_total === 'number' && Number.isFinite(session.amount_total)
    ? session.amount_total
    : null;
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
  const metadata: unknown = session.metadata;
  // Another Checkout integration on the same Stripe account (no careslot metadata): not careslot's to act on.
  if (typeof metadata !== 'object' || metadata === null || !(STRIPE_METADATA.bookingId in metadata)) return ignored;
  if (session.mode != null && session.mode !== 'payment') return ignored;
  // careslot's key with a value that is no id (not a string, too long): the engine finds the
  // booking by its session instead, or acknowledges the event as about no booking it knows.
  const bookingId = usableId((metadata as Record<string, unknown>)[STRIPE_METADATA.bookingId]);
  const base = { id: event.id, bookingId, sessionId: usableId(session.id) };
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
          // A missing total becomes a mismatch in the engine (refunded in full), never a confirmation.
          amount: sessionAmount(session),
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
  const providerRefundId = usableId(refund.id);
  // A refund of a bare charge (no PaymentIntent) cannot belong to a Checkout payment.
  if (paymentId === null || providerRefundId === null) return { kind: 'ignored', id: event.id, type: event.type };
  const metadata: unknown = refund.metadata;
  const refundId =
    typeof metadata === 'object' && metadata !== null
      ? usableId((metadata as Record<string, unknown>)[STRIPE_METADATA.refundId])
      : null;
  return {
    kind: 'event',
    event: {
      type: 'refund.updated',
      id: event.id,
      paymentId,
      providerRefundId,
      refundId,
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
