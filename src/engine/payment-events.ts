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
export async function handlePaymentEvent(ctx: EngineContext, input: PaymentEvent): Promise<PaymentEventResult> {
  const event = parseInput(paymentEventSchema, input, 'handlePaymentEvent') as PaymentEvent;
  if (event.type === 'refund.updated') return applyRefundEvent(ctx, event);
  if (await ctx.store.hasProcessedEvent(event.id)) return { outcome: 'duplicate', bookingId: null };
  const bookingId = await resolveBooking(ctx, event.bookingId, event.sessionId);
  if (!bookingId) {
    await ctx.store.transaction((tx) => tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() }));
    ctx.emit('payment.ignored', { event, reason: 'unknown booking' });
    return { outcome: 'ignored', bookingId: null };
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
