// The store's reads over careslot's collections (alone or in a transaction), and the operations of one MongoDB transaction.
import type mongoose from 'mongoose';
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
import { isActiveBookingStatus, type ScheduleStatus } from '../../domain/status.js';
import type {
  AvailabilityQuery,
  BookingQuery,
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
  StoreReads,
  TimeOffQuery,
} from '../../ports/booking-store.js';
import type { NewOutboxRecord, OutboxClaim, OutboxQuery, OutboxRecord } from '../../ports/outbox.js';
import type { DocumentsByKey, MongooseStoreModelKey } from './documents.js';
import { isDuplicateKeyError, toStoreError, UniqueConflictError } from './errors.js';
import { type HostId, type HostIdMode, type ObjectId, toHostId, toKey, toObjectId } from './ids.js';
import {
  availabilityToDocument,
  bookingChangesToDocument,
  bookingStatuses,
  bookingToDocument,
  documentToAvailability,
  documentToBooking,
  documentToCustomer,
  documentToLedger,
  documentToOutbox,
  documentToPayment,
  documentToSchedule,
  documentToTimeOff,
  eventToDocument,
  historyToDocument,
  ledgerToDocument,
  outboxToDocument,
  paymentStatuses,
  paymentStatusOf,
  paymentToDocument,
  refundToDocument,
  scheduleChangesToDocument,
  scheduleStatuses,
  scheduleToDocument,
  timeOffToDocument,
  toDate,
  toWholeNumber,
  withRefund,
} from './mapping.js';
import {
  AVAILABILITY_SORT,
  activeBookingFilter,
  availabilityEndFilter,
  availabilityEndWrite,
  availabilityQueryFilter,
  bookingCasFilter,
  bookingQueryFilter,
  bookingUpdate,
  byId,
  CREATED_SORT,
  customerFilter,
  customerUpsertUpdate,
  deleteOutboxFilter,
  deleteSchedulesFilter,
  doctorLockFilter,
  eventFilter,
  type Filter,
  idempotencyFilter,
  isInForce,
  LEDGER_DOCTOR_SORT,
  ledgerBalancesPipeline,
  ledgerDelta,
  ledgerKeyFilter,
  ledgerQueryFilter,
  lockUpdate,
  migrationDoneUpdate,
  migrationFilter,
  nextLedgerDoctorFilter,
  OUTBOX_RELEASE_UPDATE,
  OUTBOX_RETENTION_SORT,
  OUTBOX_SORT,
  outboxClaimFilter,
  outboxCompleteUpdate,
  outboxDeadFilter,
  outboxFailUpdate,
  outboxHeldFilter,
  outboxKeyFilter,
  outboxLeaseFilter,
  outboxLeaseUpdate,
  outboxQueryFilter,
  outboxRedriveUpdate,
  outboxRetentionFilter,
  patientLockFilter,
  paymentQueryFilter,
  paymentVersionFilter,
  providerPaymentFilter,
  refundsUpdate,
  reminderFilter,
  reminderUpdate,
  SCHEDULE_SORT,
  scheduleCasFilter,
  scheduleQueryFilter,
  scheduleSetUpdate,
  TIME_OFF_SORT,
  timeOffQueryFilter,
  type Update,
  WALLET_BALANCE_SORT,
  WALLET_BALANCES_MIGRATION,
  walletBalanceFilter,
  walletBalanceIncrement,
  walletBalanceReset,
  walletBalancesFilter,
} from './queries.js';

export type ClientSession = mongoose.mongo.ClientSession;

interface ReadOptions {
  session?: ClientSession;
  readPreference?: 'primary';
  projection?: Record<string, 0 | 1>;
}

/**
 * The driver collection methods the store uses (a subset of `mongodb.Collection`). Writes go
 * to the driver collection under each model, not through mongoose queries, so a host's
 * plugins and global query options (sanitizeFilter, strictQuery, returnDocument...) can not
 * change a compare-and-set filter.
 */
export interface StoreCollection<T> {
  insertOne(doc: T, options: { session?: ClientSession }): Promise<unknown>;
  findOne(filter: Filter, options: ReadOptions): Promise<T | null>;
  find(
    filter: Filter,
    options: ReadOptions & { sort: Readonly<Record<string, 1 | -1>>; limit?: number; batchSize: number },
  ): { toArray(): Promise<T[]> };
  aggregate<R>(pipeline: Record<string, unknown>[], options: ReadOptions): { toArray(): Promise<R[]> };
  findOneAndUpdate(
    filter: Filter,
    update: Update,
    options: { returnDocument: 'after'; upsert?: boolean; session?: ClientSession },
  ): Promise<T | null>;
  updateOne(
    filter: Filter,
    update: Update,
    options: { upsert?: boolean; session?: ClientSession },
  ): Promise<{ matchedCount: number; upsertedCount: number }>;
  deleteMany(filter: Filter, options: { session?: ClientSession }): Promise<{ deletedCount: number }>;
  countDocuments(filter: Filter, options: ReadOptions): Promise<number>;
}

export type StoreCollections = { [K in MongooseStoreModelKey]: StoreCollection<DocumentsByKey[K]> };
export type StoreModels = { [K in MongooseStoreModelKey]: mongoose.Model<DocumentsByKey[K]> };

/**
 * Whether `ledgerBalances` may read the running totals: only once `backfillWalletBalances()`
 * wrote its marker (before it, doctors with ledger lines from before the totals have none, and
 * the balances are summed from the ledger instead). Shared by a store's reads and transactions.
 */
export interface WalletTotalsState {
  /** Set once the marker was seen; a marker is never taken back, so it is not read again. */
  backfilled: boolean;
  /** Called each time balances are summed from the ledger because the marker is missing. */
  onSummedFromLedger?: () => void;
}

export interface OperationsDeps {
  /** Cast and validate documents before they are written. */
  models: StoreModels;
  collections: StoreCollections;
  hostIds: HostIdMode;
  now: () => Date;
  /** @defaultValue the marker is read on every `ledgerBalances` until it is found */
  walletTotals?: WalletTotalsState;
}

const TO_OBJECT: mongoose.ToObjectOptions = {
  depopulate: true,
  virtuals: false,
  getters: false,
  transform: false,
  flattenMaps: true,
  minimize: false,
  versionKey: true,
};

const EXISTS: ReadOptions['projection'] = { _id: 1 };

/**
 * Documents per server reply for reads without a limit (a payment's refunds sweep, a ledger):
 * the driver fetches the rest with getMore, so no reply and no server-side batch grows with
 * the collection. Reads with a limit ask for exactly that many in one reply.
 */
export const READ_BATCH_SIZE = 500;

function listOptions(limit: number | undefined): { limit?: number; batchSize: number } {
  return limit === undefined ? { batchSize: READ_BATCH_SIZE } : { limit, batchSize: Math.min(limit, READ_BATCH_SIZE) };
}

/**
 * Every read of the port. On the store (no session) each call reads committed data from the
 * primary; inside a transaction (with its session) it reads the transaction's snapshot plus
 * its own writes.
 */
export class MongooseReads implements StoreReads {
  constructor(
    protected readonly deps: OperationsDeps,
    protected readonly session: ClientSession | null,
  ) {}

  protected get c(): StoreCollections {
    return this.deps.collections;
  }

  protected readOptions(extra: Omit<ReadOptions, 'session' | 'readPreference'> = {}): ReadOptions {
    // In a transaction the read preference is the transaction's (primary); outside, reads go to
    // the primary too, so a read right after a commit sees it whatever the host's default is.
    return this.session ? { ...extra, session: this.session } : { ...extra, readPreference: 'primary' };
  }

  protected async exists<K extends MongooseStoreModelKey>(key: K, filter: Filter): Promise<boolean> {
    return (await this.c[key].findOne(filter, this.readOptions({ projection: EXISTS }))) !== null;
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const doc = await this.c.schedule.findOne(byId(toObjectId(id, 'scheduleId')), this.readOptions());
    return doc ? documentToSchedule(doc) : null;
  }

  async findSchedules(query: ScheduleQuery): Promise<Schedule[]> {
    const { filter, limit } = scheduleQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.schedule
      .find(filter, { ...this.readOptions(), sort: SCHEDULE_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToSchedule);
  }

  async getBooking(id: string): Promise<Booking | null> {
    const doc = await this.c.booking.findOne(byId(toObjectId(id, 'bookingId')), this.readOptions());
    return doc ? documentToBooking(doc) : null;
  }

  async findBookings(query: BookingQuery): Promise<Booking[]> {
    const { filter, limit } = bookingQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.booking
      .find(filter, { ...this.readOptions(), sort: CREATED_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToBooking);
  }

  async countBookings(query: BookingQuery): Promise<number> {
    const { filter } = bookingQueryFilter(query, this.deps.hostIds);
    return this.c.booking.countDocuments(filter, this.readOptions());
  }

  async findBookingByIdempotencyKey(args: { patientId: string; idempotencyKey: string }): Promise<Booking | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('findBookingByIdempotencyKey');
    const filter = idempotencyFilter(
      toHostId(args.patientId, 'patientId', this.deps.hostIds),
      toKey(args.idempotencyKey, 'idempotencyKey'),
    );
    const doc = await this.c.booking.findOne(filter, this.readOptions());
    return doc ? documentToBooking(doc) : null;
  }

  async findActiveBooking(scheduleId: string): Promise<Booking | null> {
    const doc = await this.c.booking.findOne(
      activeBookingFilter(toObjectId(scheduleId, 'scheduleId')),
      this.readOptions(),
    );
    return doc ? documentToBooking(doc) : null;
  }

  async getPaymentTransaction(id: string): Promise<PaymentTransaction | null> {
    const doc = await this.c.payment.findOne(byId(toObjectId(id, 'paymentTransactionId')), this.readOptions());
    return doc ? documentToPayment(doc) : null;
  }

  async findPaymentTransaction(args: {
    provider: string;
    providerPaymentId: string;
  }): Promise<PaymentTransaction | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('findPaymentTransaction');
    const filter = providerPaymentFilter(
      toKey(args.provider, 'provider'),
      toKey(args.providerPaymentId, 'providerPaymentId'),
    );
    const doc = await this.c.payment.findOne(filter, this.readOptions());
    return doc ? documentToPayment(doc) : null;
  }

  async findPaymentTransactions(query: PaymentQuery): Promise<PaymentTransaction[]> {
    const { filter, limit } = paymentQueryFilter(query);
    if (limit === 0) return [];
    const docs = await this.c.payment
      .find(filter, { ...this.readOptions(), sort: CREATED_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToPayment);
  }

  async findLedgerEntries(query: LedgerQuery): Promise<LedgerEntry[]> {
    const { filter, limit } = ledgerQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.ledger
      .find(filter, { ...this.readOptions(), sort: CREATED_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToLedger);
  }

  /**
   * A doctor's wallet balance per currency (credits minus debits, minor units): the running
   * totals `appendLedgerEntry` keeps, one document per currency from the (doctorId, currency)
   * index, however long the ledger. Until `backfillWalletBalances()` marked the totals complete,
   * the balances are summed from the ledger instead (`$group` on the doctor's ledger index), so
   * a doctor whose lines all predate the totals is never shown a wrong balance.
   */
  async ledgerBalances(args: { doctorId: string }): Promise<Record<string, number>> {
    if (args === null || typeof args !== 'object') throw invalidArgument('ledgerBalances');
    const doctorId = toHostId(args.doctorId, 'doctorId', this.deps.hostIds);
    if (!(await this.walletTotalsBackfilled())) {
      this.deps.walletTotals?.onSummedFromLedger?.();
      return this.ledgerSums(doctorId);
    }
    const totals = await this.c.walletBalance
      .find(walletBalancesFilter(doctorId), {
        ...this.readOptions({ projection: { currency: 1, balance: 1 } }),
        sort: WALLET_BALANCE_SORT,
        ...listOptions(undefined),
      })
      .toArray();
    return Object.fromEntries(totals.map((total) => [total.currency, total.balance]));
  }

  /** Credits minus debits per currency, summed by the server over the doctor's ledger lines. */
  protected async ledgerSums(doctorId: HostId): Promise<Record<string, number>> {
    const rows = await this.c.ledger
      .aggregate<{ _id: string; balance: number }>(ledgerBalancesPipeline(doctorId), this.readOptions())
      .toArray();
    return Object.fromEntries(rows.map((row) => [row._id, row.balance]));
  }

  /** Whether the wallet totals' backfill marker exists (read until it is seen once). */
  async walletTotalsBackfilled(): Promise<boolean> {
    const state = this.deps.walletTotals;
    if (state?.backfilled) return true;
    const marker = await this.c.migration.findOne(
      migrationFilter(WALLET_BALANCES_MIGRATION),
      this.readOptions({ projection: { state: 1 } }),
    );
    const done = marker?.state === 'done';
    if (done && state) state.backfilled = true;
    return done;
  }

  /** The doctor after `previous` in the ledger's doctor order, or null after the last. */
  async nextLedgerDoctor(previous: HostId | null): Promise<HostId | null> {
    const [line] = await this.c.ledger
      .find(nextLedgerDoctorFilter(previous), {
        ...this.readOptions({ projection: { doctorId: 1 } }),
        sort: LEDGER_DOCTOR_SORT,
        ...listOptions(1),
      })
      .toArray();
    return line ? line.doctorId : null;
  }

  async hasProcessedEvent(id: string): Promise<boolean> {
    return this.exists('event', eventFilter(toKey(id, 'eventId')));
  }

  async getPaymentCustomer(args: { patientId: string; provider: string }): Promise<PaymentCustomer | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('getPaymentCustomer');
    const filter = customerFilter(
      toHostId(args.patientId, 'patientId', this.deps.hostIds),
      toKey(args.provider, 'provider'),
    );
    const doc = await this.c.customer.findOne(filter, this.readOptions());
    return doc ? documentToCustomer(doc) : null;
  }

  async findOutbox(query: OutboxQuery): Promise<OutboxRecord[]> {
    const { filter, limit } = outboxQueryFilter(query);
    if (limit === 0) return [];
    const docs = await this.c.outbox
      .find(filter, { ...this.readOptions(), sort: OUTBOX_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToOutbox);
  }

  async findAvailability(query: AvailabilityQuery): Promise<AvailabilityRecord[]> {
    const filter = availabilityQueryFilter(query, this.deps.hostIds);
    const docs = await this.c.availability
      .find(filter, { ...this.readOptions(), sort: AVAILABILITY_SORT, ...listOptions(undefined) })
      .toArray();
    return docs.filter(isInForce).map(documentToAvailability);
  }

  async getTimeOff(id: string): Promise<TimeOff | null> {
    const doc = await this.c.timeOff.findOne(byId(toObjectId(id, 'timeOffId')), this.readOptions());
    return doc ? documentToTimeOff(doc) : null;
  }

  async findTimeOff(query: TimeOffQuery): Promise<TimeOff[]> {
    const { filter, limit } = timeOffQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.timeOff
      .find(filter, { ...this.readOptions(), sort: TIME_OFF_SORT, ...listOptions(limit) })
      .toArray();
    return docs.map(documentToTimeOff);
  }
}

/**
 * The operations of one MongoDB transaction: the reads, every write and the locks, each with
 * the transaction's session. A duplicate key aborts a MongoDB transaction, so every unique
 * write is checked first on the transaction's snapshot; a key the check did not see (committed
 * by a concurrent transaction) throws UniqueConflictError, and the store runs the function
 * again, where the check answers null/false as the port says.
 */
export class MongooseOperations extends MongooseReads implements StoreOperations {
  declare protected readonly session: ClientSession;

  constructor(deps: OperationsDeps, session: ClientSession) {
    if (session === null || typeof session !== 'object') {
      throw new TypeError('MongooseOperations: writes run only inside a transaction; pass its session');
    }
    super(deps, session);
  }

  private writeOptions(): { session: ClientSession } {
    return { session: this.session };
  }

  private async cast<K extends MongooseStoreModelKey>(key: K, doc: DocumentsByKey[K]): Promise<DocumentsByKey[K]> {
    const Model = this.deps.models[key] as unknown as new (value: unknown) => mongoose.Document;
    const hydrated = new Model(doc);
    try {
      await hydrated.validate();
    } catch (error) {
      // Not retryable, so it becomes INVALID_INPUT here, inside the transaction.
      throw toStoreError(error, `${this.deps.models[key].modelName} validation`);
    }
    return hydrated.toObject(TO_OBJECT) as DocumentsByKey[K];
  }

  /** A unique index said no to a key the checks did not see: the transaction runs again. */
  private uniqueConflict(error: unknown, operation: string): never {
    if (!isDuplicateKeyError(error)) throw error;
    throw new UniqueConflictError(operation, { cause: error });
  }

  private async insertUnique<K extends MongooseStoreModelKey>(
    key: K,
    doc: DocumentsByKey[K],
    operation: string,
  ): Promise<DocumentsByKey[K]> {
    const cast = await this.cast(key, doc);
    try {
      await this.c[key].insertOne(cast, this.writeOptions());
      return cast;
    } catch (error) {
      return this.uniqueConflict(error, operation);
    }
  }

  // ---- schedules ----

  async insertSchedule(schedule: NewSchedule): Promise<Schedule> {
    const doc = await this.cast('schedule', scheduleToDocument(schedule, this.deps.hostIds, this.deps.now()));
    await this.c.schedule.insertOne(doc, this.writeOptions());
    return documentToSchedule(doc);
  }

  async updateScheduleIf(update: ScheduleUpdate): Promise<Schedule | null> {
    if (update === null || typeof update !== 'object') throw invalidArgument('updateScheduleIf');
    const filter = scheduleCasFilter(
      toObjectId(update.id, 'id'),
      scheduleStatuses(update.expectedStatus, 'expectedStatus'),
    );
    const changes = scheduleChangesToDocument(update.set, this.deps.hostIds);
    const doc = await this.c.schedule.findOneAndUpdate(filter, scheduleSetUpdate(changes, this.deps.now()), {
      returnDocument: 'after',
      ...this.writeOptions(),
    });
    return doc ? documentToSchedule(doc) : null;
  }

  async deleteSchedulesIf(args: { ids: readonly string[]; expectedStatus: ScheduleStatus }): Promise<number> {
    if (args === null || typeof args !== 'object' || !Array.isArray(args.ids))
      throw invalidArgument('deleteSchedulesIf');
    const ids = args.ids.map((id, i) => toObjectId(id, `ids[${i}]`));
    const [status] = scheduleStatuses(args.expectedStatus, 'expectedStatus');
    if (ids.length === 0 || status === undefined) return 0;
    const result = await this.c.schedule.deleteMany(deleteSchedulesFilter(ids, status), this.writeOptions());
    return result.deletedCount;
  }

  // ---- bookings ----

  async insertBooking(booking: NewBooking): Promise<Booking | null> {
    const doc = bookingToDocument(booking, this.deps.hostIds, this.deps.now());
    // Checked first: the index's refusal would abort the whole transaction.
    if (doc.active && (await this.exists('booking', activeBookingFilter(doc.doctorScheduleId)))) return null;
    if (
      doc.idempotencyKey !== null &&
      (await this.exists('booking', idempotencyFilter(doc.patientId, doc.idempotencyKey)))
    ) {
      return null;
    }
    return documentToBooking(await this.insertUnique('booking', doc, 'insertBooking'));
  }

  async updateBookingIf(update: BookingUpdate): Promise<Booking | null> {
    if (update === null || typeof update !== 'object') throw invalidArgument('updateBookingIf');
    const id = toObjectId(update.id, 'id');
    const expected = {
      status: bookingStatuses(update.expectedStatus, 'expectedStatus'),
      ...(update.expectedPaymentStatus === undefined
        ? {}
        : { paymentStatus: paymentStatuses(update.expectedPaymentStatus, 'expectedPaymentStatus') }),
      ...(update.expectedScheduleId === undefined
        ? {}
        : { scheduleId: toObjectId(update.expectedScheduleId, 'expectedScheduleId') }),
    };
    const changes = bookingChangesToDocument(update.set);
    const history = update.history === undefined ? null : historyToDocument(update.history);

    // A second active booking must be seen before the write: the index's refusal would abort
    // the transaction. Reads and the write share one snapshot, and a concurrent commit to
    // either document makes the write conflict, so the check cannot go stale.
    const current = await this.c.booking.findOne(byId(id), this.readOptions());
    if (!current || !expected.status.includes(current.status)) return null;
    if (expected.paymentStatus !== undefined && !expected.paymentStatus.includes(current.paymentStatus)) return null;
    if (expected.scheduleId !== undefined && !expected.scheduleId.equals(current.doctorScheduleId)) return null;
    const willBeActive = changes.active ?? isActiveBookingStatus(current.status);
    const slot = changes.doctorScheduleId ?? current.doctorScheduleId;
    if (willBeActive && (await this.exists('booking', activeBookingFilter(slot, id)))) return null;
    try {
      const doc = await this.c.booking.findOneAndUpdate(
        bookingCasFilter(id, expected),
        bookingUpdate(changes, history, this.deps.now()),
        { returnDocument: 'after', ...this.writeOptions() },
      );
      return doc ? documentToBooking(doc) : null;
    } catch (error) {
      return this.uniqueConflict(error, 'updateBookingIf');
    }
  }

  async markReminderSent(args: { bookingId: string; key: string; slotStart: Date }): Promise<Booking | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('markReminderSent');
    const id = toObjectId(args.bookingId, 'bookingId');
    const key = toKey(args.key, 'key');
    const slotStart = toDate(args.slotStart, 'slotStart');
    // One compare-and-set: of two senders the second finds the key (or conflicts and, run
    // again on the first's commit, finds it) and gets null.
    const doc = await this.c.booking.findOneAndUpdate(
      reminderFilter(id, key, slotStart),
      reminderUpdate(key, this.deps.now()),
      { returnDocument: 'after', ...this.writeOptions() },
    );
    return doc ? documentToBooking(doc) : null;
  }

  // ---- payments ----

  async insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null> {
    const doc = paymentToDocument(transaction, this.deps.now());
    if (await this.exists('payment', providerPaymentFilter(doc.provider, doc.providerPaymentId))) return null;
    return documentToPayment(await this.insertUnique('payment', doc, 'insertPaymentTransaction'));
  }

  async upsertRefund(args: { paymentTransactionId: string; refund: RefundRecord }): Promise<PaymentTransaction | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('upsertRefund');
    const id = toObjectId(args.paymentTransactionId, 'paymentTransactionId');
    const refund = refundToDocument(args.refund);
    // Read, change the array, write back (the derived `status` needs the whole array, which a
    // positional update cannot give). The read and the write share the transaction's snapshot,
    // and a concurrent commit to the payment makes the write conflict, so nothing is lost; the
    // version in the filter and its bump keep host code that versions documents honest too.
    const current = await this.c.payment.findOne(byId(id), this.readOptions());
    if (!current) return null;
    const refunds = withRefund(current.refunds ?? [], refund);
    const doc = await this.c.payment.findOneAndUpdate(
      paymentVersionFilter(id, current.__v),
      refundsUpdate(refunds, paymentStatusOf(current.amount, refunds), this.deps.now()),
      { returnDocument: 'after', ...this.writeOptions() },
    );
    if (!doc) {
      throw new BookingError(
        'STORE_ERROR',
        `MongooseStore: payment ${id.toHexString()} changed inside the transaction during upsertRefund; ` +
          'transactions need snapshot reads (keep readConcern: snapshot in transactionOptions)',
      );
    }
    return documentToPayment(doc);
  }

  // ---- ledger, events, customers ----

  /**
   * Inserts the line, then changes its doctor's total in its currency in the same transaction:
   * `$inc` by the line's amount. A key already there changes neither. Two transactions adding to
   * one total both write its document, so one of them conflicts and runs again on the other's
   * result: the total stays the sum of the lines under snapshot isolation.
   */
  async appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean> {
    const doc = ledgerToDocument(entry, this.deps.hostIds);
    if (await this.exists('ledger', ledgerKeyFilter(doc.key))) return false;
    const line = await this.insertUnique('ledger', doc, 'appendLedgerEntry');
    await this.addToWalletTotal(line);
    return true;
  }

  /**
   * The common case is one update of an existing total. A missing total (the doctor's first line
   * in that currency, or the first since an upgrade to running totals) starts from the sum of
   * every line there is, this one included, so lines written before the totals existed count
   * too. Two first lines at once both upsert the same (doctorId, currency) key: the unique
   * index makes one of them conflict and run again, where it finds the total and `$inc`s it.
   */
  private async addToWalletTotal(line: DocumentsByKey['ledger']): Promise<void> {
    const filter = walletBalanceFilter(line.doctorId, line.currency);
    const now = this.deps.now();
    const updated = await this.c.walletBalance.updateOne(
      filter,
      walletBalanceIncrement(ledgerDelta(line), now),
      this.writeOptions(),
    );
    if (updated.matchedCount > 0) return;
    const start = (await this.ledgerSums(line.doctorId))[line.currency] ?? ledgerDelta(line);
    try {
      await this.c.walletBalance.updateOne(filter, walletBalanceIncrement(start, now), {
        upsert: true,
        ...this.writeOptions(),
      });
    } catch (error) {
      this.uniqueConflict(error, 'appendLedgerEntry');
    }
  }

  /**
   * Sets each of the doctor's totals to what the doctor's lines in that currency sum to on this
   * transaction's snapshot (the backfill). Every total it writes conflicts with a concurrent
   * `appendLedgerEntry` of that doctor and currency, so whichever commits second runs again on
   * the other's result and the total stays exact. Returns how many totals it wrote.
   */
  async recomputeWalletTotals(doctorId: HostId): Promise<number> {
    const sums = await this.ledgerSums(doctorId);
    const now = this.deps.now();
    for (const [currency, balance] of Object.entries(sums)) {
      try {
        await this.c.walletBalance.updateOne(
          walletBalanceFilter(doctorId, currency),
          walletBalanceReset(balance, now),
          {
            upsert: true,
            ...this.writeOptions(),
          },
        );
      } catch (error) {
        this.uniqueConflict(error, 'backfillWalletBalances');
      }
    }
    return Object.keys(sums).length;
  }

  /** Writes the marker of a finished migration (again, when it ran again). */
  async markMigrationDone(name: string, processed: number): Promise<void> {
    try {
      await this.c.migration.updateOne(migrationFilter(name), migrationDoneUpdate(processed, this.deps.now()), {
        upsert: true,
        ...this.writeOptions(),
      });
    } catch (error) {
      // Two runs finished at once and both inserted the marker: the later one runs again.
      this.uniqueConflict(error, 'markMigrationDone');
    }
  }

  async recordProcessedEvent(event: { id: string; type: string; at: Date }): Promise<boolean> {
    const doc = eventToDocument(event);
    if (await this.exists('event', eventFilter(doc.eventId))) return false;
    await this.insertUnique('event', doc, 'recordProcessedEvent');
    return true;
  }

  async lockPatient(patientId: string): Promise<void> {
    await this.lock(
      'patientLock',
      patientLockFilter(toHostId(patientId, 'patientId', this.deps.hostIds)),
      'lockPatient',
    );
  }

  async lockDoctor(doctorId: string): Promise<void> {
    await this.lock('doctorLock', doctorLockFilter(toHostId(doctorId, 'doctorId', this.deps.hostIds)), 'lockDoctor');
  }

  /** Writes the lock document (created on first use), so a concurrent locker's write conflicts. */
  private async lock(key: 'patientLock' | 'doctorLock', filter: Filter, operation: string): Promise<void> {
    try {
      await this.c[key].findOneAndUpdate(filter, lockUpdate(this.deps.now()), {
        returnDocument: 'after',
        upsert: true,
        ...this.writeOptions(),
      });
    } catch (error) {
      // Two transactions created the lock document at once: the later one runs again.
      this.uniqueConflict(error, operation);
    }
  }

  async savePaymentCustomer(customer: PaymentCustomer): Promise<PaymentCustomer> {
    if (customer === null || typeof customer !== 'object') throw invalidArgument('savePaymentCustomer');
    const filter = customerFilter(
      toHostId(customer.patientId, 'patientId', this.deps.hostIds),
      toKey(customer.provider, 'provider'),
    );
    const update = customerUpsertUpdate(toKey(customer.customerId, 'customerId'), this.deps.now());
    let doc: DocumentsByKey['customer'] | null;
    try {
      doc = await this.c.customer.findOneAndUpdate(filter, update, {
        returnDocument: 'after',
        upsert: true,
        ...this.writeOptions(),
      });
    } catch (error) {
      // Two upserts raced to insert: the transaction runs again and finds the other's mapping.
      return this.uniqueConflict(error, 'savePaymentCustomer');
    }
    if (!doc) throw new BookingError('STORE_ERROR', 'MongooseStore: savePaymentCustomer stored nothing');
    return documentToCustomer(doc);
  }

  // ---- the outbox ----

  async appendOutbox(records: readonly NewOutboxRecord[]): Promise<number> {
    if (!Array.isArray(records)) throw invalidArgument('appendOutbox', 'an array of outbox records');
    // Every record is validated before anything is written: a bad one writes none.
    const docs = records.map((record, i) => outboxToDocument(record, `records[${i}]`));
    const seen = new Set<string>();
    let added = 0;
    for (const doc of docs) {
      if (seen.has(doc.key)) continue;
      seen.add(doc.key);
      // Checked first: the unique index's refusal would abort the whole transaction.
      if (await this.exists('outbox', outboxKeyFilter(doc.key))) continue;
      await this.insertUnique('outbox', doc, 'appendOutbox');
      added++;
    }
    return added;
  }

  /**
   * Reads the due candidates on the transaction's snapshot, oldest (createdAt, key) first, then
   * leases each with a write whose filter repeats the due condition. A concurrent claimer that
   * leased one of them first makes that write conflict, and the transaction runs again on its
   * result, so two claims never return the same record.
   */
  async claimOutbox(claim: OutboxClaim): Promise<OutboxRecord[]> {
    if (claim === null || typeof claim !== 'object') throw invalidArgument('claimOutbox');
    const consumer = toKey(claim.consumer, 'consumer');
    const owner = toKey(claim.owner, 'owner');
    const now = toDate(claim.now, 'now');
    const leaseUntil = toDate(claim.leaseUntil, 'leaseUntil');
    const limit = toWholeNumber(claim.limit, 'limit');
    let keys: string[] | undefined;
    if (claim.keys !== undefined) {
      if (!Array.isArray(claim.keys)) throw invalidArgument('claimOutbox', 'an object whose keys are an array');
      keys = claim.keys.map((key, i) => toKey(key, `keys[${i}]`));
    }
    if (limit === 0 || keys?.length === 0) return [];
    const candidates = await this.c.outbox
      .find(outboxClaimFilter(consumer, now, keys), {
        ...this.readOptions({ projection: { _id: 1, key: 1 } }),
        sort: OUTBOX_SORT,
        ...listOptions(limit),
      })
      .toArray();
    const leased: OutboxRecord[] = [];
    for (const candidate of candidates) {
      const doc = await this.c.outbox.findOneAndUpdate(
        outboxLeaseFilter(candidate.key, consumer, now),
        outboxLeaseUpdate(owner, leaseUntil),
        { returnDocument: 'after', ...this.writeOptions() },
      );
      if (doc) leased.push(documentToOutbox(doc));
    }
    return leased;
  }

  async completeOutbox(args: { key: string; owner: string; at: Date }): Promise<boolean> {
    if (args === null || typeof args !== 'object') throw invalidArgument('completeOutbox');
    const filter = outboxHeldFilter(toKey(args.key, 'key'), toKey(args.owner, 'owner'));
    const update = outboxCompleteUpdate(toDate(args.at, 'at'));
    return (await this.c.outbox.findOneAndUpdate(filter, update, this.updateOptions())) !== null;
  }

  async failOutbox(args: { key: string; owner: string; error: string; retryAt: Date | null }): Promise<boolean> {
    if (args === null || typeof args !== 'object') throw invalidArgument('failOutbox');
    const filter = outboxHeldFilter(toKey(args.key, 'key'), toKey(args.owner, 'owner'));
    if (typeof args.error !== 'string') {
      throw new BookingError('INVALID_INPUT', 'error must be a string', { details: { field: 'error' } });
    }
    const retryAt = args.retryAt === null ? null : toDate(args.retryAt, 'retryAt');
    const update = outboxFailUpdate(args.error, retryAt);
    return (await this.c.outbox.findOneAndUpdate(filter, update, this.updateOptions())) !== null;
  }

  async releaseOutbox(args: { key: string; owner: string }): Promise<boolean> {
    if (args === null || typeof args !== 'object') throw invalidArgument('releaseOutbox');
    const filter = outboxHeldFilter(toKey(args.key, 'key'), toKey(args.owner, 'owner'));
    return (await this.c.outbox.findOneAndUpdate(filter, OUTBOX_RELEASE_UPDATE, this.updateOptions())) !== null;
  }

  async redriveOutbox(args: { key: string; at: Date }): Promise<boolean> {
    if (args === null || typeof args !== 'object') throw invalidArgument('redriveOutbox');
    const filter = outboxDeadFilter(toKey(args.key, 'key'));
    const update = outboxRedriveUpdate(toDate(args.at, 'at'));
    return (await this.c.outbox.findOneAndUpdate(filter, update, this.updateOptions())) !== null;
  }

  /** Finds up to `limit` old deliveries (oldest delivery first, on the retention index), then deletes those by id. */
  async deleteDeliveredOutbox(args: { deliveredBefore: Date; limit: number }): Promise<number> {
    if (args === null || typeof args !== 'object') throw invalidArgument('deleteDeliveredOutbox');
    const deliveredBefore = toDate(args.deliveredBefore, 'deliveredBefore');
    const limit = toWholeNumber(args.limit, 'limit');
    if (limit === 0) return 0;
    const old = await this.c.outbox
      .find(outboxRetentionFilter(deliveredBefore), {
        ...this.readOptions({ projection: { _id: 1 } }),
        sort: OUTBOX_RETENTION_SORT,
        ...listOptions(limit),
      })
      .toArray();
    if (old.length === 0) return 0;
    const result = await this.c.outbox.deleteMany(deleteOutboxFilter(old.map((doc) => doc._id)), this.writeOptions());
    return result.deletedCount;
  }

  // ---- availability versions and time off ----

  async insertAvailability(record: NewAvailabilityRecord): Promise<AvailabilityRecord> {
    const doc = await this.cast('availability', availabilityToDocument(record, this.deps.hostIds, this.deps.now()));
    await this.c.availability.insertOne(doc, this.writeOptions());
    return documentToAvailability(doc);
  }

  /**
   * Reads the doctor's versions that end after `at` on the transaction's snapshot, then ends
   * each with a write whose filter repeats the end it read: a concurrent change to one of them
   * makes that write conflict, and the transaction runs again on the other's result. (One
   * pipeline `updateMany` with `$max` would do it in a round trip, but a doctor has few versions.)
   */
  async endAvailability(args: { doctorId: string; at: Date }): Promise<number> {
    if (args === null || typeof args !== 'object') throw invalidArgument('endAvailability');
    const doctorId = toHostId(args.doctorId, 'doctorId', this.deps.hostIds);
    const at = toDate(args.at, 'at');
    const versions = await this.c.availability
      .find(availabilityEndFilter(doctorId, at), {
        ...this.readOptions({ projection: { _id: 1, effectiveFrom: 1, effectiveUntil: 1 } }),
        sort: AVAILABILITY_SORT,
        ...listOptions(undefined),
      })
      .toArray();
    let changed = 0;
    for (const version of versions.filter(isInForce)) {
      const { filter, update } = availabilityEndWrite(version, at);
      if (await this.c.availability.findOneAndUpdate(filter, update, this.updateOptions())) changed++;
    }
    return changed;
  }

  async insertTimeOff(timeOff: NewTimeOff): Promise<TimeOff> {
    const doc = await this.cast('timeOff', timeOffToDocument(timeOff, this.deps.hostIds, this.deps.now()));
    await this.c.timeOff.insertOne(doc, this.writeOptions());
    return documentToTimeOff(doc);
  }

  async deleteTimeOff(id: string): Promise<boolean> {
    const result = await this.c.timeOff.deleteMany(byId(toObjectId(id, 'timeOffId')), this.writeOptions());
    return result.deletedCount > 0;
  }

  private updateOptions(): { returnDocument: 'after'; session: ClientSession } {
    return { returnDocument: 'after', ...this.writeOptions() };
  }
}

function invalidArgument(operation: string, expected = 'an object argument'): BookingError {
  return new BookingError('INVALID_INPUT', `${operation}: pass ${expected}`);
}

export type { ObjectId };
