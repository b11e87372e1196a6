// The embedded default store: serializable (or, for tests, snapshot-isolated) transactions over in-process maps.
import type {
  AvailabilityRecord,
  Booking,
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
  BookingQuery,
  BookingStore,
  BookingUpdate,
  KeysetCursor,
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
import type { NewOutboxRecord, OutboxClaim, OutboxCursor, OutboxQuery, OutboxRecord } from '../../ports/outbox.js';
import { resolveStoreClock } from '../store-clock.js';
import { AsyncMutex } from './async-mutex.js';
import { newObjectId } from './object-id.js';
import { isSnapshotConflict, SnapshotCoordinator, type Table } from './snapshot-tables.js';

interface TableMaps {
  schedules: Map<string, Schedule>;
  bookings: Map<string, Booking>;
  payments: Map<string, PaymentTransaction>;
  ledger: Map<string, LedgerEntry>;
  events: Map<string, { id: string; type: string; at: Date }>;
  customers: Map<string, PaymentCustomer>;
  outbox: Map<string, OutboxRecord>;
  availability: Map<string, AvailabilityRecord>;
  timeOff: Map<string, TimeOff>;
  // Secondary indexes: the memory equivalent of MongoDB's unique indexes.
  activeBySchedule: Map<string, string>;
  bookingByIdempotencyKey: Map<string, string>;
  // Lookup indexes, so per-patient counts and per-doctor overlap checks do not scan everything.
  bookingsByPatient: Map<string, Set<string>>;
  schedulesByDoctor: Map<string, Set<string>>;
  availabilityByDoctor: Map<string, Set<string>>;
  timeOffByDoctor: Map<string, Set<string>>;
  /** Keys of each consumer's pending outbox records, so a claim does not scan delivered ones. */
  outboxPending: Map<string, Set<string>>;
  /** Keys of each booking's outbox records: the order-per-booking check reads only those. */
  outboxByBooking: Map<string, Set<string>>;
  paymentByProviderId: Map<string, string>;
  // Lock rows (snapshot mode): a write per patient or doctor, so transactions taking one conflict.
  locks: Map<string, number>;
}

/** What the operations read and write: the committed maps, or a transaction's snapshot views of them. */
type Tables = { [N in keyof TableMaps]: TableMaps[N] extends Map<infer K, infer V> ? Table<K, V> : never };

/** Lookup indexes whose values are Sets of ids: merged at commit, never a conflict. */
const SET_INDEXES: ReadonlySet<keyof TableMaps> = new Set([
  'bookingsByPatient',
  'schedulesByDoctor',
  'availabilityByDoctor',
  'timeOffByDoctor',
  'outboxPending',
  'outboxByBooking',
]);

/** How often a snapshot transaction is run again after losing a write conflict before giving up. */
const MAX_SNAPSHOT_ATTEMPTS = 500;

type Undo = () => void;

const pairKey = (a: string, b: string): string => `${a}\u0000${b}`;

function oneOf<T>(expected: T | readonly T[], actual: T): boolean {
  return Array.isArray(expected) ? (expected as readonly T[]).includes(actual) : expected === actual;
}

// structuredClone keeps Dates as Dates; callers can never mutate stored records.
const copy = <T>(value: T): T => structuredClone(value);

function matchesSchedule(schedule: Schedule, query: ScheduleQuery): boolean {
  if (query.doctorId !== undefined && schedule.doctorId !== query.doctorId) return false;
  if (query.status !== undefined && !oneOf(query.status, schedule.status)) return false;
  if (query.startFrom !== undefined && schedule.startTime < query.startFrom) return false;
  if (query.startBefore !== undefined && schedule.startTime >= query.startBefore) return false;
  if (query.endBefore !== undefined && schedule.endTime > query.endBefore) return false;
  if (query.endAfter !== undefined && schedule.endTime <= query.endAfter) return false;
  return true;
}

function matchesBooking(booking: Booking, query: BookingQuery): boolean {
  if (query.patientId !== undefined && booking.patientId !== query.patientId) return false;
  if (query.doctorId !== undefined && booking.doctorId !== query.doctorId) return false;
  if (query.scheduleId !== undefined && booking.scheduleId !== query.scheduleId) return false;
  if (query.checkoutSessionId !== undefined && booking.checkoutSessionId !== query.checkoutSessionId) return false;
  if (query.status !== undefined && !oneOf(query.status, booking.status)) return false;
  if (query.paymentStatus !== undefined && !oneOf(query.paymentStatus, booking.paymentStatus)) return false;
  if (query.mode !== undefined && booking.mode !== query.mode) return false;
  if (query.holdExpiresBefore !== undefined) {
    if (booking.holdExpiresAt === null || booking.holdExpiresAt > query.holdExpiresBefore) return false;
  }
  if (query.createdBefore !== undefined && booking.createdAt > query.createdBefore) return false;
  if (query.slotStartFrom !== undefined && booking.slotStart < query.slotStartFrom) return false;
  if (query.slotStartBefore !== undefined && booking.slotStart >= query.slotStartBefore) return false;
  if (query.after !== undefined && byCreatedThenId(booking, query.after) <= 0) return false;
  return true;
}

const byStartThenId = (a: Schedule, b: Schedule): number =>
  a.startTime.getTime() - b.startTime.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const byCreatedThenId = (a: { createdAt: Date; id: string }, b: { createdAt: Date; id: string }): number =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Sorted by (createdAt, id), strictly after `after`, at most `limit`: the port's keyset page. */
function page<T extends KeysetCursor>(rows: T[], query: { after?: KeysetCursor; limit?: number }): T[] {
  const { after } = query;
  const sorted = rows.filter((row) => after === undefined || byCreatedThenId(row, after) > 0).sort(byCreatedThenId);
  return query.limit === undefined ? sorted : sorted.slice(0, query.limit);
}

const matchesLedger = (e: LedgerEntry, query: LedgerQuery): boolean =>
  (query.doctorId === undefined || e.doctorId === query.doctorId) &&
  (query.bookingId === undefined || e.bookingId === query.bookingId);

/**
 * The operations over the tables. `journal`, when present, collects undo steps so a failed
 * serializable transaction can be rolled back. In snapshot mode the tables are a transaction's
 * views: index Sets are copied before they change (the committed ones are shared), and locks
 * write a row.
 */
class MemoryOperations implements StoreOperations {
  private lockWrites = 0;

  constructor(
    private readonly t: Tables,
    private readonly journal: Undo[] | null,
    private readonly now: () => Date,
    private readonly snapshot = false,
  ) {}

  private setRow<K, V>(map: Table<K, V>, key: K, value: V): void {
    if (this.journal) {
      const had = map.has(key);
      const previous = map.get(key);
      this.journal.push(() => {
        if (had) map.set(key, previous as V);
        else map.delete(key);
      });
    }
    map.set(key, value);
  }

  private addToIndex(index: Table<string, Set<string>>, key: string, id: string): void {
    if (this.snapshot) {
      this.setRow(index, key, new Set(index.get(key)).add(id));
      return;
    }
    let ids = index.get(key);
    if (!ids) {
      ids = new Set();
      index.set(key, ids);
    }
    ids.add(id);
    if (this.journal) this.journal.push(() => index.get(key)?.delete(id));
  }

  private removeFromIndex(index: Table<string, Set<string>>, key: string, id: string): void {
    if (this.snapshot) {
      const ids = new Set(index.get(key));
      if (ids.delete(id)) this.setRow(index, key, ids);
      return;
    }
    if (!index.get(key)?.delete(id)) return;
    if (this.journal) this.journal.push(() => index.get(key)?.add(id));
  }

  /** The rows a query can match: through an index when it names a patient or doctor. */
  private candidates<T>(
    rows: Table<string, T>,
    index: Table<string, Set<string>>,
    key: string | undefined,
  ): Iterable<T> {
    if (key === undefined) return rows.values();
    const ids = index.get(key);
    if (!ids) return [];
    const found: T[] = [];
    for (const id of ids) {
      const row = rows.get(id);
      if (row !== undefined) found.push(row);
    }
    return found;
  }

  private deleteRow<K, V>(map: Table<K, V>, key: K): void {
    if (!map.has(key)) return;
    if (this.journal) {
      const previous = map.get(key) as V;
      this.journal.push(() => map.set(key, previous));
    }
    map.delete(key);
  }

  async insertSchedule(schedule: NewSchedule): Promise<Schedule> {
    const at = this.now();
    const row: Schedule = { ...copy(schedule), id: newObjectId(), createdAt: at, updatedAt: at };
    this.setRow(this.t.schedules, row.id, row);
    this.addToIndex(this.t.schedulesByDoctor, row.doctorId, row.id);
    return copy(row);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const row = this.t.schedules.get(id);
    return row ? copy(row) : null;
  }

  async findSchedules(query: ScheduleQuery): Promise<Schedule[]> {
    const rows = [...this.candidates(this.t.schedules, this.t.schedulesByDoctor, query.doctorId)]
      .filter((s) => matchesSchedule(s, query))
      .sort(byStartThenId);
    return (query.limit === undefined ? rows : rows.slice(0, query.limit)).map(copy);
  }

  async updateScheduleIf(update: ScheduleUpdate): Promise<Schedule | null> {
    const row = this.t.schedules.get(update.id);
    if (!row || !oneOf(update.expectedStatus, row.status)) return null;
    const next: Schedule = { ...row, ...copy(update.set), updatedAt: this.now() };
    this.setRow(this.t.schedules, row.id, next);
    return copy(next);
  }

  async deleteSchedulesIf(args: { ids: readonly string[]; expectedStatus: Schedule['status'] }): Promise<number> {
    let deleted = 0;
    for (const id of args.ids) {
      const row = this.t.schedules.get(id);
      if (row && row.status === args.expectedStatus) {
        this.deleteRow(this.t.schedules, id);
        this.removeFromIndex(this.t.schedulesByDoctor, row.doctorId, id);
        deleted++;
      }
    }
    return deleted;
  }

  async insertBooking(booking: NewBooking): Promise<Booking | null> {
    if (isActiveBookingStatus(booking.status) && this.t.activeBySchedule.has(booking.scheduleId)) return null;
    const idemKey = booking.idempotencyKey === null ? null : pairKey(booking.patientId, booking.idempotencyKey);
    if (idemKey !== null && this.t.bookingByIdempotencyKey.has(idemKey)) return null;
    const at = this.now();
    const row: Booking = { ...copy(booking), id: newObjectId(), createdAt: at, updatedAt: at };
    this.setRow(this.t.bookings, row.id, row);
    this.addToIndex(this.t.bookingsByPatient, row.patientId, row.id);
    if (isActiveBookingStatus(row.status)) this.setRow(this.t.activeBySchedule, row.scheduleId, row.id);
    if (idemKey !== null) this.setRow(this.t.bookingByIdempotencyKey, idemKey, row.id);
    return copy(row);
  }

  async getBooking(id: string): Promise<Booking | null> {
    const row = this.t.bookings.get(id);
    return row ? copy(row) : null;
  }

  async findBookings(query: BookingQuery): Promise<Booking[]> {
    const rows = [...this.candidates(this.t.bookings, this.t.bookingsByPatient, query.patientId)]
      .filter((b) => matchesBooking(b, query))
      .sort(byCreatedThenId);
    return (query.limit === undefined ? rows : rows.slice(0, query.limit)).map(copy);
  }

  async countBookings(query: BookingQuery): Promise<number> {
    let count = 0;
    for (const row of this.candidates(this.t.bookings, this.t.bookingsByPatient, query.patientId)) {
      if (matchesBooking(row, query)) count++;
    }
    return count;
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
    const next: Booking = {
      ...row,
      ...copy(update.set),
      history: update.history ? [...row.history, copy(update.history)] : row.history,
      updatedAt: this.now(),
    };
    const wasActive = isActiveBookingStatus(row.status);
    const isActive = isActiveBookingStatus(next.status);
    if (isActive) {
      const holder = this.t.activeBySchedule.get(next.scheduleId);
      if (holder !== undefined && holder !== row.id) return null;
    }
    this.setRow(this.t.bookings, row.id, next);
    if (wasActive && (!isActive || next.scheduleId !== row.scheduleId)) {
      this.deleteRow(this.t.activeBySchedule, row.scheduleId);
    }
    if (isActive) this.setRow(this.t.activeBySchedule, next.scheduleId, row.id);
    return copy(next);
  }

  async markReminderSent(args: { bookingId: string; key: string; slotStart: Date }): Promise<Booking | null> {
    const row = this.t.bookings.get(args.bookingId);
    if (row?.status !== 'scheduled' || row.slotStart.getTime() !== args.slotStart.getTime()) return null;
    const sent = row.remindersSent ?? [];
    if (sent.includes(args.key)) return null;
    const next: Booking = { ...row, remindersSent: [...sent, args.key], updatedAt: this.now() };
    this.setRow(this.t.bookings, row.id, next);
    return copy(next);
  }

  async insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null> {
    const key = pairKey(transaction.provider, transaction.providerPaymentId);
    if (this.t.paymentByProviderId.has(key)) return null;
    const at = this.now();
    const row: PaymentTransaction = { ...copy(transaction), id: newObjectId(), createdAt: at, updatedAt: at };
    this.setRow(this.t.payments, row.id, row);
    this.setRow(this.t.paymentByProviderId, key, row.id);
    return copy(row);
  }

  async getPaymentTransaction(id: string): Promise<PaymentTransaction | null> {
    const row = this.t.payments.get(id);
    return row ? copy(row) : null;
  }

  async findPaymentTransaction(args: {
    provider: string;
    providerPaymentId: string;
  }): Promise<PaymentTransaction | null> {
    const id = this.t.paymentByProviderId.get(pairKey(args.provider, args.providerPaymentId));
    return id === undefined ? null : this.getPaymentTransaction(id);
  }

  async findPaymentTransactions(query: PaymentQuery): Promise<PaymentTransaction[]> {
    const rows = [...this.t.payments.values()].filter(
      (p) =>
        (query.bookingId === undefined || p.bookingId === query.bookingId) &&
        (query.refundStatus === undefined || p.refunds.some((r) => r.status === query.refundStatus)),
    );
    return page(rows, query).map(copy);
  }

  async upsertRefund(args: { paymentTransactionId: string; refund: RefundRecord }): Promise<PaymentTransaction | null> {
    const row = this.t.payments.get(args.paymentTransactionId);
    if (!row) return null;
    const refund = copy(args.refund);
    const index = row.refunds.findIndex((r) => r.id === refund.id);
    const refunds = index === -1 ? [...row.refunds, refund] : row.refunds.map((r, i) => (i === index ? refund : r));
    const next: PaymentTransaction = { ...row, refunds, updatedAt: this.now() };
    this.setRow(this.t.payments, row.id, next);
    return copy(next);
  }

  async appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean> {
    if (this.t.ledger.has(entry.key)) return false;
    this.setRow(this.t.ledger, entry.key, { ...copy(entry), id: newObjectId() });
    return true;
  }

  async findLedgerEntries(query: LedgerQuery): Promise<LedgerEntry[]> {
    return page(
      [...this.t.ledger.values()].filter((e) => matchesLedger(e, query)),
      query,
    ).map(copy);
  }

  async ledgerBalances(args: { doctorId: string }): Promise<Record<string, number>> {
    const balances: Record<string, number> = {};
    for (const e of this.t.ledger.values()) {
      if (e.doctorId !== args.doctorId) continue;
      balances[e.currency] = (balances[e.currency] ?? 0) + (e.kind === 'credit' ? e.amount : -e.amount);
    }
    return balances;
  }

  async recordProcessedEvent(event: { id: string; type: string; at: Date }): Promise<boolean> {
    if (this.t.events.has(event.id)) return false;
    this.setRow(this.t.events, event.id, copy(event));
    return true;
  }

  async hasProcessedEvent(id: string): Promise<boolean> {
    return this.t.events.has(id);
  }

  // Serializable transactions already run one at a time; snapshot ones conflict on the lock row.
  async lockPatient(patientId: string): Promise<void> {
    if (this.snapshot) this.setRow(this.t.locks, `patient:${patientId}`, ++this.lockWrites);
  }

  async lockDoctor(doctorId: string): Promise<void> {
    if (this.snapshot) this.setRow(this.t.locks, `doctor:${doctorId}`, ++this.lockWrites);
  }

  async getPaymentCustomer(args: { patientId: string; provider: string }): Promise<PaymentCustomer | null> {
    const row = this.t.customers.get(pairKey(args.patientId, args.provider));
    return row ? copy(row) : null;
  }

  async savePaymentCustomer(customer: PaymentCustomer): Promise<PaymentCustomer> {
    const key = pairKey(customer.patientId, customer.provider);
    const existing = this.t.customers.get(key);
    if (existing) return copy(existing);
    this.setRow(this.t.customers, key, copy(customer));
    return copy(customer);
  }

  async findOutbox(query: OutboxQuery): Promise<OutboxRecord[]> {
    const source =
      query.bookingId !== undefined
        ? this.candidates(this.t.outbox, this.t.outboxByBooking, query.bookingId)
        : query.status === 'pending' && query.consumer !== undefined
          ? this.candidates(this.t.outbox, this.t.outboxPending, query.consumer)
          : this.t.outbox.values();
    const rows = [...source]
      .filter((r) => matchesOutbox(r, query))
      .sort(byOutboxOrder)
      .map(copy);
    return query.limit === undefined ? rows : rows.slice(0, query.limit);
  }

  async appendOutbox(records: readonly NewOutboxRecord[]): Promise<number> {
    let added = 0;
    for (const record of records) {
      if (this.t.outbox.has(record.key)) continue;
      this.setRow(this.t.outbox, record.key, {
        ...copy(record),
        status: 'pending',
        attempts: 0,
        nextAttemptAt: new Date(record.createdAt.getTime()),
        leaseOwner: null,
        leaseUntil: null,
        lastError: null,
        deliveredAt: null,
      });
      this.addToIndex(this.t.outboxPending, record.consumer, record.key);
      if (record.bookingId !== null) this.addToIndex(this.t.outboxByBooking, record.bookingId, record.key);
      added++;
    }
    return added;
  }

  async claimOutbox(claim: OutboxClaim): Promise<OutboxRecord[]> {
    const keys = claim.keys === undefined ? null : new Set(claim.keys);
    // The fast path names its keys: look those up rather than scan every pending record.
    const source =
      keys === null
        ? this.candidates(this.t.outbox, this.t.outboxPending, claim.consumer)
        : [...keys].flatMap((key) => this.t.outbox.get(key) ?? []);
    const due = [...source]
      .filter(
        (r) =>
          r.consumer === claim.consumer &&
          r.status === 'pending' &&
          r.nextAttemptAt <= claim.now &&
          (r.leaseUntil === null || r.leaseUntil <= claim.now) &&
          (keys === null || keys.has(r.key)),
      )
      .sort(byOutboxOrder)
      .slice(0, claim.limit);
    return due.map((r) => {
      const leased = { ...r, leaseOwner: claim.owner, leaseUntil: new Date(claim.leaseUntil.getTime()) };
      this.setRow(this.t.outbox, r.key, leased);
      return copy(leased);
    });
  }

  async completeOutbox(args: { key: string; owner: string; at: Date }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    this.setRow(this.t.outbox, args.key, {
      ...row,
      status: 'delivered',
      deliveredAt: new Date(args.at.getTime()),
      leaseOwner: null,
      leaseUntil: null,
    });
    this.removeFromIndex(this.t.outboxPending, row.consumer, row.key);
    return true;
  }

  async failOutbox(args: { key: string; owner: string; error: string; retryAt: Date | null }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    this.setRow(this.t.outbox, args.key, {
      ...row,
      status: args.retryAt === null ? 'dead' : 'pending',
      attempts: row.attempts + 1,
      lastError: args.error,
      nextAttemptAt: args.retryAt === null ? row.nextAttemptAt : new Date(args.retryAt.getTime()),
      leaseOwner: null,
      leaseUntil: null,
    });
    if (args.retryAt === null) this.removeFromIndex(this.t.outboxPending, row.consumer, row.key);
    return true;
  }

  async releaseOutbox(args: { key: string; owner: string }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'pending' || row.leaseOwner !== args.owner) return false;
    this.setRow(this.t.outbox, args.key, { ...row, leaseOwner: null, leaseUntil: null });
    return true;
  }

  async redriveOutbox(args: { key: string; at: Date }): Promise<boolean> {
    const row = this.t.outbox.get(args.key);
    if (row?.status !== 'dead') return false;
    this.setRow(this.t.outbox, args.key, {
      ...row,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: new Date(args.at.getTime()),
    });
    this.addToIndex(this.t.outboxPending, row.consumer, row.key);
    return true;
  }

  async deleteDeliveredOutbox(args: { deliveredBefore: Date; limit: number }): Promise<number> {
    const old = [...this.t.outbox.values()]
      .filter((r) => r.status === 'delivered' && r.deliveredAt !== null && r.deliveredAt < args.deliveredBefore)
      .sort(byOutboxOrder)
      .slice(0, args.limit);
    for (const r of old) {
      this.deleteRow(this.t.outbox, r.key);
      if (r.bookingId !== null) this.removeFromIndex(this.t.outboxByBooking, r.bookingId, r.key);
    }
    return old.length;
  }

  async insertAvailability(record: NewAvailabilityRecord): Promise<AvailabilityRecord> {
    const row: AvailabilityRecord = { ...copy(record), id: newObjectId(), createdAt: this.now() };
    this.setRow(this.t.availability, row.id, row);
    this.addToIndex(this.t.availabilityByDoctor, row.doctorId, row.id);
    return copy(row);
  }

  async endAvailability(args: { doctorId: string; at: Date }): Promise<number> {
    let changed = 0;
    for (const row of this.candidates(this.t.availability, this.t.availabilityByDoctor, args.doctorId)) {
      const until = row.effectiveUntil;
      if (until !== null && (until <= args.at || until <= row.effectiveFrom)) continue;
      const end = Math.max(row.effectiveFrom.getTime(), args.at.getTime());
      this.setRow(this.t.availability, row.id, { ...row, effectiveUntil: new Date(end) });
      changed++;
    }
    return changed;
  }

  async findAvailability(query: AvailabilityQuery): Promise<AvailabilityRecord[]> {
    return [...this.candidates(this.t.availability, this.t.availabilityByDoctor, query.doctorId)]
      .filter(
        (r) => inForce(r) && r.effectiveFrom < query.to && (r.effectiveUntil === null || r.effectiveUntil > query.from),
      )
      .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime() || compareIds(a.id, b.id))
      .map(copy);
  }

  async insertTimeOff(timeOff: NewTimeOff): Promise<TimeOff> {
    const row: TimeOff = { ...copy(timeOff), id: newObjectId(), createdAt: this.now() };
    this.setRow(this.t.timeOff, row.id, row);
    this.addToIndex(this.t.timeOffByDoctor, row.doctorId, row.id);
    return copy(row);
  }

  async getTimeOff(id: string): Promise<TimeOff | null> {
    const row = this.t.timeOff.get(id);
    return row ? copy(row) : null;
  }

  async findTimeOff(query: TimeOffQuery): Promise<TimeOff[]> {
    const rows = [...this.candidates(this.t.timeOff, this.t.timeOffByDoctor, query.doctorId)]
      .filter(
        (t) =>
          (query.startBefore === undefined || t.start < query.startBefore) &&
          (query.endAfter === undefined || t.end > query.endAfter),
      )
      .sort((a, b) => a.start.getTime() - b.start.getTime() || compareIds(a.id, b.id));
    return (query.limit === undefined ? rows : rows.slice(0, query.limit)).map(copy);
  }

  async deleteTimeOff(id: string): Promise<boolean> {
    const row = this.t.timeOff.get(id);
    if (!row) return false;
    this.deleteRow(this.t.timeOff, id);
    this.removeFromIndex(this.t.timeOffByDoctor, row.doctorId, id);
    return true;
  }
}

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A version that ended where it began never applied to any instant. */
const inForce = (r: AvailabilityRecord): boolean => r.effectiveUntil === null || r.effectiveUntil > r.effectiveFrom;

const byOutboxOrder = (a: OutboxCursor, b: OutboxCursor): number =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

function matchesOutbox(r: OutboxRecord, query: OutboxQuery): boolean {
  if (query.consumer !== undefined && r.consumer !== query.consumer) return false;
  if (query.status !== undefined && r.status !== query.status) return false;
  if (query.bookingId !== undefined && r.bookingId !== query.bookingId) return false;
  if (query.eventId !== undefined && r.eventId !== query.eventId) return false;
  if (query.before !== undefined && byOutboxOrder(r, query.before) >= 0) return false;
  if (query.after !== undefined && byOutboxOrder(r, query.after) <= 0) return false;
  return true;
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
    events: new Map(),
    customers: new Map(),
    outbox: new Map(),
    availability: new Map(),
    timeOff: new Map(),
    activeBySchedule: new Map(),
    bookingByIdempotencyKey: new Map(),
    bookingsByPatient: new Map(),
    schedulesByDoctor: new Map(),
    availabilityByDoctor: new Map(),
    timeOffByDoctor: new Map(),
    outboxPending: new Map(),
    outboxByBooking: new Map(),
    paymentByProviderId: new Map(),
    locks: new Map(),
  };
  private readonly lock = new AsyncMutex();
  private readonly now: () => Date;
  private readonly reader: MemoryOperations;
  /** Present in snapshot mode. */
  private readonly snapshots: SnapshotCoordinator<TableMaps> | null;
  /** The isolation transactions run under. */
  readonly isolation: 'serializable' | 'snapshot';

  constructor(options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('MemoryStore: pass an options object ({ clock?, isolation? }) or nothing');
    }
    const clock = resolveStoreClock('MemoryStore', options);
    const isolation = options.isolation ?? 'serializable';
    if (isolation !== 'serializable' && isolation !== 'snapshot') {
      throw new TypeError(
        `MemoryStore: isolation must be 'serializable' or 'snapshot' (got ${JSON.stringify(isolation)})`,
      );
    }
    this.isolation = isolation;
    this.now = () => clock.now();
    this.reader = new MemoryOperations(this.tables, null, this.now);
    this.snapshots = isolation === 'snapshot' ? new SnapshotCoordinator(this.tables, SET_INDEXES) : null;
  }

  transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
    if (this.snapshots) return this.snapshotTransaction(this.snapshots, fn);
    return this.lock.run(async () => {
      const journal: Undo[] = [];
      try {
        return await fn(new MemoryOperations(this.tables, journal, this.now));
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
        const result = await fn(new MemoryOperations(tx.views as unknown as Tables, null, this.now, true));
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
