// The store's SQL: every read of the port (alone or in a transaction) and the writes and locks of one transaction.
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
import {
  BOOKING_STATUSES,
  isActiveBookingStatus,
  PAYMENT_STATUSES,
  SCHEDULE_STATUSES,
  type ScheduleStatus,
} from '../../domain/status.js';
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
import {
  invalid,
  newRecordId,
  objectArgument,
  oneOrMany,
  toBound,
  toCursorId,
  toDate,
  toId,
  toLimit,
  toNullableDate,
  toText,
} from './ids.js';
import {
  AVAILABILITY_COLUMNS,
  availabilityValues,
  BOOKING_COLUMNS,
  bookingChanges,
  bookingValues,
  historyToJson,
  jsonParam,
  LEDGER_COLUMNS,
  ledgerValues,
  MAX_OUTBOX_ERROR,
  MAX_OUTBOX_KEY,
  MAX_REMINDER_KEY,
  OUTBOX_COLUMNS,
  OUTBOX_STATUSES,
  outboxValues,
  PAYMENT_COLUMNS,
  paymentValues,
  REFUND_STATUSES,
  refundToJson,
  rowsToBalances,
  rowToAvailability,
  rowToBooking,
  rowToCustomer,
  rowToLedger,
  rowToOutbox,
  rowToPayment,
  rowToSchedule,
  rowToTimeOff,
  SCHEDULE_COLUMNS,
  scheduleChanges,
  scheduleValues,
  TIME_OFF_COLUMNS,
  timeOffValues,
} from './mapping.js';
import { DatabaseFailure, type Row, type SqlSession } from './sql-client.js';
import type { TableNames } from './tables.js';

export interface OperationsDeps {
  names: TableNames;
  now: () => Date;
  /**
   * PGlite: one connection, transactions one at a time. Nothing runs beside a transaction, so
   * the lock rows would only cost a statement each (the port lets a serializable store skip them).
   */
  serialized: boolean;
}

/** `$1, $2, ... $n` */
const placeholders = (count: number, from = 1): string =>
  Array.from({ length: count }, (_, i) => `$${i + from}`).join(', ');

/** Builds a WHERE clause with numbered parameters: values never enter the SQL text. */
class Where {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];

  add(sql: (param: string) => string, value: unknown): void {
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
  }

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /**
   * `column` is one of `values`. One value is an equality, not `= ANY(array)`: PostgreSQL reads an
   * index in ORDER BY order only past equalities, so `status = $1` walks the status's index (e.g.
   * (status, created_at, id)) and stops at the LIMIT, where `status = ANY($1)` reads and sorts
   * every match, or walks another index betting on finding matches early.
   */
  oneOf(column: string, values: readonly string[]): void {
    const distinct = [...new Set(values)];
    if (distinct.length === 1) this.add((p) => `${column} = ${p}`, distinct[0]);
    else this.add((p) => `${column} = ANY(${p}::text[])`, distinct);
  }

  /** A condition on parameters already taken with `param`. */
  raw(sql: string): void {
    this.parts.push(sql);
  }

  /** The clause with one more condition (on parameters already taken), leaving this one as it is. */
  and(sql: string): string {
    return ` WHERE ${[...this.parts, sql].join(' AND ')}`;
  }

  toString(): string {
    return this.parts.length === 0 ? '' : ` WHERE ${this.parts.join(' AND ')}`;
  }
}

const ACTIVE = `status IN ('pending', 'scheduled')`;

/**
 * A version that may still be in force after `$2`: open-ended, or ending after `$2` and not empty
 * (a version ended where it began never applied to any instant).
 */
const IN_FORCE_AFTER = '(effective_until IS NULL OR (effective_until > $2 AND effective_until > effective_from))';

/**
 * Every read of the port. On the store each runs alone (the committed data at that moment);
 * inside a transaction it reads the transaction's snapshot plus its own writes (REPEATABLE READ:
 * one snapshot for the whole transaction), never taking a lock: a write to a row someone else
 * changed after that snapshot aborts the transaction (40001) and the store runs it again.
 */
export class PostgresReads implements StoreReads {
  constructor(
    protected readonly deps: OperationsDeps,
    protected readonly db: SqlSession,
  ) {}

  protected get t() {
    return this.deps.names.qualified;
  }

  protected async one<T>(sql: string, params: unknown[], map: (row: Record<string, unknown>) => T): Promise<T | null> {
    const [row] = await this.db.query(sql, params);
    return row ? map(row) : null;
  }

  async getSchedule(id: string): Promise<Schedule | null> {
    return this.one(
      `SELECT ${SCHEDULE_COLUMNS} FROM ${this.t.schedules} WHERE id = $1`,
      [toId(id, 'scheduleId')],
      rowToSchedule,
    );
  }

  async findSchedules(input: ScheduleQuery): Promise<Schedule[]> {
    const query = objectArgument(input, 'query');
    const where = new Where();
    const statuses =
      query.status === undefined ? [] : [...new Set(oneOrMany(SCHEDULE_STATUSES, query.status, 'status'))];
    const limit = toLimit(query.limit);
    // Several statuses across doctors with a LIMIT (the sweep of ended slots): one ordered,
    // LIMITed branch per status, merged. In one scan the planner could only read every slot of
    // those statuses and sort them, or walk start_time betting the statuses are spread evenly,
    // when the ended ones it wants are the few among the past ones.
    const perStatus = statuses.length > 1 && limit !== undefined && query.doctorId === undefined;
    if (query.doctorId !== undefined) where.add((p) => `created_by = ${p}`, toId(query.doctorId, 'doctorId'));
    if (statuses.length > 0 && !perStatus) where.oneOf('status', statuses);
    if (query.startFrom !== undefined) where.add((p) => `start_time >= ${p}`, toBound(query.startFrom, 'startFrom'));
    if (query.startBefore !== undefined)
      where.add((p) => `start_time < ${p}`, toBound(query.startBefore, 'startBefore'));
    if (query.endBefore !== undefined) {
      // A slot never ends before it starts, so "ended by" bounds the start too: the sweep and the
      // clean-up then walk their status's (start_time, id) index up to that bound and stop at
      // their limit, instead of sorting every slot that ever ended.
      const p = where.param(toBound(query.endBefore, 'endBefore'));
      where.raw(`end_time <= ${p} AND start_time <= ${p}`);
    }
    if (query.endAfter !== undefined) where.add((p) => `end_time > ${p}`, toBound(query.endAfter, 'endAfter'));
    if (query.after !== undefined) {
      const after = objectArgument(query.after, 'after');
      const at = where.param(toBound(after.startTime, 'after.startTime'));
      where.add((p) => `(start_time, id) > (${at}, ${p})`, toCursorId(after.id, 'after.id'));
    }
    if (limit === 0) return [];
    const tail = limit === undefined ? '' : ` LIMIT ${where.param(limit)}`;
    const select = (filter: Where | string) =>
      `SELECT ${SCHEDULE_COLUMNS} FROM ${this.t.schedules}${filter} ORDER BY start_time, id${tail}`;
    const sql = perStatus
      ? `SELECT * FROM (${statuses.map((status) => `(${select(where.and(`status = ${where.param(status)}`))})`).join(' UNION ALL ')}) AS s ORDER BY start_time, id${tail}`
      : select(where);
    const rows = await this.db.query(sql, where.params);
    return rows.map(rowToSchedule);
  }

  async getBooking(id: string): Promise<Booking | null> {
    return this.one(
      `SELECT ${BOOKING_COLUMNS} FROM ${this.t.bookings} WHERE id = $1`,
      [toId(id, 'bookingId')],
      rowToBooking,
    );
  }

  private bookingWhere(input: BookingQuery): { where: Where; limit: number | undefined } {
    const query = objectArgument(input, 'query');
    const where = new Where();
    if (query.patientId !== undefined) where.add((p) => `patient_id = ${p}`, toId(query.patientId, 'patientId'));
    if (query.doctorId !== undefined) where.add((p) => `doctor_id = ${p}`, toId(query.doctorId, 'doctorId'));
    if (query.scheduleId !== undefined)
      where.add((p) => `doctor_schedule_id = ${p}`, toId(query.scheduleId, 'scheduleId'));
    if (query.checkoutSessionId !== undefined)
      where.add((p) => `checkout_session_id = ${p}`, toText(query.checkoutSessionId, 'checkoutSessionId'));
    if (query.status !== undefined) where.oneOf('status', oneOrMany(BOOKING_STATUSES, query.status, 'status'));
    if (query.paymentStatus !== undefined)
      where.oneOf('payment_status', oneOrMany(PAYMENT_STATUSES, query.paymentStatus, 'paymentStatus'));
    if (query.mode !== undefined) where.add((p) => `mode = ${p}`, oneOrMany(['paid', 'free'], query.mode, 'mode')[0]);
    // A comparison with NULL is never true: bookings without a hold are left out.
    if (query.holdExpiresBefore !== undefined)
      where.add((p) => `hold_expires_at <= ${p}`, toBound(query.holdExpiresBefore, 'holdExpiresBefore'));
    if (query.createdBefore !== undefined)
      where.add((p) => `created_at <= ${p}`, toBound(query.createdBefore, 'createdBefore'));
    if (query.slotStartFrom !== undefined)
      where.add((p) => `slot_start >= ${p}`, toBound(query.slotStartFrom, 'slotStartFrom'));
    if (query.slotStartBefore !== undefined)
      where.add((p) => `slot_start < ${p}`, toBound(query.slotStartBefore, 'slotStartBefore'));
    if (query.after !== undefined) {
      const after = objectArgument(query.after, 'after');
      const at = where.param(toDate(after.createdAt, 'after.createdAt'));
      where.add((p) => `(created_at, id) > (${at}, ${p})`, toId(after.id, 'after.id'));
    }
    return { where, limit: toLimit(query.limit) };
  }

  async findBookings(input: BookingQuery): Promise<Booking[]> {
    const { where, limit } = this.bookingWhere(input);
    if (limit === 0) return [];
    const tail = limit === undefined ? '' : ` LIMIT ${where.param(limit)}`;
    // A slot-start window (the reminder sweep) is read from (status, slot_start, ...) and sorted
    // there. Left to itself the planner walks (created_at, id) instead, betting the LIMIT is met
    // early, but bookings are made shortly before their slot: the window's rows come last, after
    // every older booking. OFFSET 0 keeps the window's rows a subquery planned on its own.
    const window = input.slotStartFrom !== undefined || input.slotStartBefore !== undefined;
    const sql = window
      ? `SELECT * FROM (SELECT ${BOOKING_COLUMNS} FROM ${this.t.bookings}${where} OFFSET 0) AS w ORDER BY created_at, id${tail}`
      : `SELECT ${BOOKING_COLUMNS} FROM ${this.t.bookings}${where} ORDER BY created_at, id${tail}`;
    const rows = await this.db.query(sql, where.params);
    return rows.map(rowToBooking);
  }

  async countBookings(query: BookingQuery): Promise<number> {
    const { where } = this.bookingWhere(query);
    const [row] = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${this.t.bookings}${where}`,
      where.params,
    );
    return Number(row?.n ?? 0);
  }

  async findBookingByIdempotencyKey(input: { patientId: string; idempotencyKey: string }): Promise<Booking | null> {
    const args = objectArgument(input, 'findBookingByIdempotencyKey');
    return this.one(
      `SELECT ${BOOKING_COLUMNS} FROM ${this.t.bookings} WHERE patient_id = $1 AND idempotency_key = $2`,
      [toId(args.patientId, 'patientId'), toText(args.idempotencyKey, 'idempotencyKey')],
      rowToBooking,
    );
  }

  async findActiveBooking(scheduleId: string): Promise<Booking | null> {
    return this.one(
      `SELECT ${BOOKING_COLUMNS} FROM ${this.t.bookings} WHERE doctor_schedule_id = $1 AND ${ACTIVE}`,
      [toId(scheduleId, 'scheduleId')],
      rowToBooking,
    );
  }

  async getPaymentTransaction(id: string): Promise<PaymentTransaction | null> {
    return this.one(
      `SELECT ${PAYMENT_COLUMNS} FROM ${this.t.payments} WHERE id = $1`,
      [toId(id, 'paymentTransactionId')],
      rowToPayment,
    );
  }

  async findPaymentTransaction(input: {
    provider: string;
    providerPaymentId: string;
  }): Promise<PaymentTransaction | null> {
    const args = objectArgument(input, 'findPaymentTransaction');
    return this.one(
      `SELECT ${PAYMENT_COLUMNS} FROM ${this.t.payments} WHERE provider = $1 AND provider_payment_id = $2`,
      [toText(args.provider, 'provider', 64), toText(args.providerPaymentId, 'providerPaymentId')],
      rowToPayment,
    );
  }

  async findPaymentTransactions(input: PaymentQuery): Promise<PaymentTransaction[]> {
    const query = objectArgument(input, 'query');
    const where = new Where();
    if (query.bookingId !== undefined) where.add((p) => `reference_id = ${p}`, toId(query.bookingId, 'bookingId'));
    if (query.refundStatus !== undefined) {
      const [status] = oneOrMany(REFUND_STATUSES, query.refundStatus, 'refundStatus');
      where.add((p) => `refunds @> ${p}::jsonb`, JSON.stringify([{ status }]));
    }
    return this.page(where, query.after, query.limit, PAYMENT_COLUMNS, this.t.payments, rowToPayment);
  }

  async findLedgerEntries(input: LedgerQuery): Promise<LedgerEntry[]> {
    const query = objectArgument(input, 'query');
    const where = new Where();
    if (query.doctorId !== undefined) where.add((p) => `doctor_id = ${p}`, toId(query.doctorId, 'doctorId'));
    if (query.bookingId !== undefined) where.add((p) => `booking_id = ${p}`, toId(query.bookingId, 'bookingId'));
    return this.page(where, query.after, query.limit, LEDGER_COLUMNS, this.t.ledger, rowToLedger);
  }

  async ledgerBalances(input: { doctorId: string }): Promise<Record<string, number>> {
    const args = objectArgument(input, 'ledgerBalances');
    // The running totals appendLedgerEntry keeps: one primary-key row per currency, never a
    // scan of the ledger.
    const rows = await this.db.query(
      `SELECT currency, balance FROM ${this.t.walletBalances} WHERE doctor_id = $1 ORDER BY currency`,
      [toId(args.doctorId, 'doctorId')],
    );
    return rowsToBalances(rows);
  }

  /** A (created_at, id) keyset page: strictly after `afterInput`, at most `limitInput` rows. */
  private async page<T>(
    where: Where,
    afterInput: unknown,
    limitInput: unknown,
    columns: string,
    table: string,
    map: (row: Row) => T,
  ): Promise<T[]> {
    if (afterInput !== undefined) {
      const after = objectArgument(afterInput, 'after');
      const at = where.param(toDate(after.createdAt, 'after.createdAt'));
      where.add((p) => `(created_at, id) > (${at}, ${p})`, toId(after.id, 'after.id'));
    }
    const limit = toLimit(limitInput);
    if (limit === 0) return [];
    const tail = limit === undefined ? '' : ` LIMIT ${where.param(limit)}`;
    const rows = await this.db.query(
      `SELECT ${columns} FROM ${table}${where} ORDER BY created_at, id${tail}`,
      where.params,
    );
    return rows.map(map);
  }

  async hasProcessedEvent(id: string): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM ${this.t.events} WHERE event_id = $1`, [toText(id, 'eventId')]);
    return rows.length > 0;
  }

  async getPaymentCustomer(input: { patientId: string; provider: string }): Promise<PaymentCustomer | null> {
    const args = objectArgument(input, 'getPaymentCustomer');
    return this.one(
      `SELECT patient_id, provider, customer_id FROM ${this.t.customers} WHERE patient_id = $1 AND provider = $2`,
      [toId(args.patientId, 'patientId'), toText(args.provider, 'provider', 64)],
      rowToCustomer,
    );
  }

  async findOutbox(input: OutboxQuery): Promise<OutboxRecord[]> {
    const query = objectArgument(input, 'query');
    const where = new Where();
    if (query.consumer !== undefined) where.add((p) => `consumer = ${p}`, toText(query.consumer, 'consumer', 128));
    if (query.status !== undefined) where.oneOf('status', oneOrMany(OUTBOX_STATUSES, query.status, 'status'));
    if (query.bookingId !== undefined) where.add((p) => `booking_id = ${p}`, toId(query.bookingId, 'bookingId'));
    if (query.eventId !== undefined)
      where.add((p) => `event_id = ${p}`, toText(query.eventId, 'eventId', MAX_OUTBOX_KEY));
    for (const [side, op] of [
      ['before', '<'],
      ['after', '>'],
    ] as const) {
      if (query[side] === undefined) continue;
      const cursor = objectArgument(query[side], side);
      const at = where.param(toDate(cursor.createdAt, `${side}.createdAt`));
      where.add((p) => `(created_at, key) ${op} (${at}, ${p})`, toText(cursor.key, `${side}.key`, MAX_OUTBOX_KEY));
    }
    const limit = toLimit(query.limit);
    if (limit === 0) return [];
    const tail = limit === undefined ? '' : ` LIMIT ${where.param(limit)}`;
    const rows = await this.db.query(
      `SELECT ${OUTBOX_COLUMNS} FROM ${this.t.outbox}${where} ORDER BY created_at, key${tail}`,
      where.params,
    );
    return rows.map(rowToOutbox);
  }

  async findAvailability(input: AvailabilityQuery): Promise<AvailabilityRecord[]> {
    const query = objectArgument(input, 'query');
    const rows = await this.db.query(
      `SELECT ${AVAILABILITY_COLUMNS} FROM ${this.t.availability}
        WHERE doctor_id = $1 AND ${IN_FORCE_AFTER} AND effective_from < $3
        ORDER BY effective_from, id`,
      [toId(query.doctorId, 'doctorId'), toBound(query.from, 'from'), toBound(query.to, 'to')],
    );
    return rows.map(rowToAvailability);
  }

  async getTimeOff(id: string): Promise<TimeOff | null> {
    return this.one(
      `SELECT ${TIME_OFF_COLUMNS} FROM ${this.t.timeOff} WHERE id = $1`,
      [toId(id, 'timeOffId')],
      rowToTimeOff,
    );
  }

  async findTimeOff(input: TimeOffQuery): Promise<TimeOff[]> {
    const query = objectArgument(input, 'query');
    const where = new Where();
    where.add((p) => `doctor_id = ${p}`, toId(query.doctorId, 'doctorId'));
    if (query.startBefore !== undefined)
      where.add((p) => `start_time < ${p}`, toBound(query.startBefore, 'startBefore'));
    if (query.endAfter !== undefined) where.add((p) => `end_time > ${p}`, toBound(query.endAfter, 'endAfter'));
    const limit = toLimit(query.limit);
    if (limit === 0) return [];
    const tail = limit === undefined ? '' : ` LIMIT ${where.param(limit)}`;
    const rows = await this.db.query(
      `SELECT ${TIME_OFF_COLUMNS} FROM ${this.t.timeOff}${where} ORDER BY start_time, id${tail}`,
      where.params,
    );
    return rows.map(rowToTimeOff);
  }
}

/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * One transaction's operations on its connection. Compare-and-sets are single `UPDATE ... WHERE
 * status = ANY(...) RETURNING` statements: a row another transaction changed since this one's
 * snapshot makes the UPDATE fail with a serialization error (first updater wins), never
 * overwrite, and the store runs the transaction again on fresh data, where the compare-and-set
 * answers null. Unique rules are unique (partial) indexes, answered with `ON CONFLICT DO
 * NOTHING` (null/false; a conflicting key committed after the snapshot is a serialization
 * error too, so the rerun sees it).
 */
export class PostgresOperations extends PostgresReads implements StoreOperations {
  private savepoints = 0;

  async insertSchedule(schedule: NewSchedule): Promise<Schedule> {
    const values = scheduleValues(schedule, newRecordId(), this.deps.now());
    const [row] = await this.db.query(
      `INSERT INTO ${this.t.schedules} (${SCHEDULE_COLUMNS}) VALUES (${placeholders(values.length)}) RETURNING ${SCHEDULE_COLUMNS}`,
      values,
    );
    return rowToSchedule(row as Record<string, unknown>);
  }

  async updateScheduleIf(input: ScheduleUpdate): Promise<Schedule | null> {
    const update = objectArgument(input, 'updateScheduleIf');
    const id = toId(update.id, 'id');
    const expected = oneOrMany(SCHEDULE_STATUSES, update.expectedStatus, 'expectedStatus');
    const changes = scheduleChanges(update.set);
    const params: unknown[] = [id, expected, this.deps.now()];
    const sets = ['updated_at = $3', ...changes.map(([column, value]) => `${column} = $${params.push(value)}`)];
    return this.one(
      `UPDATE ${this.t.schedules} SET ${sets.join(', ')} WHERE id = $1 AND status = ANY($2::text[]) RETURNING ${SCHEDULE_COLUMNS}`,
      params,
      rowToSchedule,
    );
  }

  async deleteSchedulesIf(input: { ids: readonly string[]; expectedStatus: ScheduleStatus }): Promise<number> {
    const args = objectArgument(input, 'deleteSchedulesIf');
    if (!Array.isArray(args.ids)) throw invalid('ids', 'an array of slot ids', args.ids);
    const ids = args.ids.map((id, i) => toId(id, `ids[${i}]`));
    const [status] = oneOrMany(SCHEDULE_STATUSES, args.expectedStatus, 'expectedStatus');
    if (ids.length === 0) return 0;
    const rows = await this.db.query(
      `DELETE FROM ${this.t.schedules} WHERE id = ANY($1::text[]) AND status = $2 RETURNING id`,
      [ids, status],
    );
    return rows.length;
  }

  async insertBooking(booking: NewBooking): Promise<Booking | null> {
    const values = bookingValues(booking, newRecordId(), this.deps.now());
    // Any unique index (the slot's active place, the idempotency key) answers "no row".
    return this.one(
      `INSERT INTO ${this.t.bookings} (${BOOKING_COLUMNS}) VALUES (${placeholders(values.length)}) ON CONFLICT DO NOTHING RETURNING ${BOOKING_COLUMNS}`,
      values,
      rowToBooking,
    );
  }

  async updateBookingIf(input: BookingUpdate): Promise<Booking | null> {
    const update = objectArgument(input, 'updateBookingIf');
    const expected = oneOrMany(BOOKING_STATUSES, update.expectedStatus, 'expectedStatus');
    const params: unknown[] = [toId(update.id, 'id'), expected, this.deps.now()];
    const conditions = ['id = $1', 'status = ANY($2::text[])'];
    if (update.expectedPaymentStatus !== undefined) {
      const statuses = oneOrMany(PAYMENT_STATUSES, update.expectedPaymentStatus, 'expectedPaymentStatus');
      conditions.push(`payment_status = ANY($${params.push(statuses)}::text[])`);
    }
    if (update.expectedScheduleId !== undefined) {
      conditions.push(`doctor_schedule_id = $${params.push(toId(update.expectedScheduleId, 'expectedScheduleId'))}`);
    }
    const changes = bookingChanges(update.set);
    const sets = ['updated_at = $3', ...changes.map(([column, value]) => `${column} = $${params.push(value)}`)];
    if (update.history !== undefined) {
      sets.push(`history = history || $${params.push(jsonParam([historyToJson(update.history)], 'history'))}::jsonb`);
    }
    const sql = `UPDATE ${this.t.bookings} SET ${sets.join(', ')} WHERE ${conditions.join(' AND ')} RETURNING ${BOOKING_COLUMNS}`;

    // Only an update that may make an inactive booking active, or moves a booking, can meet the
    // slot's unique active place; a unique violation would abort the whole transaction, so those
    // run under a savepoint and answer null instead.
    const status = changes.find(([column]) => column === 'status')?.[1] as Booking['status'] | undefined;
    const activates = status !== undefined && isActiveBookingStatus(status) && !expected.every(isActiveBookingStatus);
    const moves = changes.some(([column]) => column === 'doctor_schedule_id');
    if (!activates && !moves) return this.one(sql, params, rowToBooking);
    return this.orNullOnUnique(() => this.one(sql, params, rowToBooking));
  }

  async markReminderSent(input: { bookingId: string; key: string; slotStart: Date }): Promise<Booking | null> {
    const args = objectArgument(input, 'markReminderSent');
    // One compare-and-set: of concurrent senders the first updater wins, and a rerun on fresh
    // data finds the key there and answers null.
    return this.one(
      `UPDATE ${this.t.bookings} SET reminders_sent = array_append(reminders_sent, $2), updated_at = $4
        WHERE id = $1 AND status = 'scheduled' AND slot_start = $3 AND NOT ($2 = ANY(reminders_sent))
        RETURNING ${BOOKING_COLUMNS}`,
      [
        toId(args.bookingId, 'bookingId'),
        toText(args.key, 'key', MAX_REMINDER_KEY),
        toDate(args.slotStart, 'slotStart'),
        this.deps.now(),
      ],
      rowToBooking,
    );
  }

  private async orNullOnUnique<T>(write: () => Promise<T | null>): Promise<T | null> {
    const name = `careslot_sp_${++this.savepoints}`;
    await this.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await write();
      await this.db.exec(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      if (!(error instanceof DatabaseFailure) || error.sqlState !== UNIQUE_VIOLATION) throw error;
      await this.db.exec(`ROLLBACK TO SAVEPOINT ${name}`);
      return null;
    }
  }

  async insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null> {
    const values = paymentValues(transaction, newRecordId(), this.deps.now());
    return this.one(
      `INSERT INTO ${this.t.payments} (${PAYMENT_COLUMNS}) VALUES (${placeholders(values.length)}) ON CONFLICT (provider, provider_payment_id) DO NOTHING RETURNING ${PAYMENT_COLUMNS}`,
      values,
      rowToPayment,
    );
  }

  async upsertRefund(input: {
    paymentTransactionId: string;
    refund: RefundRecord;
  }): Promise<PaymentTransaction | null> {
    const args = objectArgument(input, 'upsertRefund');
    const refund = refundToJson(args.refund);
    // One statement on the payment row: the replacement keeps the refund's place, a new one is
    // appended, and a concurrent writer of the row is waited for and built upon.
    return this.one(
      `UPDATE ${this.t.payments} SET
         refunds = CASE
           WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(refunds) AS e(r) WHERE e.r->>'id' = $2)
           THEN (SELECT jsonb_agg(CASE WHEN e.r->>'id' = $2 THEN $3::jsonb ELSE e.r END ORDER BY e.i)
                 FROM jsonb_array_elements(refunds) WITH ORDINALITY AS e(r, i))
           ELSE refunds || jsonb_build_array($3::jsonb)
         END,
         updated_at = $4
       WHERE id = $1
       RETURNING ${PAYMENT_COLUMNS}`,
      [
        toId(args.paymentTransactionId, 'paymentTransactionId'),
        refund.id,
        jsonParam(refund, 'refund'),
        this.deps.now(),
      ],
      rowToPayment,
    );
  }

  async appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean> {
    const values = ledgerValues(entry, newRecordId());
    // One statement: the line, and only when it is new, its amount added to the doctor's running
    // total. The upsert waits for a concurrent writer of the same total; one that committed after
    // this snapshot makes it a serialization failure (first updater wins), and the transaction
    // runs again on the new total, so no addition is lost.
    const [row] = await this.db.query<{ added: number }>(
      `WITH line AS (
         INSERT INTO ${this.t.ledger} (${LEDGER_COLUMNS}) VALUES (${placeholders(values.length)})
         ON CONFLICT (key) DO NOTHING
         RETURNING doctor_id, currency, CASE WHEN kind = 'credit' THEN amount ELSE -amount END AS delta
       ), total AS (
         INSERT INTO ${this.t.walletBalances} AS w (doctor_id, currency, balance)
         SELECT doctor_id, currency, delta FROM line
         ON CONFLICT (doctor_id, currency) DO UPDATE SET balance = w.balance + EXCLUDED.balance
       )
       SELECT count(*)::int AS added FROM line`,
      values,
    );
    return Number(row?.added ?? 0) > 0;
  }

  async recordProcessedEvent(input: { id: string; type: string; at: Date }): Promise<boolean> {
    const event = objectArgument(input, 'recordProcessedEvent');
    const rows = await this.db.query(
      `INSERT INTO ${this.t.events} (event_id, type, processed_at) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
      [toText(event.id, 'eventId'), toText(event.type, 'type', 128), toDate(event.at, 'at')],
    );
    return rows.length > 0;
  }

  // A write to the patient's lock row (created on first use): a second transaction locking the
  // same patient waits for the first, then fails with a serialization error and runs again on a
  // snapshot that includes what the first committed. So decisions on rows a transaction only
  // reads (counts of holds, the free quota, overlapping slots) cannot be skewed.
  async lockPatient(patientId: string): Promise<void> {
    const id = toId(patientId, 'patientId');
    if (this.deps.serialized) return;
    await this.db.query(
      `INSERT INTO ${this.t.patientLocks} AS l (patient_id, locks, locked_at) VALUES ($1, 1, $2)
       ON CONFLICT (patient_id) DO UPDATE SET locks = l.locks + 1, locked_at = EXCLUDED.locked_at`,
      [id, this.deps.now()],
    );
  }

  /** The same per doctor: taken before the overlap check of a new or moved slot. */
  async lockDoctor(doctorId: string): Promise<void> {
    const id = toId(doctorId, 'doctorId');
    if (this.deps.serialized) return;
    await this.db.query(
      `INSERT INTO ${this.t.doctorLocks} AS l (doctor_id, locks, locked_at) VALUES ($1, 1, $2)
       ON CONFLICT (doctor_id) DO UPDATE SET locks = l.locks + 1, locked_at = EXCLUDED.locked_at`,
      [id, this.deps.now()],
    );
  }

  async savePaymentCustomer(input: PaymentCustomer): Promise<PaymentCustomer> {
    const customer = objectArgument(input, 'savePaymentCustomer');
    const patientId = toId(customer.patientId, 'patientId');
    const provider = toText(customer.provider, 'provider', 64);
    const now = this.deps.now();
    const inserted = await this.one(
      `INSERT INTO ${this.t.customers} (patient_id, provider, customer_id, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $4) ON CONFLICT (patient_id, provider) DO NOTHING
       RETURNING patient_id, provider, customer_id`,
      [patientId, provider, toText(customer.customerId, 'customerId'), now],
      rowToCustomer,
    );
    if (inserted) return inserted;
    // A new statement sees the mapping the conflicting transaction committed.
    const existing = await this.getPaymentCustomer({ patientId, provider });
    if (!existing) throw new BookingError('STORE_ERROR', 'PostgresStore: savePaymentCustomer stored nothing');
    return existing;
  }

  async appendOutbox(input: readonly NewOutboxRecord[]): Promise<number> {
    if (!Array.isArray(input)) throw invalid('records', 'an array of outbox records', input);
    const records = input.map((r, i) => outboxValues(r, `records[${i}]`));
    if (records.length === 0) return 0;
    // One statement whatever the count: the columns as arrays, unnested (no parameter limit).
    const rows = await this.db.query(
      `INSERT INTO ${this.t.outbox}
         (key, event_id, consumer, type, booking_id, schedule_id, payload, version, created_at, status, attempts, next_attempt_at,
          lease_owner, lease_until)
       SELECT r.key, r.event_id, r.consumer, r.type, r.booking_id, r.schedule_id, r.payload::jsonb, r.version,
              r.created_at, 'pending', 0, r.created_at, r.lease_owner, r.lease_until
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::timestamptz[],
                     $10::text[], $11::timestamptz[])
           AS r(key, event_id, consumer, type, booking_id, schedule_id, payload, version, created_at, lease_owner, lease_until)
       ON CONFLICT (key) DO NOTHING RETURNING key`,
      [
        records.map((r) => r.key),
        records.map((r) => r.eventId),
        records.map((r) => r.consumer),
        records.map((r) => r.type),
        records.map((r) => r.bookingId),
        records.map((r) => r.scheduleId),
        records.map((r) => r.payload),
        records.map((r) => r.version),
        records.map((r) => r.createdAt),
        records.map((r) => r.leaseOwner),
        records.map((r) => r.leaseUntil),
      ],
    );
    return rows.length;
  }

  async claimOutbox(input: OutboxClaim): Promise<OutboxRecord[]> {
    const claim = objectArgument(input, 'claimOutbox');
    const consumer = toText(claim.consumer, 'consumer', 128);
    const owner = toText(claim.owner, 'owner', 255);
    const now = toDate(claim.now, 'now');
    const leaseUntil = toDate(claim.leaseUntil, 'leaseUntil');
    if (claim.limit === undefined) throw invalid('limit', 'a whole number >= 0', claim.limit);
    const limit = toLimit(claim.limit) as number;
    let keys: string[] | null = null;
    if (claim.keys !== undefined) {
      if (!Array.isArray(claim.keys)) throw invalid('keys', 'an array of outbox keys', claim.keys);
      keys = claim.keys.map((k, i) => toText(k, `keys[${i}]`, MAX_OUTBOX_KEY));
      if (keys.length === 0) return [];
    }
    if (limit === 0) return [];
    const params: unknown[] = [owner, leaseUntil, consumer, now, limit];
    const onlyKeys = keys === null ? '' : ` AND key = ANY($${params.push(keys)}::text[])`;
    // The candidates locked SKIP LOCKED: a concurrent claimer passes over the rows another is
    // leasing. One that another claimer leased and committed after this snapshot is a
    // serialization failure (first updater wins), and the store runs the claim again.
    const rows = await this.db.query(
      `UPDATE ${this.t.outbox} SET lease_owner = $1, lease_until = $2
        WHERE key IN (
          SELECT key FROM ${this.t.outbox}
           WHERE consumer = $3 AND status = 'pending' AND next_attempt_at <= $4
             AND (lease_until IS NULL OR lease_until <= $4)${onlyKeys}
           ORDER BY created_at, key LIMIT $5 FOR UPDATE SKIP LOCKED)
        RETURNING ${OUTBOX_COLUMNS}`,
      params,
    );
    return rows.map(rowToOutbox).sort(byOutboxOrder);
  }

  async completeOutbox(input: { key: string; owner: string; at: Date }): Promise<boolean> {
    const args = objectArgument(input, 'completeOutbox');
    const rows = await this.db.query(
      `UPDATE ${this.t.outbox} SET status = 'delivered', delivered_at = $3, lease_owner = NULL, lease_until = NULL
        WHERE key = $1 AND status = 'pending' AND lease_owner = $2 RETURNING key`,
      [toText(args.key, 'key', MAX_OUTBOX_KEY), toText(args.owner, 'owner', 255), toDate(args.at, 'at')],
    );
    return rows.length > 0;
  }

  async releaseOutbox(input: { key: string; owner: string }): Promise<boolean> {
    const args = objectArgument(input, 'releaseOutbox');
    const rows = await this.db.query(
      `UPDATE ${this.t.outbox} SET lease_owner = NULL, lease_until = NULL
        WHERE key = $1 AND status = 'pending' AND lease_owner = $2 RETURNING key`,
      [toText(args.key, 'key', MAX_OUTBOX_KEY), toText(args.owner, 'owner', 255)],
    );
    return rows.length > 0;
  }

  async failOutbox(input: { key: string; owner: string; error: string; retryAt: Date | null }): Promise<boolean> {
    const args = objectArgument(input, 'failOutbox');
    const retryAt = toNullableDate(args.retryAt, 'retryAt');
    const rows = await this.db.query(
      `UPDATE ${this.t.outbox}
          SET status = $5, attempts = attempts + 1, last_error = $3,
              next_attempt_at = COALESCE($4, next_attempt_at), lease_owner = NULL, lease_until = NULL
        WHERE key = $1 AND status = 'pending' AND lease_owner = $2 RETURNING key`,
      [
        toText(args.key, 'key', MAX_OUTBOX_KEY),
        toText(args.owner, 'owner', 255),
        toText(args.error, 'error', MAX_OUTBOX_ERROR),
        retryAt,
        retryAt === null ? 'dead' : 'pending',
      ],
    );
    return rows.length > 0;
  }

  async redriveOutbox(input: { key: string; at: Date }): Promise<boolean> {
    const args = objectArgument(input, 'redriveOutbox');
    const rows = await this.db.query(
      `UPDATE ${this.t.outbox} SET status = 'pending', attempts = 0, next_attempt_at = $2
        WHERE key = $1 AND status = 'dead' RETURNING key`,
      [toText(args.key, 'key', MAX_OUTBOX_KEY), toDate(args.at, 'at')],
    );
    return rows.length > 0;
  }

  async deleteDeliveredOutbox(input: { deliveredBefore: Date; limit: number }): Promise<number> {
    const args = objectArgument(input, 'deleteDeliveredOutbox');
    const deliveredBefore = toDate(args.deliveredBefore, 'deliveredBefore');
    if (args.limit === undefined) throw invalid('limit', 'a whole number >= 0', args.limit);
    const limit = toLimit(args.limit) as number;
    if (limit === 0) return 0;
    // The keys as an array (`= ANY(ARRAY(...))`), not a join: each is deleted through the primary
    // key, where a batch of hundreds made the planner join against a scan of the whole outbox.
    const rows = await this.db.query(
      `DELETE FROM ${this.t.outbox} WHERE key = ANY(ARRAY(
         SELECT key FROM ${this.t.outbox} WHERE status = 'delivered' AND delivered_at < $1
          ORDER BY delivered_at, key LIMIT $2))
       RETURNING key`,
      [deliveredBefore, limit],
    );
    return rows.length;
  }

  async insertAvailability(record: NewAvailabilityRecord): Promise<AvailabilityRecord> {
    const values = availabilityValues(record, newRecordId(), this.deps.now());
    const [row] = await this.db.query(
      `INSERT INTO ${this.t.availability} (${AVAILABILITY_COLUMNS}) VALUES (${placeholders(values.length)}) RETURNING ${AVAILABILITY_COLUMNS}`,
      values,
    );
    return rowToAvailability(row as Record<string, unknown>);
  }

  async endAvailability(input: { doctorId: string; at: Date }): Promise<number> {
    const args = objectArgument(input, 'endAvailability');
    // One statement: a version not yet in force at `at` ends where it began (empty).
    const rows = await this.db.query(
      `UPDATE ${this.t.availability} SET effective_until = GREATEST(effective_from, $2)
        WHERE doctor_id = $1 AND ${IN_FORCE_AFTER} RETURNING id`,
      [toId(args.doctorId, 'doctorId'), toDate(args.at, 'at')],
    );
    return rows.length;
  }

  async insertTimeOff(timeOff: NewTimeOff): Promise<TimeOff> {
    const values = timeOffValues(timeOff, newRecordId(), this.deps.now());
    const [row] = await this.db.query(
      `INSERT INTO ${this.t.timeOff} (${TIME_OFF_COLUMNS}) VALUES (${placeholders(values.length)}) RETURNING ${TIME_OFF_COLUMNS}`,
      values,
    );
    return rowToTimeOff(row as Record<string, unknown>);
  }

  async deleteTimeOff(id: string): Promise<boolean> {
    const rows = await this.db.query(`DELETE FROM ${this.t.timeOff} WHERE id = $1 RETURNING id`, [
      toId(id, 'timeOffId'),
    ]);
    return rows.length > 0;
  }
}

const byOutboxOrder = (a: OutboxRecord, b: OutboxRecord): number =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
