// Dispatch of normalized provider events: which booking an event is about, and which use case applies it.
import { isBookingError } from '../domain/errors.js';
import type { PaymentEvent } from '../ports/payment-gateway.js';
import { confirmPayment } from './confirm.js';
import type { EngineContext } from './context.js';
import { applyRefundEvent } from './refund.js';
import { cancelPending } from './release.js';
import { parseInput, paymentEventSchema } from './validation.js';

export type PaymentEventOutcome =
  | 'confirmed'
  | 'cancelled'
  | 'duplicate'
  | 'ignored'
  | 'mismatch'
  | 'late_refund'
  | 'refund_updated';

export interface PaymentEventResult {
  outcome: PaymentEventOutcome;
  bookingId: string | null;
  /** Why an event was ignored, when careslot knows more than "not for us". */
  reason?: string;
}

export interface HandlePaymentEventOptions {
  /**
   * The event was verified as coming from the provider (the webhook handler sets this). A
   * verified event that can never apply — a shape careslot cannot use, a booking that is gone,
   * a transition it does not allow — is then acknowledged as `{ outcome: 'ignored', reason }`
   * and reported on `payment.ignored`, so the provider stops retrying it. Unset, such an event
   * throws its BookingError (e.g. INVALID_INPUT), as any bad input does. Failures a retry can
   * fix (store or provider down: STORE_ERROR, PAYMENT_PROVIDER_ERROR, any other error) always throw.
   * @defaultValue false
   */
  verified?: boolean;
}

/** The booking an event is about: by id from metadata, else by Checkout Session; null when unknown. */
async function resolveBooking(
  ctx: EngineContext,
  bookingId: string | null,
  sessionId: string | null,
): Promise<string | null> {
  if (bookingId) {
    try {
      const booking = await ctx.store.getBooking(bookingId);
      if (booking) return booking.id;
    } catch (error) {
      // Metadata from a provider is not ours to trust: an unparsable id is just unknown.
      if (!isBookingError(error) || error.code !== 'INVALID_INPUT') throw error;
    }
  }
  if (sessionId) {
    const [booking] = await ctx.store.findBookings({ checkoutSessionId: sessionId, limit: 1 });
    if (booking) return booking.id;
  }
  return null;
}

/** Normalized provider events: replaying one (same id) changes nothing the second time. */
export async function handlePaymentEvent(
  ctx: EngineContext,
  input: PaymentEvent,
  options: HandlePaymentEventOptions = {},
): Promise<PaymentEventResult> {
  try {
    return await applyPaymentEvent(ctx, input);
  } catch (error) {
    if (!options.verified || !isBookingError(error) || error.status >= 500) throw error;
    const reason = `${error.code}: ${error.message}`;
    ctx.emit('payment.ignored', { event: input, reason });
    return { outcome: 'ignored', bookingId: null, reason };
  }
}

async function applyPaymentEvent(ctx: EngineContext, input: PaymentEvent): Promise<PaymentEventResult> {
  const event = parseInput(paymentEventSchema, input, 'handlePaymentEvent') as PaymentEvent;
  if (event.type === 'refund.updated') return applyRefundEvent(ctx, event);
  if (await ctx.store.hasProcessedEvent(event.id)) return { outcome: 'duplicate', bookingId: null };
  const bookingId = await resolveBooking(ctx, event.bookingId, event.sessionId);
  if (!bookingId) {
    await ctx.store.transaction((tx) => tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() }));
    ctx.emit('payment.ignored', { event, reason: 'unknown booking' });
    return { outcome: 'ignored', bookingId: null, reason: 'unknown booking' };
  }
  if (event.type === 'payment.succeeded') {
    const outcome = await confirmPayment(ctx, { event, bookingId, sessionId: event.sessionId, payment: event.payment });
    return { outcome, bookingId };
  }
  const outcome = await cancelPending(ctx, {
    bookingId,
    event,
    sessionId: event.sessionId,
    reason: event.type === 'payment.failed' ? 'payment_failed' : 'checkout_expired',
  });
  return { outcome, bookingId };
}
