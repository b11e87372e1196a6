// The outbox records of the store port: one delivery of one committed event to one consumer, with its lease and retries.

/** `pending` until a consumer delivered it (`delivered`) or gave up after its last attempt (`dead`). */
export type OutboxStatus = 'pending' | 'delivered' | 'dead';

/**
 * One delivery: event `eventId` for consumer `consumer`. The engine appends one per consumer in
 * the same transaction as the change the event describes, so a change that did not commit has
 * no deliveries and one that did has all of them.
 */
export interface OutboxRecord {
  /** Unique per delivery (`<eventId>/<consumer>`); the store refuses a second record with the same key. */
  key: string;
  /** The event's stable id: the same for every consumer, and what a consumer dedupes on. */
  eventId: string;
  consumer: string;
  /** The domain event, e.g. `booking.confirmed`. */
  type: string;
  bookingId: string | null;
  scheduleId: string | null;
  /**
   * JSON-safe: Dates are ISO strings. Read-only: a store may hand out a frozen object (MemoryStore
   * does), may keep a payload it was given frozen all the way down as it is (MemoryStore does; the
   * engine appends them so), and may drop a delivered record's payload (MemoryStore reads it as
   * `{}`; nothing reads it after delivery).
   */
  payload: Record<string, unknown>;
  /** The payload's schema version. */
  version: number;
  createdAt: Date;
  status: OutboxStatus;
  /** Failed attempts so far. */
  attempts: number;
  /** Not claimed before this time (backoff after a failure). */
  nextAttemptAt: Date;
  /** Who holds the lease, until when: nobody else claims the record before `leaseUntil`. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  lastError: string | null;
  deliveredAt: Date | null;
}

export type NewOutboxRecord = Pick<
  OutboxRecord,
  'key' | 'eventId' | 'consumer' | 'type' | 'bookingId' | 'scheduleId' | 'payload' | 'version' | 'createdAt'
> & {
  /**
   * Appended already leased, to the process whose fast path delivers it right after the commit:
   * no claimer takes it before `leaseUntil` (then any may, as after a crash). Give both or
   * neither. @defaultValue null (not leased)
   */
  leaseOwner?: string | null;
  leaseUntil?: Date | null;
};

/** A position in the outbox's (createdAt, key) order: the list resumes strictly after it. */
export interface OutboxCursor {
  createdAt: Date;
  key: string;
}

export interface OutboxQuery {
  consumer?: string;
  status?: OutboxStatus;
  bookingId?: string;
  eventId?: string;
  /** createdAt < createdBefore, or equal with key < `createdBefore.key`: the records before a position. */
  before?: OutboxCursor;
  /** Records strictly after this position. */
  after?: OutboxCursor;
  /** Sorted by (createdAt, key) ascending. */
  limit?: number;
}

export interface OutboxClaim {
  consumer: string;
  /** The dispatcher claiming; only it may complete or fail what it claimed. */
  owner: string;
  /** Claims pending records with `nextAttemptAt <= now` and no lease, or a lease that ended at or before now. */
  now: Date;
  leaseUntil: Date;
  limit: number;
  /** Only these keys (the fast path right after a commit). */
  keys?: readonly string[];
}
