// Database failures as BookingErrors, and which of them a transaction runs again for.
import { BookingError, isBookingError } from '../../domain/errors.js';
import { DatabaseFailure } from './sql-client.js';

/** serialization_failure and deadlock_detected: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(error: unknown): boolean {
  return error instanceof DatabaseFailure && error.sqlState !== undefined && RETRYABLE.has(error.sqlState);
}

function hint(failure: DatabaseFailure, migrateHint: string): string {
  switch (failure.sqlState) {
    case '42P01': // undefined_table
    case '3F000': // invalid_schema_name
      return `; careslot's tables are missing: ${migrateHint}`;
    case '57014':
      return ' (statement timeout or cancel: nothing of this transaction was committed)';
    default:
      return '';
  }
}

/**
 * Whether a failed transaction may have committed: only when COMMIT was sent and no answer came
 * back (the connection broke, or the server shut down while answering). A COMMIT the server
 * answered with an error rolled back, as did any transaction that failed before its COMMIT.
 */
export function commitOutcome(failure: DatabaseFailure): 'unknown' | 'not_committed' {
  if (failure.statement !== 'COMMIT') return 'not_committed';
  const answered =
    typeof (failure.original as { severity?: unknown } | null)?.severity === 'string' &&
    failure.sqlState !== undefined &&
    !/^(08|57)/.test(failure.sqlState);
  return answered ? 'not_committed' : 'unknown';
}

/**
 * What callers see: BookingErrors and whatever a transaction's own function threw pass through
 * unchanged; database and connection failures become STORE_ERROR (500) with the driver's error
 * as `cause`.
 */
export function toStoreError(
  error: unknown,
  operation: string,
  migrateHint: string,
  options: { transaction?: boolean } = {},
): unknown {
  if (isBookingError(error) || !(error instanceof DatabaseFailure)) return error;
  const state = error.sqlState ? ` [${error.sqlState}]` : '';
  const details: Record<string, unknown> = { sqlState: error.sqlState ?? null };
  if (!options.transaction) {
    return new BookingError(
      'STORE_ERROR',
      `PostgresStore: ${operation} failed${state}: ${error.message}${hint(error, migrateHint)}`,
      { cause: error.original, details },
    );
  }
  // The engine reads what is stored after an 'unknown' one (a confirmation may have committed).
  const outcome = commitOutcome(error);
  details.commitOutcome = outcome;
  const what =
    outcome === 'unknown'
      ? `the commit's outcome is unknown (it may have committed)${state}: ${error.message}`
      : `failed${state}: ${error.message}${hint(error, migrateHint)}`;
  return new BookingError('STORE_ERROR', `PostgresStore: ${operation} ${what}`, { cause: error.original, details });
}
