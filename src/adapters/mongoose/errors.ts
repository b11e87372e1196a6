// Database failures as BookingErrors, and the one conflict the store resolves by running a transaction again.
import { BookingError, isBookingError } from '../../domain/errors.js';

/** E11000: a unique index refused the write (11001 is the pre-2.6 spelling of the same). */
export function isDuplicateKeyError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  return code === 11000 || code === 11001;
}

/**
 * Inside a transaction a duplicate key aborts the whole transaction on the server, so it can
 * not be answered with null there. The store checks before every unique write; this error
 * means another transaction committed the same key after ours took its snapshot. Running the
 * function again reads that key and answers null/false as the port says.
 */
export class UniqueConflictError extends Error {
  constructor(
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(`MongooseStore: ${operation} met a unique key committed by a concurrent transaction`, options);
    this.name = 'UniqueConflictError';
  }
}

/** How many times a transaction is started again after a UniqueConflictError. */
export const UNIQUE_CONFLICT_ATTEMPTS = 10;

/** Runs `attempt` again while it fails with UniqueConflictError, at most `attempts` times in all. */
export async function retryUniqueConflicts<T>(
  attempt: () => Promise<T>,
  attempts = UNIQUE_CONFLICT_ATTEMPTS,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof UniqueConflictError) || i >= attempts) throw error;
    }
  }
}

/** A driver error carrying this label (`MongoError#hasErrorLabel`). */
export function hasLabel(error: unknown, label: string): boolean {
  const labelled = error as { hasErrorLabel?: (label: string) => boolean } | null;
  return typeof labelled?.hasErrorLabel === 'function' && labelled.hasErrorLabel(label) === true;
}

function isNamed(error: unknown, pattern: RegExp): error is Error {
  return error instanceof Error && pattern.test(error.name);
}

/**
 * What callers see: BookingErrors and errors thrown by a transaction's own function pass
 * through unchanged; mongoose validation and cast errors become INVALID_INPUT; driver and
 * connection errors become STORE_ERROR (500) with the original as `cause`.
 */
export function toStoreError(error: unknown, operation: string): unknown {
  if (isBookingError(error)) return error;
  if (error instanceof UniqueConflictError) {
    return new BookingError(
      'STORE_ERROR',
      `MongooseStore: ${operation} kept conflicting with concurrent transactions; try again`,
      { cause: error },
    );
  }
  if (isNamed(error, /^(ValidationError|CastError|ValidatorError)$/)) {
    const errors = (error as { errors?: Record<string, { message?: string }> }).errors ?? {};
    const issues = Object.entries(errors).map(([path, e]) => ({ path, message: String(e.message ?? 'is invalid') }));
    const summary = issues.length > 0 ? issues.map((i) => i.message).join('; ') : error.message;
    return new BookingError('INVALID_INPUT', `MongooseStore: ${operation}: ${summary}`, {
      details: { issues },
      cause: error,
    });
  }
  if (hasLabel(error, 'UnknownTransactionCommitResult')) {
    // The driver retried the commit as long as it would and still does not know: the writes
    // may be committed. Callers that must not lose the after-commit work read the state again.
    return new BookingError(
      'STORE_ERROR',
      `MongooseStore: ${operation}: the commit's outcome is unknown (it may have committed): ${(error as Error).message}`,
      { cause: error, details: { commitOutcome: 'unknown' } },
    );
  }
  if (isNamed(error, /^TransactionDeadlineError$/)) {
    return new BookingError('STORE_ERROR', `MongooseStore: ${operation}: ${error.message}`, {
      cause: error,
      details: { commitOutcome: 'unknown' },
    });
  }
  if (isNamed(error, /^Mongo/)) {
    return new BookingError('STORE_ERROR', `MongooseStore: ${operation} failed: ${error.message}`, { cause: error });
  }
  return error;
}
