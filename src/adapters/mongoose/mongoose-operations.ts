// The store operations over careslot's collections, alone or inside one MongoDB transaction.
import type mongoose from 'mongoose';
import type {
  Booking,
  LedgerEntry,
  PaymentCustomer,
  PaymentTransaction,
  RefundRecord,
  Schedule,
} from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
import { isActiveBookingStatus, type ScheduleStatus } from '../../domain/status.js';
import type {
  BookingQuery,
  BookingUpdate,
  NewBooking,
  NewLedgerEntry,
  NewPaymentTransaction,
  NewSchedule,
  ScheduleQuery,
  ScheduleUpdate,
  StoreOperations,
} from '../../ports/booking-store.js';
import type { DocumentsByKey, MongooseStoreModelKey } from './documents.js';
import { isDuplicateKeyError, toStoreError, UniqueConflictError } from './errors.js';
import { type HostIdMode, type ObjectId, toHostId, toKey, toObjectId } from './ids.js';
import {
  bookingChangesToDocument,
  bookingStatuses,
  bookingToDocument,
  documentToBooking,
  documentToCustomer,
  documentToLedger,
  documentToPayment,
  documentToSchedule,
  eventToDocument,
  historyToDocument,
  ledgerToDocument,
  paymentStatuses,
  paymentStatusOf,
  paymentToDocument,
  refundToDocument,
  scheduleChangesToDocument,
  scheduleStatuses,
  scheduleToDocument,
  withRefund,
} from './mapping.js';
import {
  activeBookingFilter,
  bookingCasFilter,
  bookingQueryFilter,
  bookingUpdate,
  byId,
  CREATED_SORT,
  customerFilter,
  customerUpsertUpdate,
  deleteSchedulesFilter,
  eventFilter,
  type Filter,
  idempotencyFilter,
  ledgerKeyFilter,
  ledgerQueryFilter,
  patientLockFilter,
  patientLockUpdate,
  paymentQueryFilter,
  paymentVersionFilter,
  providerPaymentFilter,
  refundsUpdate,
  SCHEDULE_SORT,
  scheduleCasFilter,
  scheduleQueryFilter,
  scheduleSetUpdate,
  type Update,
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
    options: ReadOptions & { sort: Readonly<Record<string, 1 | -1>>; limit?: number },
  ): { toArray(): Promise<T[]> };
  findOneAndUpdate(
    filter: Filter,
    update: Update,
    options: { returnDocument: 'after'; upsert?: boolean; session?: ClientSession },
  ): Promise<T | null>;
  deleteMany(filter: Filter, options: { session?: ClientSession }): Promise<{ deletedCount: number }>;
  countDocuments(filter: Filter, options: ReadOptions): Promise<number>;
}

export type StoreCollections = { [K in MongooseStoreModelKey]: StoreCollection<DocumentsByKey[K]> };
export type StoreModels = { [K in MongooseStoreModelKey]: mongoose.Model<DocumentsByKey[K]> };

export interface OperationsDeps {
  /** Cast and validate documents before they are written. */
  models: StoreModels;
  collections: StoreCollections;
  hostIds: HostIdMode;
  now: () => Date;
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

/** How often an outside-transaction refund write re-reads after losing its optimistic lock. */
const REFUND_WRITE_ATTEMPTS = 25;

export class MongooseOperations implements StoreOperations {
  constructor(
    private readonly deps: OperationsDeps,
    /** Present inside a transaction: every call then passes it, and unique writes check first. */
    private readonly session: ClientSession | null,
  ) {}

  private get c(): StoreCollections {
    return this.deps.collections;
  }

  private readOptions(extra: Omit<ReadOptions, 'session' | 'readPreference'> = {}): ReadOptions {
    // In a transaction the read preference is the transaction's (primary); outside, reads go to
    // the primary too, so a read right after a write sees it whatever the host's default is.
    return this.session ? { ...extra, session: this.session } : { ...extra, readPreference: 'primary' };
  }

  private writeOptions(): { session?: ClientSession } {
    return this.session ? { session: this.session } : {};
  }

  private async cast<K extends MongooseStoreModelKey>(key: K, doc: DocumentsByKey[K]): Promise<DocumentsByKey[K]> {
    const Model = this.deps.models[key] as unknown as new (value: unknown) => mongoose.Document;
    const hydrated = new Model(doc);
    try {
      await hydrated.validate();
    } catch (error) {
      // Not retryable, so it becomes INVALID_INPUT here, inside a transaction too.
      throw toStoreError(error, `${this.deps.models[key].modelName} validation`);
    }
    return hydrated.toObject(TO_OBJECT) as DocumentsByKey[K];
  }

  /** A unique index said no: null/false outside a transaction; inside, the transaction runs again. */
  private uniqueConflict(error: unknown, operation: string): null {
    if (!isDuplicateKeyError(error)) throw error;
    if (this.session) throw new UniqueConflictError(operation, { cause: error });
    return null;
  }

  private async insertUnique<K extends MongooseStoreModelKey>(
    key: K,
    doc: DocumentsByKey[K],
    operation: string,
  ): Promise<DocumentsByKey[K] | null> {
    const cast = await this.cast(key, doc);
    try {
      await this.c[key].insertOne(cast, this.writeOptions());
      return cast;
    } catch (error) {
      return this.uniqueConflict(error, operation);
    }
  }

  private async exists<K extends MongooseStoreModelKey>(key: K, filter: Filter): Promise<boolean> {
    return (await this.c[key].findOne(filter, this.readOptions({ projection: EXISTS }))) !== null;
  }

  // ---- schedules ----

  async insertSchedule(schedule: NewSchedule): Promise<Schedule> {
    const doc = await this.cast('schedule', scheduleToDocument(schedule, this.deps.hostIds, this.deps.now()));
    await this.c.schedule.insertOne(doc, this.writeOptions());
    return documentToSchedule(doc);
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    const doc = await this.c.schedule.findOne(byId(toObjectId(id, 'scheduleId')), this.readOptions());
    return doc ? documentToSchedule(doc) : null;
  }

  async findSchedules(query: ScheduleQuery): Promise<Schedule[]> {
    const { filter, limit } = scheduleQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.schedule
      .find(filter, { ...this.readOptions(), sort: SCHEDULE_SORT, ...(limit === undefined ? {} : { limit }) })
      .toArray();
    return docs.map(documentToSchedule);
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
    // Checked first because inside a transaction the index's refusal would abort everything;
    // outside one, the unique indexes still decide between concurrent inserts.
    if (doc.active && (await this.exists('booking', activeBookingFilter(doc.doctorScheduleId)))) return null;
    if (
      doc.idempotencyKey !== null &&
      (await this.exists('booking', idempotencyFilter(doc.patientId, doc.idempotencyKey)))
    ) {
      return null;
    }
    const inserted = await this.insertUnique('booking', doc, 'insertBooking');
    return inserted ? documentToBooking(inserted) : null;
  }

  async getBooking(id: string): Promise<Booking | null> {
    const doc = await this.c.booking.findOne(byId(toObjectId(id, 'bookingId')), this.readOptions());
    return doc ? documentToBooking(doc) : null;
  }

  async findBookings(query: BookingQuery): Promise<Booking[]> {
    const { filter, limit } = bookingQueryFilter(query, this.deps.hostIds);
    if (limit === 0) return [];
    const docs = await this.c.booking
      .find(filter, { ...this.readOptions(), sort: CREATED_SORT, ...(limit === undefined ? {} : { limit }) })
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

  async updateBookingIf(update: BookingUpdate): Promise<Booking | null> {
    if (update === null || typeof update !== 'object') throw invalidArgument('updateBookingIf');
    const id = toObjectId(update.id, 'id');
    const expected = bookingStatuses(update.expectedStatus, 'expectedStatus');
    const expectedPayment =
      update.expectedPaymentStatus === undefined
        ? undefined
        : paymentStatuses(update.expectedPaymentStatus, 'expectedPaymentStatus');
    const changes = bookingChangesToDocument(update.set);
    const history = update.history === undefined ? null : historyToDocument(update.history);

    if (this.session) {
      // A second active booking must be seen before the write: the index's refusal would abort
      // the transaction. Reads and the write share one snapshot, and a concurrent commit to
      // either document makes the write conflict, so the check cannot go stale.
      const current = await this.c.booking.findOne(byId(id), this.readOptions());
      if (!current || !expected.includes(current.status)) return null;
      if (expectedPayment !== undefined && !expectedPayment.includes(current.paymentStatus)) return null;
      const willBeActive = changes.active ?? isActiveBookingStatus(current.status);
      const slot = changes.doctorScheduleId ?? current.doctorScheduleId;
      if (willBeActive && (await this.exists('booking', activeBookingFilter(slot, id)))) return null;
    }
    try {
      const doc = await this.c.booking.findOneAndUpdate(
        bookingCasFilter(id, expected, expectedPayment),
        bookingUpdate(changes, history, this.deps.now()),
        { returnDocument: 'after', ...this.writeOptions() },
      );
      return doc ? documentToBooking(doc) : null;
    } catch (error) {
      return this.uniqueConflict(error, 'updateBookingIf');
    }
  }

  // ---- payments ----

  async insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null> {
    const doc = paymentToDocument(transaction, this.deps.now());
    if (await this.exists('payment', providerPaymentFilter(doc.provider, doc.providerPaymentId))) return null;
    const inserted = await this.insertUnique('payment', doc, 'insertPaymentTransaction');
    return inserted ? documentToPayment(inserted) : null;
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

  async findPaymentTransactions(query: {
    bookingId?: string;
    refundStatus?: RefundRecord['status'];
  }): Promise<PaymentTransaction[]> {
    const docs = await this.c.payment
      .find(paymentQueryFilter(query), { ...this.readOptions(), sort: CREATED_SORT })
      .toArray();
    return docs.map(documentToPayment);
  }

  async upsertRefund(args: { paymentTransactionId: string; refund: RefundRecord }): Promise<PaymentTransaction | null> {
    if (args === null || typeof args !== 'object') throw invalidArgument('upsertRefund');
    const id = toObjectId(args.paymentTransactionId, 'paymentTransactionId');
    const refund = refundToDocument(args.refund);
    // Read, change the array, write back only if nobody wrote in between (version check):
    // the derived `status` needs the whole array, which a positional update cannot give.
    for (let attempt = 0; attempt < REFUND_WRITE_ATTEMPTS; attempt++) {
      const current = await this.c.payment.findOne(byId(id), this.readOptions());
      if (!current) return null;
      const refunds = withRefund(current.refunds ?? [], refund);
      const doc = await this.c.payment.findOneAndUpdate(
        paymentVersionFilter(id, current.__v),
        refundsUpdate(refunds, paymentStatusOf(current.amount, refunds), this.deps.now()),
        { returnDocument: 'after', ...this.writeOptions() },
      );
      if (doc) return documentToPayment(doc);
    }
    throw new BookingError(
      'STORE_ERROR',
      `MongooseStore: payment ${id.toHexString()} kept changing during upsertRefund`,
    );
  }

  // ---- ledger, events, customers ----

  async appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean> {
    const doc = ledgerToDocument(entry, this.deps.hostIds);
    if (await this.exists('ledger', ledgerKeyFilter(doc.key))) return false;
    return (await this.insertUnique('ledger', doc, 'appendLedgerEntry')) !== null;
  }

  async findLedgerEntries(query: { doctorId?: string; bookingId?: string }): Promise<LedgerEntry[]> {
    const docs = await this.c.ledger
      .find(ledgerQueryFilter(query, this.deps.hostIds), { ...this.readOptions(), sort: CREATED_SORT })
      .toArray();
    return docs.map(documentToLedger);
  }

  async recordProcessedEvent(event: { id: string; type: string; at: Date }): Promise<boolean> {
    const doc = eventToDocument(event);
    if (await this.exists('event', eventFilter(doc.eventId))) return false;
    return (await this.insertUnique('event', doc, 'recordProcessedEvent')) !== null;
  }

  async hasProcessedEvent(id: string): Promise<boolean> {
    return this.exists('event', eventFilter(toKey(id, 'eventId')));
  }

  async lockPatient(patientId: string): Promise<void> {
    const filter = patientLockFilter(toHostId(patientId, 'patientId', this.deps.hostIds));
    // Outside a transaction a lock would be released as soon as it is taken.
    if (!this.session) return;
    try {
      await this.c.patientLock.findOneAndUpdate(filter, patientLockUpdate(this.deps.now()), {
        returnDocument: 'after',
        upsert: true,
        session: this.session,
      });
    } catch (error) {
      // Two transactions created the patient's lock document at once: the later one runs again.
      this.uniqueConflict(error, 'lockPatient');
    }
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

  async savePaymentCustomer(customer: PaymentCustomer): Promise<PaymentCustomer> {
    if (customer === null || typeof customer !== 'object') throw invalidArgument('savePaymentCustomer');
    const filter = customerFilter(
      toHostId(customer.patientId, 'patientId', this.deps.hostIds),
      toKey(customer.provider, 'provider'),
    );
    const update = customerUpsertUpdate(toKey(customer.customerId, 'customerId'), this.deps.now());
    try {
      const doc = await this.c.customer.findOneAndUpdate(filter, update, {
        returnDocument: 'after',
        upsert: true,
        ...this.writeOptions(),
      });
      if (doc) return documentToCustomer(doc);
    } catch (error) {
      // Two upserts raced to insert: the other one's mapping is the stored one.
      this.uniqueConflict(error, 'savePaymentCustomer');
    }
    const stored = await this.c.customer.findOne(filter, this.readOptions());
    if (!stored) throw new BookingError('STORE_ERROR', 'MongooseStore: savePaymentCustomer stored nothing');
    return documentToCustomer(stored);
  }
}

function invalidArgument(operation: string): BookingError {
  return new BookingError('INVALID_INPUT', `${operation}: pass an object argument`);
}

export type { ObjectId };
