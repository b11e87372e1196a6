// How the memory store keeps records: fixed-shape rows with epoch-millisecond times, and typed copies in and out.
import type {
  Actor,
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
import type { BookingMode } from '../../domain/plan-policy.js';
import type { BookingStatus, CancelReason, PaymentStatus, ScheduleStatus } from '../../domain/status.js';
import { isMarkedFrozen } from '../../ports/frozen-payloads.js';
import type { OutboxRecord, OutboxStatus } from '../../ports/outbox.js';

// Rows are never changed in place: a write stores a new row (copy-on-write), which is what lets a
// snapshot transaction keep reading the row its snapshot saw. Every row is built by one object
// literal per kind, so rows of a kind share one hidden class and scans over them stay monomorphic.
// Strings are immutable and shared as they are; everything else is copied field by field.

const time = (d: Date): number => d.getTime();

/** Rows share one empty list rather than each keeping its own (none is ever changed in place). */
const NONE: readonly never[] = Object.freeze([]);
const listOf = <T>(items: readonly T[]): readonly T[] => (items.length === 0 ? NONE : items);
const timeOrNull = (d: Date | null): number | null => (d === null ? null : d.getTime());
const dateOrNull = (t: number | null): Date | null => (t === null ? null : new Date(t));

export interface ScheduleRow {
  readonly id: string;
  readonly doctorId: string;
  readonly startTime: number;
  readonly endTime: number;
  readonly timeZone: string;
  readonly feeAmount: number;
  readonly feeCurrency: string;
  readonly status: ScheduleStatus;
  readonly bookedBy: string | null;
  readonly rolledOverFrom: string | null;
  /** Undefined when the record never had the field (returned without it, as it came). */
  readonly localStartTime: string | null | undefined;
  readonly availabilityId: string | null | undefined;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** `interner` keeps one string per doctor id, time zone and currency (see Interner). */
export function scheduleRow(
  s: Omit<Schedule, 'id' | 'createdAt' | 'updatedAt'>,
  id: string,
  createdAt: number,
  updatedAt: number,
  interner: Interner,
): ScheduleRow {
  return {
    id,
    doctorId: interner.text(s.doctorId),
    startTime: time(s.startTime),
    endTime: time(s.endTime),
    timeZone: interner.text(s.timeZone),
    feeAmount: s.fee.amount,
    feeCurrency: interner.text(s.fee.currency),
    status: s.status,
    bookedBy: s.bookedBy,
    rolledOverFrom: s.rolledOverFrom,
    localStartTime: s.localStartTime,
    availabilityId: s.availabilityId,
    createdAt,
    updatedAt,
  };
}

/** A new row from `r` with a compare-and-set's changes: the same field order, so the same hidden class. */
export function changedScheduleRow(
  r: ScheduleRow,
  c: { status?: ScheduleStatus | undefined; bookedBy?: string | null | undefined },
  updatedAt: number,
): ScheduleRow {
  return {
    id: r.id,
    doctorId: r.doctorId,
    startTime: r.startTime,
    endTime: r.endTime,
    timeZone: r.timeZone,
    feeAmount: r.feeAmount,
    feeCurrency: r.feeCurrency,
    status: c.status ?? r.status,
    bookedBy: 'bookedBy' in c ? (c.bookedBy ?? null) : r.bookedBy,
    rolledOverFrom: r.rolledOverFrom,
    localStartTime: r.localStartTime,
    availabilityId: r.availabilityId,
    createdAt: r.createdAt,
    updatedAt,
  };
}

export function toSchedule(r: ScheduleRow): Schedule {
  const s: Schedule = {
    id: r.id,
    doctorId: r.doctorId,
    startTime: new Date(r.startTime),
    endTime: new Date(r.endTime),
    timeZone: r.timeZone,
    fee: { amount: r.feeAmount, currency: r.feeCurrency },
    status: r.status,
    bookedBy: r.bookedBy,
    rolledOverFrom: r.rolledOverFrom,
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
  if (r.localStartTime !== undefined) s.localStartTime = r.localStartTime;
  if (r.availabilityId !== undefined) s.availabilityId = r.availabilityId;
  return s;
}

/**
 * A booking's history, flat: each line is HISTORY_CELLS cells in a row (at, from, to,
 * paymentStatus, the actor's role and id, reason), all lines in one array. One array per booking
 * instead of one plus an object per line: 64 bytes less per booking with two lines.
 */
export type HistoryCells = readonly (number | string | null)[];

/** Cells per history line. */
const HISTORY_CELLS = 7;

const lineCells = (h: BookingHistoryEntry): (number | string | null)[] => [
  time(h.at),
  h.from,
  h.to,
  h.paymentStatus,
  h.actor.role,
  h.actor.id,
  h.reason,
];

/** The cells of `entries`, in order. */
export function historyCells(entries: readonly BookingHistoryEntry[]): HistoryCells {
  const cells: (number | string | null)[] = [];
  for (const h of entries) cells.push(...lineCells(h));
  return listOf(cells);
}

/** `cells` with `h` added as its last line: a new array of exactly the new length. */
export const withHistoryLine = (cells: HistoryCells, h: BookingHistoryEntry): HistoryCells =>
  cells.concat(lineCells(h));

function toHistory(cells: HistoryCells): BookingHistoryEntry[] {
  const lines: BookingHistoryEntry[] = [];
  for (let i = 0; i < cells.length; i += HISTORY_CELLS) {
    lines.push({
      at: new Date(cells[i] as number),
      from: cells[i + 1] as BookingStatus | null,
      to: cells[i + 2] as BookingStatus,
      paymentStatus: cells[i + 3] as PaymentStatus,
      actor: { role: cells[i + 4] as Actor['role'], id: cells[i + 5] as string },
      reason: cells[i + 6] as string | null,
    });
  }
  return lines;
}

export interface BookingRow {
  readonly id: string;
  readonly patientId: string;
  readonly doctorId: string;
  readonly scheduleId: string;
  readonly slotStart: number;
  readonly slotEnd: number;
  readonly timeZone: string;
  readonly mode: BookingMode;
  readonly plan: string;
  readonly priceAmount: number;
  readonly priceCurrency: string;
  readonly status: BookingStatus;
  readonly paymentStatus: PaymentStatus;
  readonly cancelReason: CancelReason | null;
  readonly paymentTransactionId: string | null;
  readonly checkoutSessionId: string | null;
  readonly paymentUrl: string | null;
  readonly holdExpiresAt: number | null;
  readonly idempotencyKey: string | null;
  readonly amountRefunded: number;
  /** Interned and frozen: bookings confirmed under the same rules share one object. */
  readonly policy: Readonly<BookingPolicy> | null | undefined;
  readonly remindersSent: readonly string[] | undefined;
  readonly history: HistoryCells;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** The fields a booking update may change, in row form. */
export type BookingRowChanges = {
  -readonly [K in Exclude<keyof BookingRow, 'id' | 'patientId' | 'doctorId' | 'createdAt'>]?: BookingRow[K];
};

export function bookingRow(
  b: Omit<Booking, 'id' | 'createdAt' | 'updatedAt' | 'history' | 'policy'>,
  id: string,
  extra: {
    policy: Readonly<BookingPolicy> | null | undefined;
    history: HistoryCells;
    createdAt: number;
    updatedAt: number;
  },
): BookingRow {
  return {
    id,
    patientId: b.patientId,
    doctorId: b.doctorId,
    scheduleId: b.scheduleId,
    slotStart: time(b.slotStart),
    slotEnd: time(b.slotEnd),
    timeZone: b.timeZone,
    mode: b.mode,
    plan: b.plan,
    priceAmount: b.price.amount,
    priceCurrency: b.price.currency,
    status: b.status,
    paymentStatus: b.paymentStatus,
    cancelReason: b.cancelReason,
    paymentTransactionId: b.paymentTransactionId,
    checkoutSessionId: b.checkoutSessionId,
    paymentUrl: b.paymentUrl,
    holdExpiresAt: timeOrNull(b.holdExpiresAt),
    idempotencyKey: b.idempotencyKey,
    amountRefunded: b.amountRefunded,
    policy: extra.policy,
    remindersSent: b.remindersSent === undefined ? undefined : listOf([...b.remindersSent]),
    history: extra.history,
    createdAt: extra.createdAt,
    updatedAt: extra.updatedAt,
  };
}

/** A new row from `r` with `c` applied: the same field order, so the same hidden class. */
export function changedBookingRow(r: BookingRow, c: BookingRowChanges): BookingRow {
  return {
    id: r.id,
    patientId: r.patientId,
    doctorId: r.doctorId,
    scheduleId: c.scheduleId ?? r.scheduleId,
    slotStart: c.slotStart ?? r.slotStart,
    slotEnd: c.slotEnd ?? r.slotEnd,
    timeZone: c.timeZone ?? r.timeZone,
    mode: c.mode ?? r.mode,
    plan: c.plan ?? r.plan,
    priceAmount: c.priceAmount ?? r.priceAmount,
    priceCurrency: c.priceCurrency ?? r.priceCurrency,
    status: c.status ?? r.status,
    paymentStatus: c.paymentStatus ?? r.paymentStatus,
    cancelReason: 'cancelReason' in c ? (c.cancelReason ?? null) : r.cancelReason,
    paymentTransactionId: 'paymentTransactionId' in c ? (c.paymentTransactionId ?? null) : r.paymentTransactionId,
    checkoutSessionId: 'checkoutSessionId' in c ? (c.checkoutSessionId ?? null) : r.checkoutSessionId,
    paymentUrl: 'paymentUrl' in c ? (c.paymentUrl ?? null) : r.paymentUrl,
    holdExpiresAt: 'holdExpiresAt' in c ? (c.holdExpiresAt ?? null) : r.holdExpiresAt,
    idempotencyKey: 'idempotencyKey' in c ? (c.idempotencyKey ?? null) : r.idempotencyKey,
    amountRefunded: c.amountRefunded ?? r.amountRefunded,
    policy: 'policy' in c ? c.policy : r.policy,
    remindersSent: 'remindersSent' in c ? c.remindersSent : r.remindersSent,
    history: c.history ?? r.history,
    createdAt: r.createdAt,
    updatedAt: c.updatedAt ?? r.updatedAt,
  };
}

export function toBooking(r: BookingRow): Booking {
  const b: Booking = {
    id: r.id,
    patientId: r.patientId,
    doctorId: r.doctorId,
    scheduleId: r.scheduleId,
    slotStart: new Date(r.slotStart),
    slotEnd: new Date(r.slotEnd),
    timeZone: r.timeZone,
    mode: r.mode,
    plan: r.plan,
    price: { amount: r.priceAmount, currency: r.priceCurrency },
    status: r.status,
    paymentStatus: r.paymentStatus,
    cancelReason: r.cancelReason,
    paymentTransactionId: r.paymentTransactionId,
    checkoutSessionId: r.checkoutSessionId,
    paymentUrl: r.paymentUrl,
    holdExpiresAt: dateOrNull(r.holdExpiresAt),
    idempotencyKey: r.idempotencyKey,
    amountRefunded: r.amountRefunded,
    history: toHistory(r.history),
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
  if (r.policy !== undefined) b.policy = r.policy === null ? null : copyPolicy(r.policy);
  if (r.remindersSent !== undefined) b.remindersSent = [...r.remindersSent];
  return b;
}

export function copyPolicy(p: Readonly<BookingPolicy>): BookingPolicy {
  const c = p.cancellation;
  const r = p.reschedule;
  return {
    cancellation: {
      tiers: c.tiers.map((t) => ({ hoursBefore: t.hoursBefore, refundPercent: t.refundPercent })),
      patientCutoffHours: c.patientCutoffHours,
      afterStart: c.afterStart,
    },
    reschedule: {
      patientDeadlineHours: r.patientDeadlineHours,
      staffDeadlineHours: r.staffDeadlineHours,
      maxPerBooking: r.maxPerBooking,
      fee: r.fee,
    },
  };
}

/**
 * What many rows hold alike, kept once. Bookings confirmed under the same rules share one frozen
 * policy object: its key is the policy's JSON, so a copy is kept only per distinct set of rules,
 * not per booking. A slot's doctor id, time zone and currency are few distinct values that each
 * caller hands in as a string of its own (parsed from a request, built from a number): the row
 * keeps the first equal string instead (about 40 bytes saved per slot, and per booking that
 * copies the slot's). Both kinds grow with distinct values only (doctors, zones, currencies).
 */
export class Interner {
  private readonly policies = new Map<string, Readonly<BookingPolicy>>();
  /**
   * Policies handed in deeply frozen plain objects (the engine's are), by identity: freezing
   * cannot be undone, so their JSON is taken once, not per booking.
   */
  private readonly frozen = new WeakMap<object, Readonly<BookingPolicy>>();
  private readonly texts = new Map<string, string>();

  policy(p: BookingPolicy | null | undefined): Readonly<BookingPolicy> | null | undefined {
    if (p === null || p === undefined) return p;
    const known = this.frozen.get(p);
    if (known !== undefined) return known;
    const kept = this.byJson(p);
    if (deeplyFrozen(p)) this.frozen.set(p, kept);
    return kept;
  }

  private byJson(p: BookingPolicy): Readonly<BookingPolicy> {
    const key = JSON.stringify(p);
    let kept = this.policies.get(key);
    if (kept === undefined) {
      const copy = copyPolicy(p);
      Object.freeze(copy.cancellation.tiers);
      for (const t of copy.cancellation.tiers) Object.freeze(t);
      Object.freeze(copy.cancellation);
      Object.freeze(copy.reschedule);
      kept = Object.freeze(copy);
      this.policies.set(key, kept);
    }
    return kept;
  }

  /** The first string equal to `s` this interner saw. */
  text(s: string): string {
    const kept = this.texts.get(s);
    if (kept !== undefined) return kept;
    this.texts.set(s, s);
    return s;
  }
}

export interface RefundRow {
  readonly id: string;
  readonly amount: number;
  readonly status: RefundRecord['status'];
  readonly providerRefundId: string | null;
  readonly reason: string | null;
  readonly failureMessage: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export function refundRow(r: RefundRecord): RefundRow {
  return {
    id: r.id,
    amount: r.amount,
    status: r.status,
    providerRefundId: r.providerRefundId,
    reason: r.reason,
    failureMessage: r.failureMessage,
    createdAt: time(r.createdAt),
    updatedAt: time(r.updatedAt),
  };
}

function toRefund(r: RefundRow): RefundRecord {
  return {
    id: r.id,
    amount: r.amount,
    status: r.status,
    providerRefundId: r.providerRefundId,
    reason: r.reason,
    failureMessage: r.failureMessage,
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
}

export interface PaymentRow {
  readonly id: string;
  readonly bookingId: string;
  readonly provider: string;
  readonly providerPaymentId: string;
  readonly checkoutSessionId: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly credited: boolean;
  readonly refunds: readonly RefundRow[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export function paymentRow(
  p: Omit<PaymentTransaction, 'id' | 'createdAt' | 'updatedAt' | 'refunds'> | PaymentRow,
  id: string,
  refunds: readonly RefundRow[],
  createdAt: number,
  updatedAt: number,
): PaymentRow {
  return {
    id,
    bookingId: p.bookingId,
    provider: p.provider,
    providerPaymentId: p.providerPaymentId,
    checkoutSessionId: p.checkoutSessionId,
    amount: p.amount,
    currency: p.currency,
    credited: p.credited,
    refunds: listOf(refunds),
    createdAt,
    updatedAt,
  };
}

export function toPayment(r: PaymentRow): PaymentTransaction {
  return {
    id: r.id,
    bookingId: r.bookingId,
    provider: r.provider,
    providerPaymentId: r.providerPaymentId,
    checkoutSessionId: r.checkoutSessionId,
    amount: r.amount,
    currency: r.currency,
    credited: r.credited,
    refunds: r.refunds.map(toRefund),
    createdAt: new Date(r.createdAt),
    updatedAt: new Date(r.updatedAt),
  };
}

export interface LedgerRow {
  readonly id: string;
  readonly key: string;
  readonly doctorId: string;
  readonly bookingId: string;
  readonly kind: LedgerEntry['kind'];
  readonly amount: number;
  readonly currency: string;
  readonly createdAt: number;
}

export function ledgerRow(e: Omit<LedgerEntry, 'id'>, id: string): LedgerRow {
  return {
    id,
    key: e.key,
    doctorId: e.doctorId,
    bookingId: e.bookingId,
    kind: e.kind,
    amount: e.amount,
    currency: e.currency,
    createdAt: time(e.createdAt),
  };
}

export function toLedger(r: LedgerRow): LedgerEntry {
  return {
    id: r.id,
    key: r.key,
    doctorId: r.doctorId,
    bookingId: r.bookingId,
    kind: r.kind,
    amount: r.amount,
    currency: r.currency,
    createdAt: new Date(r.createdAt),
  };
}

/** A patient's customer at a provider, as the store returns it (it keeps only the customer id). */
export const customerOf = (
  who: { readonly patientId: string; readonly provider: string },
  customerId: string,
): PaymentCustomer => ({ patientId: who.patientId, provider: who.provider, customerId });

export interface TimeOffRow {
  readonly id: string;
  readonly doctorId: string;
  readonly start: number;
  readonly end: number;
  readonly reason: string | null;
  readonly createdAt: number;
}

export const toTimeOff = (r: TimeOffRow): TimeOff => ({
  id: r.id,
  doctorId: r.doctorId,
  start: new Date(r.start),
  end: new Date(r.end),
  reason: r.reason,
  createdAt: new Date(r.createdAt),
});

/** Availability versions are few and their rules nested: kept as records, cloned whole. */
export const copyAvailability = (r: AvailabilityRecord): AvailabilityRecord => structuredClone(r);

/**
 * A frozen copy of a JSON-safe value (what an outbox payload is): one walk, and reads can hand
 * out the frozen object itself (mutating it throws instead of changing the store). With
 * `shared`, an object met again (the booking one commit's records all carry) is copied once and
 * its frozen copy shared: frozen, it cannot change under any of them.
 */
export function frozenJson(value: unknown, shared?: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (shared !== undefined) {
    const known = shared.get(value);
    if (known !== undefined) return known;
  }
  // Frozen all the way down (what the engine's encoding hands over, marked so): no caller can
  // change it, so it is kept as it is.
  if (isMarkedFrozen(value) || deeplyFrozen(value, shared)) return value;
  let copy: unknown;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = frozenJson(value[i], shared);
    copy = Object.freeze(out);
  } else {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const v = frozenJson((value as Record<string, unknown>)[key], shared);
      if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true });
      else out[key] = v;
    }
    copy = Object.freeze(out);
  }
  shared?.set(value, copy);
  return copy;
}

/** Whether `value` and every object in it are frozen plain objects or arrays; remembers those that are in `shared`. */
function deeplyFrozen(value: object, shared?: Map<object, unknown>): boolean {
  if (shared?.get(value) === value) return true;
  if (!Object.isFrozen(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return false;
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    if (child !== null && typeof child === 'object' && !deeplyFrozen(child, shared)) return false;
  }
  shared?.set(value, value);
  return true;
}

const NO_PAYLOAD: Record<string, unknown> = Object.freeze({});

/**
 * An outbox delivery. The payload is kept frozen and handed out as it is (reads copy nothing of
 * it); a delivered record keeps no payload (`null`, read as `{}`): nothing reads it after
 * delivery, and it is most of a record's size.
 */
export interface OutboxRow {
  readonly key: string;
  readonly eventId: string;
  readonly consumer: string;
  readonly type: string;
  readonly bookingId: string | null;
  readonly scheduleId: string | null;
  readonly payload: Readonly<Record<string, unknown>> | null;
  readonly version: number;
  readonly createdAt: number;
  readonly status: OutboxStatus;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly leaseOwner: string | null;
  readonly leaseUntil: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: number | null;
}

export function outboxRow(r: OutboxRow, c: Partial<Omit<OutboxRow, 'key'>>): OutboxRow {
  return {
    key: r.key,
    eventId: c.eventId ?? r.eventId,
    consumer: c.consumer ?? r.consumer,
    type: c.type ?? r.type,
    bookingId: 'bookingId' in c ? (c.bookingId ?? null) : r.bookingId,
    scheduleId: 'scheduleId' in c ? (c.scheduleId ?? null) : r.scheduleId,
    payload: 'payload' in c ? (c.payload ?? null) : r.payload,
    version: c.version ?? r.version,
    createdAt: c.createdAt ?? r.createdAt,
    status: c.status ?? r.status,
    attempts: c.attempts ?? r.attempts,
    nextAttemptAt: c.nextAttemptAt ?? r.nextAttemptAt,
    leaseOwner: 'leaseOwner' in c ? (c.leaseOwner ?? null) : r.leaseOwner,
    leaseUntil: 'leaseUntil' in c ? (c.leaseUntil ?? null) : r.leaseUntil,
    lastError: 'lastError' in c ? (c.lastError ?? null) : r.lastError,
    deliveredAt: 'deliveredAt' in c ? (c.deliveredAt ?? null) : r.deliveredAt,
  };
}

export function toOutbox(r: OutboxRow): OutboxRecord {
  return {
    key: r.key,
    eventId: r.eventId,
    consumer: r.consumer,
    type: r.type,
    bookingId: r.bookingId,
    scheduleId: r.scheduleId,
    payload: (r.payload ?? NO_PAYLOAD) as Record<string, unknown>,
    version: r.version,
    createdAt: new Date(r.createdAt),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.nextAttemptAt),
    leaseOwner: r.leaseOwner,
    leaseUntil: dateOrNull(r.leaseUntil),
    lastError: r.lastError,
    deliveredAt: dateOrNull(r.deliveredAt),
  };
}

export { dateOrNull, time, timeOrNull };
