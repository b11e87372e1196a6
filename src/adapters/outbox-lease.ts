// A new outbox record's lease (`leaseOwner`, `leaseUntil`): both or neither, checked the same way in every store.
import { BookingError } from '../domain/errors.js';

/**
 * The record's lease fields as given (null when absent). Throws `INVALID_INPUT` naming
 * `<field>.leaseOwner` when only one of the two is given; each store then checks their types.
 */
export function newOutboxLease(
  record: { leaseOwner?: unknown; leaseUntil?: unknown },
  field: string,
): { owner: unknown; until: unknown } {
  const owner = record.leaseOwner ?? null;
  const until = record.leaseUntil ?? null;
  if ((owner === null) !== (until === null)) {
    throw new BookingError('INVALID_INPUT', `${field}.leaseOwner must be given with ${field}.leaseUntil, or neither`, {
      details: { field: `${field}.leaseOwner` },
    });
  }
  return { owner, until };
}
