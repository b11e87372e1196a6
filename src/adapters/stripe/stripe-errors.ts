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
  headers?: unknown;
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

/**
 * Stripe answered with a failure it had saved under the idempotency key (`Idempotent-Replayed:
 * true` on a 5xx): the key is spent for 24 hours, every retry with it gets the same answer.
 */
export function isReplayedServerError(error: unknown): boolean {
  const e = fields(error);
  const headers = typeof e.headers === 'object' && e.headers !== null ? (e.headers as Record<string, unknown>) : {};
  return typeof e.statusCode === 'number' && e.statusCode >= 500 && headers['idempotent-replayed'] === 'true';
}

/**
 * Whether a failed write may have left something behind at Stripe. `server`: a 5xx, which
 * Stripe saves under the key (the object may or may not exist). `network`: no answer at all
 * (a timeout, a reset connection): the request may never have arrived, may have run, or may
 * still be running. `null`: Stripe answered with a 4xx, so nothing happened that a retry
 * would repeat (a 429 or a 409 for a request in progress is answered before the key is used).
 */
export function failureDoubt(error: unknown): 'server' | 'network' | null {
  const status = fields(error).statusCode;
  if (typeof status === 'number') return status >= 500 ? 'server' : null;
  return 'network';
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
