// The one error type careslot throws, with stable codes and HTTP statuses.

/** Every error code careslot can produce, with the HTTP status a host should answer with. */
export const ErrorCodes = {
  INVALID_INPUT: 400,
  INVALID_SIGNATURE: 400,
  SUBSCRIPTION_REQUIRED: 403,
  RELATION_REQUIRED: 403,
  NOT_ALLOWED: 403,
  SCHEDULE_NOT_FOUND: 404,
  BOOKING_NOT_FOUND: 404,
  PATIENT_NOT_FOUND: 404,
  TIME_OFF_NOT_FOUND: 404,
  SCHEDULE_UNAVAILABLE: 409,
  INVALID_TRANSITION: 409,
  PAYMENT_PROVIDER_ERROR: 502,
  STORE_ERROR: 500,
  /** A request body over the receiver's size cap (the webhook handler's `maxBodyBytes`). */
  PAYLOAD_TOO_LARGE: 413,
  /** A failure the caller cannot fix and may retry, e.g. a webhook the engine could not apply yet. */
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface BookingErrorOptions {
  /** Extra, JSON-safe facts about the failure (e.g. which field was invalid). */
  details?: Record<string, unknown>;
  /** The underlying error (a provider or database error), kept for logs. */
  cause?: unknown;
}

/**
 * A failure with a stable `code` and an HTTP `status`. Hosts map it straight to a response:
 * `res.status(err.status).json(err.toJSON())`.
 */
export class BookingError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: BookingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BookingError';
    this.code = code;
    this.status = ErrorCodes[code];
    this.details = options.details;
  }

  /** The body a host can send to a client: never a stack trace. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

/**
 * True for any careslot error, including one thrown by a second copy of the package (the ESM
 * and CJS builds loaded side by side), which `instanceof` would miss.
 */
export function isBookingError(value: unknown): value is BookingError {
  if (value instanceof BookingError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { name?: unknown; code?: unknown; status?: unknown };
  return (
    candidate.name === 'BookingError' &&
    typeof candidate.code === 'string' &&
    Object.hasOwn(ErrorCodes, candidate.code) &&
    typeof candidate.status === 'number'
  );
}
