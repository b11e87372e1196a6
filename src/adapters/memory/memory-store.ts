// The embedded default store: serializable (or, for tests, snapshot-isolated) transactions over in-process maps.
import type {
  AvailabilityRecord,
  Booking,
  BookingPolicy,
  LedgerEntry,
  PaymentCustomer,
  PaymentTransaction,
  RefundRecord,
  Schedule,
  TimeOff,
} from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
import { isActiveBookingStatus } from '../../domain/status.js';
import type {
  AvailabilityQuery,
  BookingChanges,
  BookingQuery,
  BookingStore,
  BookingUpdate,
  LedgerQuery,
  NewAvailabilityRecord,
  NewBooking,
  NewLedgerEntry,
  NewPaymentTransaction,
  NewSchedule,
  NewTimeOff,
  PaymentQuery,
  ScheduleQuery,
  ScheduleUpdate,
  StoreOperations,
  TimeOffQuery,
} from '../../ports/booking-store.js';
import type { Clock } from '../../ports/clock.js';
import type { NewOutboxRecord, OutboxClaim, OutboxQuery, OutboxRecord } from '../../ports/outbox.js';
import { newOutboxLease } from '../outbox-lease.js';
import { resolveStoreClock } from '../store-clock.js';
import { AsyncMutex } from './async-mutex.js';
import { type IndexedRows, MemoryIndexes } from './memory-indexes.js';
import { newObjectId } from './object-id.js';
import {
  type BookingRow,
  type BookingRowChanges,
  bookingRow,
  changedBookingRow,
  changedScheduleRow,
  copyAvailability,
  customerOf,
  frozenJson,
  historyCells,
  Interner,
  type LedgerRow,
  ledgerRow,
  type OutboxRow,
  outboxRow,
  type PaymentRow,
  paymentRow,
  refundRow,
  type ScheduleRow,
  scheduleRow,
  type TimeOffRow,
  toBooking,
  toLedger,
  toOutbox,
  toPayment,
  toSchedule,
  toTimeOff,
  withHistoryLine,
} from './rows.js';
import { isSnapshotConflict, SnapshotCoordinator, type Table } from './snapshot-tables.js';
import { type Entry, mergeSorted, type PartitionedIndex, type SortedIds } from './sorted-index.js';

interface TableMaps {
  schedules: Map<string, ScheduleRow>;
  bookings: Map<string, BookingRow>;
  payments: Map<string, PaymentRow>;
  /** Ledger lines by id; `ledgerKeys` makes each key unique. */
  ledger: Map<string, LedgerRow>;
  ledgerKeys: Map<string, string>;
  /** The running wallet total per `doctorId \0 currency`, changed with each ledger line. */
  balances: Map<string, number>;
  /** Processed payment event ids. Only whether an id was seen is ever read, so nothing else is kept. */
  events: Map<string, true>;
  /** Each patient's customer id per provider, by `patientId \0 provider`. */
  customers: Map<string, string>;
  outbox: Map<string, OutboxRow>;
  availability: Map<string, AvailabilityRecord>;
  timeOff: Map<string, TimeOffRow>;
  // Secondary indexes: the memory equivalent of MongoDB's unique indexes.
  activeBySchedule: Map<string, string>;
  bookingByIdempotencyKey: Map<string, string>;
  /** Provider payment id → payment id, for the first provider to use that id. */
  paymentByProviderId: Map<string, string>;
  /** (provider, provider payment id) → payment id, for an id another provider's payment already holds. */
  paymentByProviderPair: Map<string, string>;
  // Lookup Sets, merged at commit in snapshot mode. The first four serve only snapshot
  // transactions' own reads (everything else reads the sorted indexes, MemoryIndexes).
  bookingsByPatient: Map<string, Set<string>>;
  schedulesByDoctor: Map<string, Set<string>>;
  /** Keys of each consumer's pending outbox records. */
  outboxPending: Map<string, Set<string>>;
  /** Keys of each booking's outbox records. */
  outboxByBooking: Map<string, Set<string>>;
  availabilityByDoctor: Map<string, Set<string>>;
  timeOffByDoctor: Map<string, Set<string>>;
  /** The currencies each doctor has a balance in. */
  balanceCurrencies: Map<string, Set<string>>;
  // Lock rows (snapshot mode): a write per patient or doctor, so transactions taking one conflict.
  locks: Map<string, number>;
}

/** What the operations read and write: the committed maps, or a transaction's snapshot views of them. */
type Tables = { [N in keyof TableMaps]: TableMaps[N] extends Map<infer K, infer V> ? Table<K, V> : never };
type Name = keyof TableMaps;

/** Lookup indexes whose values are Sets of ids: merged at commit, never a conflict. */
const SET_INDEXES: ReadonlySet<Name> = new Set([
  'bookingsByPatient',
  'schedulesByDoctor',
  'outboxPending',
  'outboxByBooking',
  'availabilityByDoctor',
  'timeOffByDoctor',
  'balanceCurrencies',
]);

/** The tables MemoryIndexes follows. */
const INDEXED: ReadonlySet<Name> = new Set(['schedules', 'bookings', 'payments', 'ledger', 'outbox']);

/** How often a snapshot transaction is run again after losing a write conflict before giving up. */
const MAX_SNAPSHOT_ATTEMPTS = 500;

type Undo = () => void;

/**
 * `a \0 b`, as one flat string: `join` writes it out whole, where `+` would keep two join nodes
 * over the parts (16 bytes more per stored key).
 */
const pairKey = (a: string, b: string): string => [a, b].join('\u0000');

function oneOf<T>(expected: T | readonly T[], actual: T): boolean {
  return Array.isArray(expected) ? (expected as readonly T[]).includes(actual) : expected === actual;
}

const statuses = <T>(s: T | readonly T[]): readonly T[] => (Array.isArray(s) ? (s as readonly T[]) : [s as T]);
const ms = (d: Date | undefined): number | undefined => (d === undefined ? undefined : d.getTime());

function matchesSchedule(s: ScheduleRow, q: ScheduleQuery): boolean {
  if (q.doctorId !== undefined && s.doctorId !== q.doctorId) return false;
  if (q.status !== undefined && !oneOf(q.status, s.status)) return false;
  if (q.startFrom !== undefined && s.startTime < q.startFrom.getTime()) return false;
  if (q.startBefore !== undefined && s.startTime >= q.startBefore.getTime()) return false;
  if (q.endBefore !== undefined && s.endTime > q.endBefore.getTime()) return false;
  if (q.endAfter !== undefined && s.endTime <= q.endAfter.getTime()) return false;
  if (q.after !== undefined && compareAt(s.startTime, s.id, q.after.startTime.getTime(), q.after.id) <= 0) {
    return false;
  }
  return true;
}

function matchesBooking(b: BookingRow, q: BookingQuery): boolean {
  if (q.patientId !== undefined && b.patientId !== q.patientId) return false;
  if (q.doctorId !== undefined && b.doctorId !== q.doctorId) return false;
  if (q.scheduleId !== undefined && b.scheduleId !== q.scheduleId) return false;
  if (q.checkoutSessionId !== undefined && b.checkoutSessionId !== q.checkoutSessionId) return false;
  if (q.status !== undefined && !oneOf(q.status, b.status)) return false;
  if (q.paymentStatus !== undefined && !oneOf(q.paymentStatus, b.paymentStatus)) return false;
  if (q.mode !== undefined && b.mode !== q.mode) return false;
  if (q.holdExpiresBefore !== undefined) {
    if (b.holdExpiresAt === null || b.holdExpiresAt > q.holdExpiresBefore.getTime()) return false;
  }
  if (q.createdBefore !== undefined && b.createdAt > q.createdBefore.getTime()) return false;
  if (q.slotStartFrom !== undefined && b.slotStart < q.slotStartFrom.getTime()) return false;
  if (q.slotStartBefore !== undefined && b.slotStart >= q.slotStartBefore.getTime()) return false;
  if (q.after !== undefined && compareAt(b.createdAt, b.id, q.after.createdAt.getTime(), q.after.id) <= 0) {
    return false;
  }
  return true;
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const compareAt = (t1: number, id1: string, t2: number, id2: string): number => t1 - t2 || compareIds(id1, id2);

const byStart = (a: ScheduleRow, b: ScheduleRow): number => compareAt(a.startTime, a.id, b.startTime, b.id);
const byCreated = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }): number =>
  compareAt(a.createdAt, a.id, b.createdAt, b.id);
const byOutboxOrder = (a: OutboxRow, b: OutboxRow): number => compareAt(a.createdAt, a.key, b.createdAt, b.key);

/** The first `limit` (or all) of `rows` that match, in the order `rows` come. */
function take<T>(rows: Iterable<T>, match: (row: T) => boolean, limit: number | undefined): T[] {
  const found: T[] = [];
  if (limit !== undefined && limit <= 0) return found;
  for (const row of rows) {
    if (!match(row)) continue;
    found.push(row);
    if (found.length === limit) break;
  }
  return found;
}

/** The rows of `ids` (an index walk), skipping any the table no longer has. */
function* rowsOf<V>(table: Table<string, V>, ids: Iterable<string> | undefined): Generator<V> {
  if (ids === undefined) return;
  for (const id of ids) {
    const row = table.get(id);
    if (row !== undefined) yield row;
  }
}

/**
 * A keyset walk of one sorted index: from `(after)` or `from`, whichever is later, while the
 * key stays below `before`.
 */
function walk<E extends Entry>(
  index: SortedIds<E> | undefined,
  bounds: { from?: number | undefined; before?: number | undefined; after?: { at: number; id: string } | undefined },
): Iterable<E> | undefined {
  if (index === undefined) return undefined;
  const { from = Number.NEGATIVE_INFINITY, before = Number.POSITIVE_INFINITY, after } = bounds;
  if (after !== undefined && after.at >= from) return index.range(after.at, before, after.id);
  return index.range(from, before);
}

/** The rows of `table` in the named partitions of `index`, each walked within `bounds`, merged in `order`. */
function merged<V>(
  table: Table<string, V>,
  index: PartitionedIndex,
  partitions: Iterable<string>,
  bounds: Parameters<typeof walk>[1],
  order: (a: V, b: V) => number,
): Iterable<V> {
  const streams: Iterable<V>[] = [];
  for (const partition of partitions) streams.push(rowsOf(table, walk(index.get(partition), bounds)));
  return mergeSorted(streams, order);
}

/** `merged` for an index that holds its rows (see Entry): no table lookups. */
function mergedRows<V extends { readonly id: string }>(
  index: PartitionedIndex<V>,
  partitions: Iterable<string>,
  bounds: Parameters<typeof walk>[1],
  order: (a: V, b: V) => number,
): Iterable<V> {
  const streams: Iterable<V>[] = [];
  for (const partition of partitions) streams.push(walk(index.get(partition), bounds) ?? []);
  return mergeSorted(streams, order);
}

const minOf = (...values: (number | undefined)[]): number | undefined => {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length === 0 ? undefined : Math.min(...defined);
};

function matchesOutbox(r: OutboxRow, q: OutboxQuery): boolean {
  if (q.consumer !== undefined && r.consumer !== q.consumer) return false;
  if (q.status !== undefined && r.status !== q.status) return false;
  if (q.bookingId !== undefined && r.bookingId !== q.bookingId) return false;
  if (q.eventId !== undefined && r.eventId !== q.eventId) return false;
  if (q.before !== undefined && compareAt(r.createdAt, r.key, q.before.createdAt.getTime(), q.before.key) >= 0) {
    return false;
  }
  if (q.after !== undefined && compareAt(r.createdAt, r.key, q.after.createdAt.getTime(), q.after.key) <= 0) {
    return false;
  }
  return true;
}

/** A version that ended where it began never applied to any instant. */
const inForce = (r: AvailabilityRecord): boolean => r.effectiveUntil === null || r.effectiveUntil > r.effectiveFrom;

/** A port update's changes in row form: times as epoch ms, the policy interned. */
function bookingChanges(set: BookingChanges, interner: Interner): BookingRowChanges {
  const c: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(set)) {
    if (value === undefined) continue;
    if (field === 'slotStart' || field === 'slotEnd') c[field] = (value as Date).getTime();
    else if (field === 'holdExpiresAt') c[field] = value === null ? null : (value as Date).getTime();
    else if (field === 'policy') c[field] = interner.policy(value as BookingPolicy | null);
    else c[field] = value;
  }
  return c as BookingRowChanges;
}

/**
 * The operations over the tables. `journal`, when present, collects undo steps so a failed
 * serializable transaction can be rolled back. `indexes` are the sorted indexes over the
 * committed rows: a serializable transaction (which changes the committed maps) keeps them in
 * step and reads through them, as does the store's own reader; a snapshot transaction (whose
 * tables are views of its snapshot) gets null and scans its view instead. In snapshot mode index
 * Sets are copied before they change (the committed ones are shared), and locks write a row.
 */
class MemoryOperations implements StoreOperations {
  private lockWrites = 0;

  constructor(
    private readonly t: Tables,
    private readonly journal: Undo[] | null,
    private readonly now: () => Date,
    private readonly indexes: MemoryIndexes | null,
    private readonly interner: Interner,
    private readonly snapshot = false,
    private readonly keepDelivered = false,
  ) {}

  private put<N extends Name>(name: N, key: string, value: unknown): void {
    const table = this.t[name] as Table<string, unknown>;
    const before = table.get(key);
    const indexes = INDEXED.has(name) ? this.indexes : null;
    if (this.journal) {
      this.journal.push(() => {
        if (before === undefined) table.delete(key);
        else table.set(key, before);
        indexes?.changed(name as keyof IndexedRows, key, value, before);
      });
    }
    table.set(key, value);
    indexes?.changed(name as keyof IndexedRows, key, before, value);
  }

  private remove(name: Name, key: string): void {
    const table = this.t[name] as Table<string, unknown>;
    const before = table.get(key);
    if (before === undefined) return;
    const indexes = INDEXED.has(name) ? this.indexes : null;
    if (this.journal) {
      this.journal.push(() => {
        table.set(key, before);
        indexes?.changed(name as keyof IndexedRows, key, undefined, before);
      });
    }
    table.delete(key);
    indexes?.changed(name as keyof IndexedRows, key, before, undefined);
  }

  private addToIndex(name: Name, key: string, id: string): void {
    const index = this.t[name] as Table<string, Set<string>>;
    if (this.snapshot) {
      const ids = index.get(key);
      if (!ids?.has(id)) this.put(name, key, new Set(ids).add(id));
      return;
    }
    let ids = index.get(key);
    if (!ids) {
      ids = new Set();
      index.set(key, ids);
    }
    if (ids.has(id)) return;
    ids.add(id);
    if (this.journal) this.journal.push(() => index.get(key)?.delete(id));
  }

  private removeFromIndex(name: Name, key: string, id: string): void {
    const index = this.t[name] as Table<string, Set<string>>;
    if (this.snapshot) {
      const ids = new Set(index.get(key));
      if (ids.delete(id)) this.put(name, key, ids);
      return;
    }
    const ids = index.get(key);
    if (!ids?.delete(id)) return;
    if (ids.size === 0) index.delete(key);
    if (this.journal) {
      this.journal.push(() => {
        let again = index.get(key);
        if (!again) {
          again = new Set();
          index.set(key, again);
        }
        again.add(id);
      });
    }
  }

  /** A snapshot transaction's candidates: through a lookup Set when the query names its key. */
  private scan<T>(rows: Table<string, T>, index: Name, key: string | undefined): T[] {
    if (key === undefined) return [...rows.values()];
    return [...rowsOf(rows, (this.t[index] as Table<string, Set<string>>).get(key))];
  }

  // ---- slots ----

  async insertSchedule(schedule: NewSchedule): Promise<Schedule> {
    const at = this.now().getTime();
    const row = scheduleRow(schedule, newObjectId(), at, at, this.interner);
    this.put('schedules', row.id, row);
    if (this.snapshot) this.addToIndex('schedulesByDoctor', row.doctorId, row.id);
    return toSchedule(row);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const row = this.t.schedules.get(id);
    return row ? toSchedule(row) : null;
  }

  async findSchedules(query: ScheduleQuery): Promise<Schedule[]> {
    const rows = this.indexes ? this.indexedSchedules(query) : this.scannedSchedules(query);
    return take(rows, (s) => matchesSchedule(s, query), query.limit).map(toSchedule);
  }

  /** In (startTime, id) order, bounded by the query's range: a slot ends after it starts. */
  private indexedSchedules(q: ScheduleQuery): Iterable<ScheduleRow> {
    const indexes = this.indexes as MemoryIndexes;
    const bounds = {
      from: ms(q.startFrom),
      before: minOf(ms(q.startBefore), ms(q.endBefore)),
      after: q.after === undefined ? undefined : { at: q.after.startTime.getTime(), id: q.after.id },
    };
    const table = this.t.schedules;
    if (q.doctorId !== undefined) return rowsOf(table, walk(indexes.schedulesByDoctor.get(q.doctorId), bounds));
    // By status, or (naming neither) every status's partition, merged.
    const byStatus = indexes.schedulesByStatus;
    return merged(
      table,
      byStatus,
      q.status === undefined ? byStatus.partitions() : statuses(q.status),
      bounds,
      byStart,
    );
  }

  private scannedSchedules(q: ScheduleQuery): ScheduleRow[] {
    return this.scan(this.t.schedules, 'schedulesByDoctor', q.doctorId)
      .filter((s) => matchesSchedule(s, q))
      .sort(byStart);
  }

  async updateScheduleIf(update: ScheduleUpdate): Promise<Schedule | null> {
    const row = this.t.schedules.get(update.id);
    if (!row || !oneOf(update.expectedStatus, row.status)) return null;
    const next = changedScheduleRow(row, update.set, this.now().getTime());
    this.put('schedules', row.id, next);
    return toSchedule(next);
  }

  async deleteSchedulesIf(args: { ids: readonly string[]; expectedStatus: Schedule['status'] }): Promise<number> {
    let deleted = 0;
    for (const id of args.ids) {
      const row = this.t.schedules.get(id);
      if (row && row.status === args.expectedStatus) {
        this.remove('schedules', id);
        if (this.snapshot) this.removeFromIndex('schedulesByDoctor', row.doctorId, id);
        deleted++;
      }
    }
    return deleted;
  }

  // ---- bookings ----

  async insertBooking(booking: NewBooking): Promise<Booking | null> {
    if (isActiveBookingStatus(booking.status) && this.t.activeBySchedule.has(booking.scheduleId)) return null;
    const idemKey = booking.idempotencyKey === null ? null : pairKey(booking.patientId, booking.idempotencyKey);
    if (idemKey !== null && this.t.bookingByIdempotencyKey.has(idemKey)) return null;
    const at = this.now().getTime();
    const row = bookingRow(booking, newObjectId(), {
      policy: this.interner.policy(booking.policy),
      history: historyCells(booking.history),
      createdAt: at,
      updatedAt: at,
    });
    this.put('bookings', row.id, row);
    if (this.snapshot) this.addToIndex('bookingsByPatient', row.patientId, row.id);
    if (isActiveBookingStatus(row.status)) this.put('activeBySchedule', row.scheduleId, row.id);
    if (idemKey !== null) this.put('bookingByIdempotencyKey', idemKey, row.id);
    return toBooking(row);
  }

  async getBooking(id: string): Promise<Booking | null> {
    const row = this.t.bookings.get(id);
    return row ? toBooking(row) : null;
  }

  async findBookings(query: BookingQuery): Promise<Booking[]> {
    const rows = this.indexes ? this.indexedBookings(query) : this.scannedBookings(query);
    return take(rows, (b) => matchesBooking(b, query), query.limit).map(toBooking);
  }

  async countBookings(query: BookingQuery): Promise<number> {
    const rows = this.indexes ? this.indexedBookings(query) : this.scannedBookings(query);
    let count = 0;
    for (const row of rows) if (matchesBooking(row, query)) count++;
    return count;
  }

  /**
   * In (createdAt, id) order, through the most selective index the query names: its checkout
   * session, slot, patient, then (with a slot-start window and a status) the window, the doctor,
   * the status, else every status's partition merged.
   */
  private indexedBookings(q: BookingQuery): Iterable<BookingRow> {
    const indexes = this.indexes as MemoryIndexes;
    const table = this.t.bookings;
    const bounds = {
      // createdAt <= createdBefore
      before: q.createdBefore === undefined ? undefined : q.createdBefore.getTime() + 1,
      after: q.after === undefined ? undefined : { at: q.after.createdAt.getTime(), id: q.after.id },
    };
    const through = (index: SortedIds | undefined) => rowsOf(table, walk(index, bounds));
    if (q.checkoutSessionId !== undefined) return through(indexes.bookingsBySession.get(q.checkoutSessionId));
    if (q.scheduleId !== undefined) return through(indexes.bookingsBySchedule.get(q.scheduleId));
    if (q.patientId !== undefined) return through(indexes.bookingsByPatient.get(q.patientId));
    if (q.status !== undefined && (q.slotStartFrom !== undefined || q.slotStartBefore !== undefined)) {
      // The bookings of a slot-start window (the reminder sweep's): few, however long the history.
      const window = { from: ms(q.slotStartFrom), before: ms(q.slotStartBefore) };
      const found: BookingRow[] = [];
      for (const s of statuses(q.status)) {
        for (const row of rowsOf(table, walk(indexes.bookingsBySlotStart.get(s), window))) found.push(row);
      }
      return found.sort(byCreated);
    }
    if (q.doctorId !== undefined) return walk(indexes.bookingsByDoctor.get(q.doctorId), bounds) ?? [];
    // By status, or (naming none of the above) every status's partition, merged.
    const byStatus = indexes.bookingsByStatus;
    return merged(
      table,
      byStatus,
      q.status === undefined ? byStatus.partitions() : statuses(q.status),
      bounds,
      byCreated,
    );
  }

  private scannedBookings(q: BookingQuery): BookingRow[] {
    return this.scan(this.t.bookings, 'bookingsByPatient', q.patientId)
      .filter((b) => matchesBooking(b, q))
      .sort(byCreated);
  }

  async findBookingByIdempotencyKey(args: { patientId: string; idempotencyKey: string }): Promise<Booking | null> {
    const id = this.t.bookingByIdempotencyKey.get(pairKey(args.patientId, args.idempotencyKey));
    return id === undefined ? null : this.getBooking(id);
  }

  async findActiveBooking(scheduleId: string): Promise<Booking | null> {
    const id = this.t.activeBySchedule.get(scheduleId);
    return id === undefined ? null : this.getBooking(id);
  }

  async updateBookingIf(update: BookingUpdate): Promise<Booking | null> {
    const row = this.t.bookings.get(update.id);
    if (!row || !oneOf(update.expectedStatus, row.status)) return null;
    if (update.expectedPaymentStatus !== undefined && !oneOf(update.expectedPaymentStatus, row.paymentStatus)) {
      return null;
    }
    if (update.expectedScheduleId !== undefined && row.scheduleId !== update.expectedScheduleId) return null;
    const changes = bookingChanges(update.set, this.interner);
    changes.updatedAt = this.now().getTime();
    if (update.history) changes.history = withHistoryLine(row.history, update.history);
    const next = changedBookingRow(row, changes);
    const wasActive = isActiveBookingStatus(row.status);
    const isActive = isActiveBookingStatus(next.status);
    if (isActive) {
      const holder = this.t.activeBySchedule.get(next.scheduleId);
      if (holder !== undefined && holder !== row.id) return null;
    }
    this.put('bookings', row.id, next);
    if (wasActive && (!isActive || next.scheduleId !== row.scheduleId)) this.remove('activeBySchedule', row.scheduleId);
    if (isActive) this.put('activeBySchedule', next.scheduleId, row.id);
    return toBooking(next);
  }

  async markReminderSent(args: { bookingId: string; key: string; slotStart: Date }): Promise<Booking | null> {
    const row = this.t.bookings.get(args.bookingId);
    if (row?.status !== 'scheduled' || row.slotStart !== args.slotStart.getTime()) return null;
    const sent = row.remindersSent ?? [];
    if (sent.includes(args.key)) return null;
    const next = changedBookingRow(row, { remindersSent: sent.concat(args.key), updatedAt: this.now().getTime() });
    this.put('bookings', row.id, next);
    return toBooking(next);
  }

  // ---- payments ----

  async insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null> {
    const { provider, providerPaymentId } = transaction;
    if (this.paymentIdOf(provider, providerPaymentId) !== undefined) return null;
    const at = this.now().getTime();
    const row = paymentRow(transaction, newObjectId(), transaction.refunds.map(refundRow), at, at);
    this.put('payments', row.id, row);
    // The id alone when no other provider holds it (the common case); the pair otherwise.
    if (this.t.paymentByProviderId.has(providerPaymentId)) {
      this.put('paymentByProviderPair', pairKey(provider, providerPaymentId), row.id);
    } else {
      this.put('paymentByProviderId', row.providerPaymentId, row.id);
    }
    return toPayment(row);
  }

  /**
   * The payment `provider` knows as `providerPaymentId`. The unique index is keyed by that id
   * alone, the string the row already holds (a key of its own would cost about 40 bytes per
   * payment); a second provider that uses the same id is keyed by the pair in a table of its own.
   */
  private paymentIdOf(provider: string, providerPaymentId: string): string | undefined {
    const id = this.t.paymentByProviderId.get(providerPaymentId);
    if (id === undefined) return undefined;
    if (this.t.payments.get(id)?.provider === provider) return id;
    return this.t.paymentByProviderPair.get(pairKey(provider, providerPaymentId));
  }

  async getPaymentTransaction(id: string): Promise<PaymentTransaction | null> {
    const row = this.t.payments.get(id);
    return row ? toPayment(row) : null;
  }

  async findPaymentTransaction(args: {
    provider: string;
    providerPaymentId: string;
  }): Promise<PaymentTransaction | null> {
    const id = this.paymentIdOf(args.provider, args.providerPaymentId);
    return id === undefined ? null : this.getPaymentTransaction(id);
  }

  async findPaymentTransactions(query: PaymentQuery): Promise<PaymentTransaction[]> {
    const match = (p: PaymentRow) =>
      (query.bookingId === undefined || p.bookingId === query.bookingId) &&
      (query.refundStatus === undefined || p.refunds.some((r) => r.status === query.refundStatus)) &&
      (query.after === undefined || compareAt(p.createdAt, p.id, query.after.createdAt.getTime(), query.after.id) > 0);
    let rows: Iterable<PaymentRow>;
    if (this.indexes) {
      const bounds = {
        after: query.after === undefined ? undefined : { at: query.after.createdAt.getTime(), id: query.after.id },
      };
      const index =
        query.bookingId !== undefined
          ? this.indexes.paymentsByBooking.get(query.bookingId)
          : query.refundStatus !== undefined
            ? this.indexes.paymentsByRefundStatus.get(query.refundStatus)
            : this.indexes.payments;
      rows = rowsOf(this.t.payments, walk(index, bounds));
    } else {
      rows = [...this.t.payments.values()].filter(match).sort(byCreated);
    }
    return take(rows, match, query.limit).map(toPayment);
  }

  async upsertRefund(args: { paymentTransactionId: string; refund: RefundRecord }): Promise<PaymentTransaction | null> {
    const row = this.t.payments.get(args.paymentTransactionId);
    if (!row) return null;
    const refund = refundRow(args.refund);
    const index = row.refunds.findIndex((r) => r.id === refund.id);
    const refunds = index === -1 ? row.refunds.concat(refund) : row.refunds.map((r, i) => (i === index ? refund : r));
    const next = paymentRow(row, row.id, refunds, row.createdAt, this.now().getTime());
    this.put('payments', row.id, next);
    return toPayment(next);
  }

  // ---- the ledger ----

  async appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean> {
    if (this.t.ledgerKeys.has(entry.key)) return false;
    const row = ledgerRow(entry, newObjectId());
    this.put('ledger', row.id, row);
    this.put('ledgerKeys', row.key, row.id);
    // The running total changes in the same transaction: a snapshot writer conflicts on it.
    const total = pairKey(row.doctorId, row.currency);
    this.put('balances', total, (this.t.balances.get(total) ?? 0) + (row.kind === 'credit' ? row.amount : -row.amount));
    this.addToIndex('balanceCurrencies', row.doctorId, row.currency);
    return true;
  }

  async findLedgerEntries(query: LedgerQuery): Promise<LedgerEntry[]> {
    const match = (e: LedgerRow) =>
      (query.doctorId === undefined || e.doctorId === query.doctorId) &&
      (query.bookingId === undefined || e.bookingId === query.bookingId) &&
      (query.after === undefined || compareAt(e.createdAt, e.id, query.after.createdAt.getTime(), query.after.id) > 0);
    let rows: Iterable<LedgerRow>;
    if (this.indexes) {
      const bounds = {
        after: query.after === undefined ? undefined : { at: query.after.createdAt.getTime(), id: query.after.id },
      };
      const byDoctor = this.indexes.ledgerByDoctor;
      if (query.doctorId !== undefined) rows = walk(byDoctor.get(query.doctorId), bounds) ?? [];
      else if (query.bookingId !== undefined) {
        rows = walk(this.indexes.ledgerByBooking.get(query.bookingId), bounds) ?? [];
      } else {
        // The whole ledger (the engine never reads it so): every doctor's lines, merged.
        rows = mergedRows(byDoctor, byDoctor.partitions(), bounds, byCreated);
      }
    } else {
      rows = [...this.t.ledger.values()].filter(match).sort(byCreated);
    }
    return take(rows, match, query.limit).map(toLedger);
  }

  async ledgerBalances(args: { doctorId: string }): Promise<Record<string, number>> {
    const balances: Record<string, number> = {};
    for (const currency of this.t.balanceCurrencies.get(args.doctorId) ?? []) {
      balances[currency] = this.t.balances.get(pairKey(args.doctorId, currency)) ?? 0;
    }
    return balances;
  }

  // ---- payment events, locks, customers ----

  async recordProcessedEvent(event: { id: string; type: string; at: Date }): Promise<boolean> {
    if (this.t.events.has(event.id)) return false;
    this.put('events', event.id, true);
    return true;
  }

  async hasProcessedEvent(id: string): Promise<boolean> {
    return this.t.events.has(id);
  }

  // Serializable transactions already run one at a time; snapshot ones conflict on the lock row.
  async lockPatient(patientId: string): Promise<void> {
    if (this.snapshot) this.put('locks', `patient:${patientId}`, ++this.lockWrites);
  }

  async lockDoctor(doctorId: string): Promise<void> {
    if (this.snapshot) this.put('locks', `doctor:${doctorId}`, ++this.lockWrites);
  }

  async getPaymentCustomer(args: { patientId: string; provider: string }): Promise<PaymentCustomer | null> {
    const customerId = this.t.customers.get(pairKey(args.patientId, args.provider));
    return customerId === undefined ? null : customerOf(args, customerId);
  }

  async savePaymentCustomer(customer: PaymentCustomer): Promise<PaymentCustomer> {
    const key = pairKey(customer.patientId, customer.provider);
    const existing = this.t.customers.get(key);
    if (existing !== undefined) return customerOf(customer, existing);
    this.put('customers', key, customer.customerId);
    return customerOf(customer, customer.customerId);
  }

  // ---- the outbox ----

  async findOutbox(query: OutboxQuery): Promise<OutboxRecord[]> {
    let rows: Iterable<OutboxRow>;
    if (this.indexes) {
      const bounds = {
        // The records before a position: createdAt up to the position's (the filter settles ties).
        before: query.before === undefined ? undefined : query.before.createdAt.getTime() + 1,
        after: query.after === undefined ? undefined : { at: query.after.createdAt.getTime(), id: query.after.key },
      };
      const byPair = this.indexes.outboxByConsumerStatus;
      if (query.bookingId !== undefined) {
        rows = rowsOf(this.t.outbox, walk(this.indexes.outboxByBooking.get(query.bookingId), bounds));
      } else if (query.status !== undefined && query.consumer !== undefined) {
        rows = rowsOf(this.t.outbox, walk(byPair.get(pairKey(query.consumer, query.status)), bounds));
      } else {
        // By status alone, by consumer alone, or all: the matching (consumer, status) partitions, merged.
        const pairs = [...byPair.partitions()].filter((pair) => {
          // A status holds no NUL; a subscriber's name might.
          const cut = pair.lastIndexOf('\u0000');
          return (
            (query.status === undefined || pair.slice(cut + 1) === query.status) &&
            (query.consumer === undefined || pair.slice(0, cut) === query.consumer)
          );
        });
        rows = merged(this.t.outbox, byPair, pairs, bounds, byOutboxOrder);
      }
    } else {
      const source =
        query.bookingId !== undefined
          ? this.scan(this.t.outbox, 'outboxByBooking', query.bookingId)
          : query.status === 'pending' && query.consumer !== undefined
            ? this.scan(this.t.outbox, 'outboxPending', query.consumer)
            : [...this.t.outbox.values()];
      rows = source.filter((r) => matchesOutbox(r, query)).sort(byOutboxOrder);
    }
    return take(rows, (r) => matchesOutbox(r, query), query.limit).map(toOutbox);
  }

  async appendOutbox(records: readonly NewOutboxRecord[]): Promise<number> {
    let added = 0;
    // What the records share (one event's payload for its consumers, the booking in most of
    // them) is copied and frozen once.
    const shared = new Map<object, unknown>();
    for (const [i, record] of records.entries()) newOutboxLease(record, `records[${i}]`);
    for (const record of records) {
      if (this.t.outbox.has(record.key)) continue;
      const payload = frozenJson(record.payload, shared) as Readonly<Record<string, unknown>>;
      const createdAt = record.createdAt.getTime();
      const row: OutboxRow = {
        key: record.key,
        eventId: record.eventId,
        consumer: record.consumer,
        type: record.type,
        bookingId: record.bookingId,
        scheduleId: record.scheduleId,
        payload,
        version: record.version,
        createdAt,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: createdAt,
        leaseOwner: record.leaseOwner ?? null,
        leaseUntil: record.leaseUntil ? record.leaseUntil.getTime() : null,
        lastError: null,
        deliveredAt: null,
      };
      this.put('outbox', row.key, row);
      if (this.snapshot) {
        this.addToIndex('outboxPending', row.consumer, row.key);
        if (row.bookingId !== null) this.addToIndex('outboxByBooking', row.bookingId, row.key);
      }
      added++;
    }
    return added;
  }

  async claimOutbox(claim: OutboxClaim): Promise<OutboxRecord[]> {
    const now = claim.now.getTime();
    const keys = claim.keys === undefined ? null : new Set(claim.keys);
    const due = (r: OutboxRow) =>
      r.consumer === claim.consumer &&
      r.status === 'pending' &&
      r.nextAttemptAt <= now &&
      (r.leaseUntil === null || r.leaseUntil <= now) &&
      (keys === null || keys.has(r.key));
    let rows: Iterable<OutboxRow>;
    if (keys !== null) {
      // The fast path names its keys: look those up rather than walk every pending record.
      rows = [...rowsOf(this.t.outbox, keys)].sort(byOutboxOrder);
    } else if (this.indexes) {
      rows = rowsOf(
        this.t.outbox,
        walk(this.indexes.outboxByConsumerStatus.get(pairKey(claim.consumer, 'pending')), {}),
      );
    } else {
      rows = this.scan(this.t.outbox, 'outboxPending', claim.consumer).sort(byOutboxOrder);
    }
    const leaseUntil = claim.leaseUntil.getTime();
    return take(rows, due, claim.limit).map((r) => {
      const leased = outboxRow(r, { leaseOwner: claim.owner, leaseUntil });
      this.put('outbox', r.key, leased);
      return toOutbox(leased);
    });
  }

  async completeOutbox(args: { key: string; owner: string; at: Date }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    if (!this.keepDelivered) {
      // Nothing reads a delivered record but the retention clean-up: it goes now.
      this.remove('outbox', args.key);
      if (this.snapshot) {
        this.removeFromIndex('outboxPending', row.consumer, row.key);
        if (row.bookingId !== null) this.removeFromIndex('outboxByBooking', row.bookingId, row.key);
      }
      return true;
    }
    this.put(
      'outbox',
      args.key,
      outboxRow(row, {
        status: 'delivered',
        deliveredAt: args.at.getTime(),
        leaseOwner: null,
        leaseUntil: null,
        payload: null,
      }),
    );
    if (this.snapshot) this.removeFromIndex('outboxPending', row.consumer, row.key);
    return true;
  }

  async failOutbox(args: { key: string; owner: string; error: string; retryAt: Date | null }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    this.put(
      'outbox',
      args.key,
      outboxRow(row, {
        status: args.retryAt === null ? 'dead' : 'pending',
        attempts: row.attempts + 1,
        lastError: args.error,
        nextAttemptAt: args.retryAt === null ? row.nextAttemptAt : args.retryAt.getTime(),
        leaseOwner: null,
        leaseUntil: null,
      }),
    );
    if (args.retryAt === null && this.snapshot) this.removeFromIndex('outboxPending', row.consumer, row.key);
    return true;
  }

  async releaseOutbox(args: { key: string; owner: string }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    this.put('outbox', args.key, outboxRow(row, { leaseOwner: null, leaseUntil: null }));
    return true;
  }

  async redriveOutbox(args: { key: string; at: Date }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'dead') return false;
    this.put('outbox', args.key, outboxRow(row, { status: 'pending', attempts: 0, nextAttemptAt: args.at.getTime() }));
    if (this.snapshot) this.addToIndex('outboxPending', row.consumer, row.key);
    return true;
  }

  async deleteDeliveredOutbox(args: { deliveredBefore: Date; limit: number }): Promise<number> {
    const before = args.deliveredBefore.getTime();
    const old = this.indexes
      ? [
          ...rowsOf(
            this.t.outbox,
            take(this.indexes.outboxDelivered.range(Number.NEGATIVE_INFINITY, before), () => true, args.limit),
          ),
        ]
      : [...this.t.outbox.values()]
          .filter((r) => r.status === 'delivered' && r.deliveredAt !== null && r.deliveredAt < before)
          .sort(byOutboxOrder)
          .slice(0, args.limit);
    for (const r of old) {
      this.remove('outbox', r.key);
      if (r.bookingId !== null && this.snapshot) this.removeFromIndex('outboxByBooking', r.bookingId, r.key);
    }
    return old.length;
  }

  // ---- availability and time off ----

  async insertAvailability(record: NewAvailabilityRecord): Promise<AvailabilityRecord> {
    const row: AvailabilityRecord = {
      ...copyAvailability(record as AvailabilityRecord),
      id: newObjectId(),
      createdAt: this.now(),
    };
    this.put('availability', row.id, row);
    this.addToIndex('availabilityByDoctor', row.doctorId, row.id);
    return copyAvailability(row);
  }

  async endAvailability(args: { doctorId: string; at: Date }): Promise<number> {
    let changed = 0;
    for (const row of this.scan(this.t.availability, 'availabilityByDoctor', args.doctorId)) {
      const until = row.effectiveUntil;
      if (until !== null && (until <= args.at || until <= row.effectiveFrom)) continue;
      const end = Math.max(row.effectiveFrom.getTime(), args.at.getTime());
      this.put('availability', row.id, { ...row, effectiveUntil: new Date(end) });
      changed++;
    }
    return changed;
  }

  async findAvailability(query: AvailabilityQuery): Promise<AvailabilityRecord[]> {
    return this.scan(this.t.availability, 'availabilityByDoctor', query.doctorId)
      .filter(
        (r) => inForce(r) && r.effectiveFrom < query.to && (r.effectiveUntil === null || r.effectiveUntil > query.from),
      )
      .sort((a, b) => compareAt(a.effectiveFrom.getTime(), a.id, b.effectiveFrom.getTime(), b.id))
      .map(copyAvailability);
  }

  async insertTimeOff(timeOff: NewTimeOff): Promise<TimeOff> {
    const row: TimeOffRow = {
      id: newObjectId(),
      doctorId: timeOff.doctorId,
      start: timeOff.start.getTime(),
      end: timeOff.end.getTime(),
      reason: timeOff.reason,
      createdAt: this.now().getTime(),
    };
    this.put('timeOff', row.id, row);
    this.addToIndex('timeOffByDoctor', row.doctorId, row.id);
    return toTimeOff(row);
  }

  async getTimeOff(id: string): Promise<TimeOff | null> {
    const row = this.t.timeOff.get(id);
    return row ? toTimeOff(row) : null;
  }

  async findTimeOff(query: TimeOffQuery): Promise<TimeOff[]> {
    const startBefore = ms(query.startBefore);
    const endAfter = ms(query.endAfter);
    const rows = this.scan(this.t.timeOff, 'timeOffByDoctor', query.doctorId)
      .filter(
        (t) => (startBefore === undefined || t.start < startBefore) && (endAfter === undefined || t.end > endAfter),
      )
      .sort((a, b) => compareAt(a.start, a.id, b.start, b.id));
    return (query.limit === undefined ? rows : rows.slice(0, query.limit)).map(toTimeOff);
  }

  async deleteTimeOff(id: string): Promise<boolean> {
    const row = this.t.timeOff.get(id);
    if (!row) return false;
    this.remove('timeOff', id);
    this.removeFromIndex('timeOffByDoctor', row.doctorId, id);
    return true;
  }
}

export interface MemoryStoreOptions {
  /**
   * Source of `createdAt`/`updatedAt` stamps: pass the engine's clock (the same `clock`
   * option), so records and the engine agree on the time, e.g. a `ManualClock` in tests.
   * @defaultValue the system clock (`new Date()`)
   */
  clock?: Clock;
  /**
   * The stamps' source as a function.
   * @deprecated Use `clock` (`new MemoryStore({ clock })`); `now` will be removed in the next
   * release. Passing both is a TypeError.
   * @defaultValue `() => new Date()`
   */
  now?: () => Date;
  /**
   * A test aid: how transactions are isolated.
   * - `'serializable'`: one at a time, FIFO; a failed one rolls every write back.
   * - `'snapshot'`: concurrently, as MongoDB runs them: each reads the snapshot taken when it
   *   began plus its own writes; at commit, one that wrote a row (or unique-index entry, or
   *   lock) another committed after its snapshot loses and is run again (first committer wins),
   *   up to 500 times. Write skew between disjoint rows commits, as on a real database, so a
   *   test on this store shows whether every decision that reads rows it does not write takes
   *   a lock (`lockPatient`, `lockDoctor`).
   * @defaultValue 'serializable'
   */
  isolation?: 'serializable' | 'snapshot';
  /**
   * Delete each outbox record as soon as it is delivered (`false`, the default): the engine never
   * reads a delivered record, and a process-local store has no audit trail to keep, so a
   * long-running host holds about 4.2 KB less per paid booking (its eight deliveries). Or keep
   * each delivered record (without its payload) until the engine's daily clean-up deletes it
   * after `outboxRetentionDays` (`true`), as the database stores do: for a test or a debugging
   * session that reads `findOutbox({ status: 'delivered' })`. Pending and dead records are kept
   * either way, so retries, ordering, `listDead` and `redrive` are unchanged.
   * @defaultValue false
   */
  keepDeliveredOutbox?: boolean;
}

/**
 * Keeps everything in this process's memory: the embedded default for demos, tests and
 * single-process hosts that can afford to lose data on restart. Transactions are serializable
 * by default (one at a time, FIFO) and roll back every write when their function throws; tests
 * can ask for snapshot isolation (`isolation: 'snapshot'`) to see the engine as a real
 * database runs it. Writes happen only inside `transaction`; reads also run on the store.
 */
export class MemoryStore implements BookingStore {
  private readonly tables: TableMaps = {
    schedules: new Map(),
    bookings: new Map(),
    payments: new Map(),
    ledger: new Map(),
    ledgerKeys: new Map(),
    balances: new Map(),
    events: new Map(),
    customers: new Map(),
    outbox: new Map(),
    availability: new Map(),
    timeOff: new Map(),
    activeBySchedule: new Map(),
    bookingByIdempotencyKey: new Map(),
    paymentByProviderId: new Map(),
    paymentByProviderPair: new Map(),
    bookingsByPatient: new Map(),
    schedulesByDoctor: new Map(),
    outboxPending: new Map(),
    outboxByBooking: new Map(),
    availabilityByDoctor: new Map(),
    timeOffByDoctor: new Map(),
    balanceCurrencies: new Map(),
    locks: new Map(),
  };
  private readonly indexes = new MemoryIndexes(this.tables);
  private readonly interner = new Interner();
  private readonly lock = new AsyncMutex();
  private readonly now: () => Date;
  private readonly reader: MemoryOperations;
  /** Present in snapshot mode. */
  private readonly snapshots: SnapshotCoordinator<TableMaps> | null;
  /** The isolation transactions run under. */
  readonly isolation: 'serializable' | 'snapshot';
  private readonly keepDelivered: boolean;

  constructor(options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(
        'MemoryStore: pass an options object ({ clock?, isolation?, keepDeliveredOutbox? }) or nothing',
      );
    }
    const clock = resolveStoreClock('MemoryStore', options);
    const isolation = options.isolation ?? 'serializable';
    if (isolation !== 'serializable' && isolation !== 'snapshot') {
      throw new TypeError(
        `MemoryStore: isolation must be 'serializable' or 'snapshot' (got ${JSON.stringify(isolation)})`,
      );
    }
    this.isolation = isolation;
    if (options.keepDeliveredOutbox !== undefined && typeof options.keepDeliveredOutbox !== 'boolean') {
      throw new TypeError(
        `MemoryStore: keepDeliveredOutbox must be a boolean (got ${JSON.stringify(options.keepDeliveredOutbox)})`,
      );
    }
    this.keepDelivered = options.keepDeliveredOutbox ?? false;
    this.now = () => clock.now();
    this.reader = new MemoryOperations(
      this.tables,
      null,
      this.now,
      this.indexes,
      this.interner,
      false,
      this.keepDelivered,
    );
    this.snapshots =
      isolation === 'snapshot'
        ? new SnapshotCoordinator(this.tables, SET_INDEXES, (table, key, before, after) => {
            if (INDEXED.has(table)) this.indexes.changed(table as keyof IndexedRows, key as string, before, after);
          })
        : null;
  }

  transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
    if (this.snapshots) return this.snapshotTransaction(this.snapshots, fn);
    return this.lock.run(async () => {
      const journal: Undo[] = [];
      try {
        return await fn(
          new MemoryOperations(this.tables, journal, this.now, this.indexes, this.interner, false, this.keepDelivered),
        );
      } catch (error) {
        for (let i = journal.length - 1; i >= 0; i--) journal[i]?.();
        throw error;
      }
    });
  }

  private async snapshotTransaction<T>(
    snapshots: SnapshotCoordinator<TableMaps>,
    fn: (tx: StoreOperations) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const tx = snapshots.begin();
      try {
        const result = await fn(
          new MemoryOperations(
            tx.views as unknown as Tables,
            null,
            this.now,
            null,
            this.interner,
            true,
            this.keepDelivered,
          ),
        );
        snapshots.commit(tx);
        return result;
      } catch (error) {
        snapshots.abort(tx);
        if (!isSnapshotConflict(error)) throw error;
        if (attempt >= MAX_SNAPSHOT_ATTEMPTS) {
          throw new BookingError('STORE_ERROR', `A transaction lost ${attempt} write conflicts in a row`, {
            cause: error,
          });
        }
        // Let the winner's caller run before trying again on the new snapshot.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  // Serializable reads take the lock, so no caller sees a transaction's uncommitted writes;
  // snapshot reads see the committed maps, which only a commit (all at once) changes.
  private read<A extends unknown[], R>(fn: (ops: MemoryOperations, ...args: A) => Promise<R>) {
    return (...args: A): Promise<R> =>
      this.snapshots ? fn(this.reader, ...args) : this.lock.run(() => fn(this.reader, ...args));
  }

  getSchedule = this.read((o, id: string) => o.getSchedule(id));
  findSchedules = this.read((o, q: ScheduleQuery) => o.findSchedules(q));
  getBooking = this.read((o, id: string) => o.getBooking(id));
  findBookings = this.read((o, q: BookingQuery) => o.findBookings(q));
  countBookings = this.read((o, q: BookingQuery) => o.countBookings(q));
  findBookingByIdempotencyKey = this.read((o, a: { patientId: string; idempotencyKey: string }) =>
    o.findBookingByIdempotencyKey(a),
  );
  findActiveBooking = this.read((o, scheduleId: string) => o.findActiveBooking(scheduleId));
  getPaymentTransaction = this.read((o, id: string) => o.getPaymentTransaction(id));
  findPaymentTransaction = this.read((o, a: { provider: string; providerPaymentId: string }) =>
    o.findPaymentTransaction(a),
  );
  findPaymentTransactions = this.read((o, q: PaymentQuery) => o.findPaymentTransactions(q));
  findLedgerEntries = this.read((o, q: LedgerQuery) => o.findLedgerEntries(q));
  ledgerBalances = this.read((o, a: { doctorId: string }) => o.ledgerBalances(a));
  hasProcessedEvent = this.read((o, id: string) => o.hasProcessedEvent(id));
  getPaymentCustomer = this.read((o, a: { patientId: string; provider: string }) => o.getPaymentCustomer(a));
  findOutbox = this.read((o, q: OutboxQuery) => o.findOutbox(q));
  findAvailability = this.read((o, q: AvailabilityQuery) => o.findAvailability(q));
  getTimeOff = this.read((o, id: string) => o.getTimeOff(id));
  findTimeOff = this.read((o, q: TimeOffQuery) => o.findTimeOff(q));
}
