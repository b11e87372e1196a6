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
 * What callers see: BookingErrors and whatever a transaction's own function threw pass through
 * unchanged; database and connection failures become STORE_ERROR (500) with the driver's error
 * as `cause`.
 */
export function toStoreError(error: unknown, operation: string, migrateHint: string): unknown {
  if (isBookingError(error) || !(error instanceof DatabaseFailure)) return error;
  const state = error.sqlState ? ` [${error.sqlState}]` : '';
  return new BookingError(
    'STORE_ERROR',
    `PostgresStore: ${operation} failed${state}: ${error.message}${hint(error, migrateHint)}`,
    { cause: error.original, details: { sqlState: error.sqlState ?? null } },
  );
}
