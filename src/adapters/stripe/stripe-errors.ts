// Turns stripe-node errors into careslot's PAYMENT_PROVIDER_ERROR, keeping the original as `cause`.
import { BookingError, isBookingError } from '../../domain/errors.js';

/** The fields of a stripe-node `StripeError` careslot reads; duck-typed so any stripe-node copy matches. */
interface StripeErrorLike {
  message?: unknown;
  type?: unknown;
  rawType?: unknown;
  code?: unknown;
  statusCode?: unknown;
  requestId?: unknown;
}

function fields(error: unknown): StripeErrorLike {
  return typeof error === 'object' && error !== null ? (error as StripeErrorLike) : {};
}

export function isStripeSignatureError(error: unknown): boolean {
  return fields(error).type === 'StripeSignatureVerificationError';
}

/**
 * A key reused with other parameters (400 `idempotency_error`). Not the 409 Stripe answers
 * while another request with the same key is still running: that one is the key doing its job.
 */
export function isStripeIdempotencyError(error: unknown): boolean {
  const e = fields(error);
  return (e.type === 'StripeIdempotencyError' || e.rawType === 'idempotency_error') && e.statusCode !== 409;
}

/** Wraps anything a Stripe call threw; a BookingError passes through unchanged. */
export function providerError(operation: string, error: unknown): BookingError {
  if (isBookingError(error)) return error;
  const e = fields(error);
  const details: Record<string, unknown> = { provider: 'stripe', operation };
  if (typeof e.type === 'string') details.stripeType = e.type;
  if (typeof e.code === 'string') details.stripeCode = e.code;
  if (typeof e.statusCode === 'number') details.statusCode = e.statusCode;
  if (typeof e.requestId === 'string') details.requestId = e.requestId;
  const reason = typeof e.message === 'string' && e.message.length > 0 ? `: ${e.message}` : '';
  return new BookingError('PAYMENT_PROVIDER_ERROR', `Stripe ${operation} failed${reason}`, { cause: error, details });
}
