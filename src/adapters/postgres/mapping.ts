// Rows to domain records and back: column names, bigint and timestamptz values, and the JSON kept in jsonb columns.
import type {
  AvailabilityRecord,
  Booking,
  BookingHistoryEntry,
  BookingPolicy,
  LedgerEntry,
  PaymentCustomer,
  PaymentTransaction,
  RefundRecord,
  Schedule,
  TimeOff,
} from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
import { BOOKING_STATUSES, CANCEL_REASONS, PAYMENT_STATUSES, SCHEDULE_STATUSES } from '../../domain/status.js';
import type { BookingChanges, ScheduleChanges } from '../../ports/booking-store.js';
import type { OutboxRecord, OutboxStatus } from '../../ports/outbox.js';
import { newOutboxLease } from '../outbox-lease.js';
import {
  invalid,
  objectArgument,
  oneOrMany,
  toAmount,
  toBoolean,
  toDate,
  toId,
  toNullableDate,
  toNullableText,
  toText,
} from './ids.js';
import type { Row } from './sql-client.js';

// ---- values as drivers return them ----

// pg returns bigint as a string and PGlite as a number; a host's type parsers may make it a BigInt.
function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint' || typeof value === 'string') return Number(value);
  throw new BookingError('STORE_ERROR', `PostgresStore: expected a number from the database, got ${typeof value}`);
}

// timestamptz arrives as a Date from both drivers, or as text when a host's parser says so.
function date(value: unknown): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : new Date(String(value));
  if (Number.isNaN(d.getTime())) throw new BookingError('STORE_ERROR', 'PostgresStore: unreadable timestamp');
  return d;
}

const nullableDate = (value: unknown): Date | null => (value === null || value === undefined ? null : date(value));
const str = (value: unknown): string => String(value);
const nullableStr = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

// jsonb arrives parsed from both drivers (text if a host's parser says so).
function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/** JSON text for a jsonb parameter; NUL, which jsonb refuses, is bad input rather than a database error. */
export function jsonParam(value: unknown, field: string): string {
  const text = JSON.stringify(value);
  if (text.includes('\\u0000')) throw invalid(field, 'free of NUL characters', value);
  return text;
}

// ---- schedules ----

export const SCHEDULE_COLUMNS =
  'id, created_by, start_time, end_time, time_zone, fee_amount, fee_currency, status, booked_by, rolled_over_from, local_start_time, created_at, updated_at, availability_id';

export function rowToSchedule(row: Row): Schedule {
  const schedule: Schedule = {
    id: str(row.id),
    doctorId: str(row.created_by),
    startTime: date(row.start_time),
    endTime: date(row.end_time),
    timeZone: str(row.time_zone),
    fee: { amount: num(row.fee_amount), currency: str(row.fee_currency) },
    status: str(row.status) as Schedule['status'],
    bookedBy: nullableStr(row.booked_by),
    rolledOverFrom: nullableStr(row.rolled_over_from),
    availabilityId: nullableStr(row.availability_id),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
  // Absent unless set, as the other stores return it.
  if (row.local_start_time !== null && row.local_start_time !== undefined) {
    schedule.localStartTime = str(row.local_start_time);
  }
  return schedule;
}

function money(value: unknown, field: string): { amount: number; currency: string } {
  const m = objectArgument(value, field);
  return { amount: toAmount(m.amount, `${field}.amount`), currency: toText(m.currency, `${field}.currency`, 16) };
}

/** The column values of a new slot, in SCHEDULE_COLUMNS order. */
export function scheduleValues(input: unknown, id: string, now: Date): unknown[] {
  const s = objectArgument(input, 'insertSchedule');
  const fee = money(s.fee, 'fee');
  const [status] = oneOrMany(SCHEDULE_STATUSES, s.status, 'status');
  return [
    id,
    toId(s.doctorId, 'doctorId'),
    toDate(s.startTime, 'startTime'),
    toDate(s.endTime, 'endTime'),
    toText(s.timeZone, 'timeZone', 64),
    fee.amount,
    fee.currency,
    status,
    s.bookedBy === undefined ? null : toNullableText(s.bookedBy, 'bookedBy', 128),
    s.rolledOverFrom === undefined ? null : toNullableText(s.rolledOverFrom, 'rolledOverFrom', 128),
    s.localStartTime === undefined ? null : toNullableText(s.localStartTime, 'localStartTime', 16),
    now,
    now,
    s.availabilityId === undefined ? null : toNullableText(s.availabilityId, 'availabilityId', 128),
  ];
}

/** Column → value for a slot's compare-and-set `set`. */
export function scheduleChanges(input: unknown): [string, unknown][] {
  const set = objectArgument(input, 'set') as ScheduleChanges & Record<string, unknown>;
  const out: [string, unknown][] = [];
  for (const key of Object.keys(set)) {
    const value = set[key];
    if (value === undefined) continue;
    if (key === 'status') out.push(['status', oneOrMany(SCHEDULE_STATUSES, value, 'set.status')[0]]);
    else if (key === 'bookedBy') out.push(['booked_by', toNullableText(value, 'set.bookedBy', 128)]);
    else throw invalid(`set.${key}`, 'a slot field the store may change (status, bookedBy)', value);
  }
  return out;
}

// ---- bookings ----

export const BOOKING_COLUMNS =
  'id, patient_id, doctor_id, doctor_schedule_id, slot_start, slot_end, time_zone, mode, plan, price_amount, price_currency, status, payment_status, cancel_reason, payment_transaction_id, checkout_session_id, payment_url, hold_expires_at, idempotency_key, amount_refunded, history, created_at, updated_at, policy, reminders_sent';

interface HistoryJson {
  at: string;
  from: Booking['status'] | null;
  to: Booking['status'];
  paymentStatus: Booking['paymentStatus'];
  actor: { role: BookingHistoryEntry['actor']['role']; id: string };
  reason: string | null;
}

function historyFromJson(entry: HistoryJson): BookingHistoryEntry {
  return {
    at: date(entry.at),
    from: entry.from,
    to: entry.to,
    paymentStatus: entry.paymentStatus,
    actor: { role: entry.actor.role, id: entry.actor.id },
    reason: entry.reason,
  };
}

export function historyToJson(input: unknown, field = 'history'): HistoryJson {
  const h = objectArgument(input, field);
  const actor = objectArgument(h.actor, `${field}.actor`);
  const role = oneOrMany(['patient', 'doctor', 'admin', 'system'] as const, actor.role, `${field}.actor.role`)[0];
  return {
    at: toDate(h.at, `${field}.at`).toISOString(),
    from: h.from === null ? null : (oneOrMany(BOOKING_STATUSES, h.from, `${field}.from`)[0] ?? null),
    to: oneOrMany(BOOKING_STATUSES, h.to, `${field}.to`)[0] as Booking['status'],
    paymentStatus: oneOrMany(
      PAYMENT_STATUSES,
      h.paymentStatus,
      `${field}.paymentStatus`,
    )[0] as Booking['paymentStatus'],
    actor: { role: role as HistoryJson['actor']['role'], id: toText(actor.id, `${field}.actor.id`, 255) },
    reason: toNullableText(h.reason, `${field}.reason`, 2048),
  };
}

/** The longest reminder key careslot stores (`<beforeMinutes>:<channel>@<slotStart ISO>`). */
export const MAX_REMINDER_KEY = 255;

// text[] arrives as an array from both drivers; as the `{a,"b c"}` literal if a host's parser says so.
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(str);
  const text = String(value);
  if (!text.startsWith('{') || !text.endsWith('}')) {
    throw new BookingError('STORE_ERROR', 'PostgresStore: unreadable text[] value from the database');
  }
  const out: string[] = [];
  const body = text.slice(1, -1);
  let i = 0;
  while (i < body.length) {
    let item = '';
    if (body[i] === '"') {
      for (i++; i < body.length && body[i] !== '"'; i++) item += body[i] === '\\' ? body[++i] : body[i];
      i++;
    } else {
      for (; i < body.length && body[i] !== ','; i++) item += body[i];
    }
    out.push(item);
    i++; // the comma
  }
  return out;
}

/** A policy snapshot for the jsonb column: an object or null, kept exactly as given. */
export function policyParam(value: unknown, field: string): string | null {
  return value === null || value === undefined ? null : jsonParam(objectArgument(value, field), field);
}

export function rowToBooking(row: Row): Booking {
  const history = json(row.history) as HistoryJson[];
  const policy = row.policy === null || row.policy === undefined ? null : (json(row.policy) as BookingPolicy);
  return {
    id: str(row.id),
    patientId: str(row.patient_id),
    doctorId: str(row.doctor_id),
    scheduleId: str(row.doctor_schedule_id),
    slotStart: date(row.slot_start),
    slotEnd: date(row.slot_end),
    timeZone: str(row.time_zone),
    mode: str(row.mode) as Booking['mode'],
    plan: str(row.plan),
    price: { amount: num(row.price_amount), currency: str(row.price_currency) },
    status: str(row.status) as Booking['status'],
    paymentStatus: str(row.payment_status) as Booking['paymentStatus'],
    cancelReason: nullableStr(row.cancel_reason) as Booking['cancelReason'],
    paymentTransactionId: nullableStr(row.payment_transaction_id),
    checkoutSessionId: nullableStr(row.checkout_session_id),
    paymentUrl: nullableStr(row.payment_url),
    holdExpiresAt: nullableDate(row.hold_expires_at),
    idempotencyKey: nullableStr(row.idempotency_key),
    amountRefunded: num(row.amount_refunded),
    policy,
    remindersSent: row.reminders_sent === null || row.reminders_sent === undefined ? [] : textArray(row.reminders_sent),
    history: history.map(historyFromJson),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

function cancelReason(value: unknown, field: string): string | null {
  return value === null ? null : (oneOrMany(CANCEL_REASONS, value, field)[0] as string);
}

/** The column values of a new booking, in BOOKING_COLUMNS order. */
export function bookingValues(input: unknown, id: string, now: Date): unknown[] {
  const b = objectArgument(input, 'insertBooking');
  const price = money(b.price, 'price');
  const history = Array.isArray(b.history) ? b.history.map((h, i) => historyToJson(h, `history[${i}]`)) : null;
  if (history === null) throw invalid('history', 'an array', b.history);
  const sent = b.remindersSent === undefined ? [] : b.remindersSent;
  if (!Array.isArray(sent)) throw invalid('remindersSent', 'an array of reminder keys', sent);
  return [
    id,
    toId(b.patientId, 'patientId'),
    toId(b.doctorId, 'doctorId'),
    toId(b.scheduleId, 'scheduleId'),
    toDate(b.slotStart, 'slotStart'),
    toDate(b.slotEnd, 'slotEnd'),
    toText(b.timeZone, 'timeZone', 64),
    oneOrMany(['paid', 'free'] as const, b.mode, 'mode')[0],
    toText(b.plan, 'plan', 128),
    price.amount,
    price.currency,
    oneOrMany(BOOKING_STATUSES, b.status, 'status')[0],
    oneOrMany(PAYMENT_STATUSES, b.paymentStatus, 'paymentStatus')[0],
    cancelReason(b.cancelReason, 'cancelReason'),
    toNullableText(b.paymentTransactionId, 'paymentTransactionId', 255),
    toNullableText(b.checkoutSessionId, 'checkoutSessionId', 255),
    toNullableText(b.paymentUrl, 'paymentUrl', 4096),
    toNullableDate(b.holdExpiresAt, 'holdExpiresAt'),
    toNullableText(b.idempotencyKey, 'idempotencyKey', 255),
    toAmount(b.amountRefunded, 'amountRefunded'),
    jsonParam(history, 'history'),
    now,
    now,
    policyParam(b.policy, 'policy'),
    sent.map((key, i) => toText(key, `remindersSent[${i}]`, MAX_REMINDER_KEY)),
  ];
}

/** Column → value for a booking's compare-and-set `set`. */
export function bookingChanges(input: unknown): [string, unknown][] {
  const set = objectArgument(input, 'set') as BookingChanges & Record<string, unknown>;
  const out: [string, unknown][] = [];
  for (const key of Object.keys(set)) {
    const value = set[key];
    if (value === undefined) continue;
    const f = `set.${key}`;
    switch (key) {
      case 'status':
        out.push(['status', oneOrMany(BOOKING_STATUSES, value, f)[0]]);
        break;
      case 'paymentStatus':
        out.push(['payment_status', oneOrMany(PAYMENT_STATUSES, value, f)[0]]);
        break;
      case 'cancelReason':
        out.push(['cancel_reason', cancelReason(value, f)]);
        break;
      case 'paymentTransactionId':
        out.push(['payment_transaction_id', toNullableText(value, f, 255)]);
        break;
      case 'checkoutSessionId':
        out.push(['checkout_session_id', toNullableText(value, f, 255)]);
        break;
      case 'paymentUrl':
        out.push(['payment_url', toNullableText(value, f, 4096)]);
        break;
      case 'holdExpiresAt':
        out.push(['hold_expires_at', toNullableDate(value, f)]);
        break;
      case 'amountRefunded':
        out.push(['amount_refunded', toAmount(value, f)]);
        break;
      case 'scheduleId':
        out.push(['doctor_schedule_id', toId(value, f)]);
        break;
      case 'slotStart':
        out.push(['slot_start', toDate(value, f)]);
        break;
      case 'slotEnd':
        out.push(['slot_end', toDate(value, f)]);
        break;
      case 'timeZone':
        out.push(['time_zone', toText(value, f, 64)]);
        break;
      case 'policy':
        out.push(['policy', policyParam(value, f)]);
        break;
      default:
        throw invalid(f, 'a booking field the store may change', value);
    }
  }
  return out;
}

// ---- payments and refunds ----

export const PAYMENT_COLUMNS =
  'id, reference_id, provider, provider_payment_id, checkout_session_id, amount, currency, credited, refunds, created_at, updated_at';

interface RefundJson {
  id: string;
  amount: number;
  status: RefundRecord['status'];
  providerRefundId: string | null;
  reason: string | null;
  failureMessage: string | null;
  createdAt: string;
  updatedAt: string;
}

export const REFUND_STATUSES = ['pending', 'succeeded', 'failed'] as const;

export function refundToJson(input: unknown): RefundJson {
  const r = objectArgument(input, 'refund');
  return {
    id: toText(r.id, 'refund.id', 255),
    amount: toAmount(r.amount, 'refund.amount'),
    status: oneOrMany(REFUND_STATUSES, r.status, 'refund.status')[0] as RefundRecord['status'],
    providerRefundId: toNullableText(r.providerRefundId, 'refund.providerRefundId', 255),
    reason: toNullableText(r.reason, 'refund.reason', 2048),
    failureMessage: toNullableText(r.failureMessage, 'refund.failureMessage', 4096),
    createdAt: toDate(r.createdAt, 'refund.createdAt').toISOString(),
    updatedAt: toDate(r.updatedAt, 'refund.updatedAt').toISOString(),
  };
}

function refundFromJson(r: RefundJson): RefundRecord {
  return {
    id: r.id,
    amount: r.amount,
    status: r.status,
    providerRefundId: r.providerRefundId,
    reason: r.reason,
    failureMessage: r.failureMessage,
    createdAt: date(r.createdAt),
    updatedAt: date(r.updatedAt),
  };
}

export function rowToPayment(row: Row): PaymentTransaction {
  return {
    id: str(row.id),
    bookingId: str(row.reference_id),
    provider: str(row.provider),
    providerPaymentId: str(row.provider_payment_id),
    checkoutSessionId: nullableStr(row.checkout_session_id),
    amount: num(row.amount),
    currency: str(row.currency),
    credited: row.credited === true,
    refunds: (json(row.refunds) as RefundJson[]).map(refundFromJson),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}

/** The column values of a new payment transaction, in PAYMENT_COLUMNS order. */
export function paymentValues(input: unknown, id: string, now: Date): unknown[] {
  const p = objectArgument(input, 'insertPaymentTransaction');
  if (!Array.isArray(p.refunds)) throw invalid('refunds', 'an array', p.refunds);
  return [
    id,
    toId(p.bookingId, 'bookingId'),
    toText(p.provider, 'provider', 64),
    toText(p.providerPaymentId, 'providerPaymentId', 255),
    toNullableText(p.checkoutSessionId, 'checkoutSessionId', 255),
    toAmount(p.amount, 'amount'),
    toText(p.currency, 'currency', 16),
    toBoolean(p.credited, 'credited'),
    jsonParam(p.refunds.map(refundToJson), 'refunds'),
    now,
    now,
  ];
}

// ---- ledger, customers ----

export const LEDGER_COLUMNS = 'id, key, doctor_id, booking_id, kind, amount, currency, created_at';

export function rowToLedger(row: Row): LedgerEntry {
  return {
    id: str(row.id),
    key: str(row.key),
    doctorId: str(row.doctor_id),
    bookingId: str(row.booking_id),
    kind: str(row.kind) as LedgerEntry['kind'],
    amount: num(row.amount),
    currency: str(row.currency),
    createdAt: date(row.created_at),
  };
}

/** `currency, balance` rows of a doctor's running totals, as the port's balances record. */
export function rowsToBalances(rows: readonly Row[]): Record<string, number> {
  const balances: Record<string, number> = {};
  for (const row of rows) {
    const balance = num(row.balance);
    if (!Number.isSafeInteger(balance)) {
      throw new BookingError('STORE_ERROR', 'PostgresStore: a ledger balance is beyond a safe integer');
    }
    balances[str(row.currency)] = balance;
  }
  return balances;
}

export function ledgerValues(input: unknown, id: string): unknown[] {
  const e = objectArgument(input, 'appendLedgerEntry');
  return [
    id,
    toText(e.key, 'key', 512),
    toId(e.doctorId, 'doctorId'),
    toId(e.bookingId, 'bookingId'),
    oneOrMany(['credit', 'debit'] as const, e.kind, 'kind')[0],
    toAmount(e.amount, 'amount'),
    toText(e.currency, 'currency', 16),
    toDate(e.createdAt, 'createdAt'),
  ];
}

export function rowToCustomer(row: Row): PaymentCustomer {
  return { patientId: str(row.patient_id), provider: str(row.provider), customerId: str(row.customer_id) };
}

// ---- outbox ----

export const OUTBOX_COLUMNS =
  'key, event_id, consumer, type, booking_id, schedule_id, payload, version, created_at, status, attempts, next_attempt_at, lease_owner, lease_until, last_error, delivered_at';

export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'delivered', 'dead'];

/** The longest outbox key, event id and error text careslot stores. */
export const MAX_OUTBOX_KEY = 512;
export const MAX_OUTBOX_ERROR = 8192;

export function rowToOutbox(row: Row): OutboxRecord {
  return {
    key: str(row.key),
    eventId: str(row.event_id),
    consumer: str(row.consumer),
    type: str(row.type),
    bookingId: nullableStr(row.booking_id),
    scheduleId: nullableStr(row.schedule_id),
    payload: json(row.payload) as Record<string, unknown>,
    version: num(row.version),
    createdAt: date(row.created_at),
    status: str(row.status) as OutboxStatus,
    attempts: num(row.attempts),
    nextAttemptAt: date(row.next_attempt_at),
    leaseOwner: nullableStr(row.lease_owner),
    leaseUntil: nullableDate(row.lease_until),
    lastError: nullableStr(row.last_error),
    deliveredAt: nullableDate(row.delivered_at),
  };
}

/** One new outbox record, checked, as the column arrays `appendOutbox` unnests take them (dates as ISO text). */
export interface OutboxValues {
  key: string;
  eventId: string;
  consumer: string;
  type: string;
  bookingId: string | null;
  scheduleId: string | null;
  payload: string;
  version: number;
  createdAt: string;
  leaseOwner: string | null;
  leaseUntil: string | null;
}

export function outboxValues(input: unknown, field: string): OutboxValues {
  const r = objectArgument(input, field);
  const payload = objectArgument(r.payload, `${field}.payload`);
  if (typeof r.version !== 'number' || !Number.isSafeInteger(r.version) || r.version < 0 || r.version > 2_147_483_647) {
    throw invalid(`${field}.version`, 'a whole number from 0 to 2147483647', r.version);
  }
  return {
    key: toText(r.key, `${field}.key`, MAX_OUTBOX_KEY),
    eventId: toText(r.eventId, `${field}.eventId`, MAX_OUTBOX_KEY),
    consumer: toText(r.consumer, `${field}.consumer`, 128),
    type: toText(r.type, `${field}.type`, 128),
    bookingId: r.bookingId === undefined ? null : toNullableText(r.bookingId, `${field}.bookingId`, 128),
    scheduleId: r.scheduleId === undefined ? null : toNullableText(r.scheduleId, `${field}.scheduleId`, 128),
    payload: jsonParam(payload, `${field}.payload`),
    version: r.version,
    createdAt: toDate(r.createdAt, `${field}.createdAt`).toISOString(),
    ...outboxLease(r, field),
  };
}

/** A new record's lease: both owner and time, or neither. */
function outboxLease(
  r: Record<string, unknown>,
  field: string,
): { leaseOwner: string | null; leaseUntil: string | null } {
  const { owner, until } = newOutboxLease(r, field);
  return {
    leaseOwner: owner === null ? null : toText(owner, `${field}.leaseOwner`, 128),
    leaseUntil: until === null ? null : toDate(until, `${field}.leaseUntil`).toISOString(),
  };
}

// ---- availability and time off ----

export const AVAILABILITY_COLUMNS = 'id, doctor_id, rules, effective_from, effective_until, created_at';

export function rowToAvailability(row: Row): AvailabilityRecord {
  return {
    id: str(row.id),
    doctorId: str(row.doctor_id),
    // Parsed afresh from the row: every record returned is a copy of its own.
    rules: json(row.rules) as AvailabilityRecord['rules'],
    effectiveFrom: date(row.effective_from),
    effectiveUntil: nullableDate(row.effective_until),
    createdAt: date(row.created_at),
  };
}

/** The column values of a new availability version, in AVAILABILITY_COLUMNS order. */
export function availabilityValues(input: unknown, id: string, now: Date): unknown[] {
  const a = objectArgument(input, 'insertAvailability');
  // The engine validated the rules; the store keeps them as JSON, exactly as given.
  const rules = objectArgument(a.rules, 'rules');
  return [
    id,
    toId(a.doctorId, 'doctorId'),
    jsonParam(rules, 'rules'),
    toDate(a.effectiveFrom, 'effectiveFrom'),
    toNullableDate(a.effectiveUntil, 'effectiveUntil'),
    now,
  ];
}

export const TIME_OFF_COLUMNS = 'id, doctor_id, start_time, end_time, reason, created_at';

export function rowToTimeOff(row: Row): TimeOff {
  return {
    id: str(row.id),
    doctorId: str(row.doctor_id),
    start: date(row.start_time),
    end: date(row.end_time),
    reason: nullableStr(row.reason),
    createdAt: date(row.created_at),
  };
}

/** The column values of a new time off, in TIME_OFF_COLUMNS order. */
export function timeOffValues(input: unknown, id: string, now: Date): unknown[] {
  const t = objectArgument(input, 'insertTimeOff');
  const start = toDate(t.start, 'start');
  const end = toDate(t.end, 'end');
  // The table's CHECK would refuse it too, but as a database error rather than bad input.
  if (end <= start) {
    throw new BookingError('INVALID_INPUT', 'end must be after start (time off is half-open [start, end))', {
      details: { field: 'end' },
    });
  }
  return [
    id,
    toId(t.doctorId, 'doctorId'),
    start,
    end,
    t.reason === undefined ? null : toNullableText(t.reason, 'reason', 2048),
    now,
  ];
}
