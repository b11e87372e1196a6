// Domain records ↔ MongoDB documents: camelCase domain, the original field names in the database.
import mongoose from 'mongoose';
import type { AvailabilityRules } from '../../domain/availability.js';
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
import {
  BOOKING_STATUSES,
  type BookingStatus,
  CANCEL_REASONS,
  isActiveBookingStatus,
  PAYMENT_STATUSES,
  type PaymentStatus,
  SCHEDULE_STATUSES,
  type ScheduleStatus,
} from '../../domain/status.js';
import type {
  BookingChanges,
  NewAvailabilityRecord,
  NewBooking,
  NewLedgerEntry,
  NewPaymentTransaction,
  NewSchedule,
  NewTimeOff,
  ScheduleChanges,
} from '../../ports/booking-store.js';
import type { NewOutboxRecord, OutboxRecord, OutboxStatus } from '../../ports/outbox.js';
import { newOutboxLease } from '../outbox-lease.js';
import type {
  AvailabilityDocument,
  AvailabilityRulesDocument,
  BookingDocument,
  BookingHistoryDocument,
  LedgerEntryDocument,
  OutboxDocument,
  PaymentCustomerDocument,
  PaymentTransactionDocument,
  PaymentTransactionStatus,
  ProcessedEventDocument,
  RefundDocument,
  ScheduleDocument,
  TimeOffDocument,
} from './documents.js';
import { type HostIdMode, idToString, type ObjectId, toHostId, toKey, toObjectId } from './ids.js';

function invalid(field: string, expected: string): BookingError {
  return new BookingError('INVALID_INPUT', `${field} must be ${expected}`, { details: { field } });
}

const copyDate = (value: Date): Date => new Date(value.getTime());
const copyNullableDate = (value: Date | null | undefined): Date | null => (value ? copyDate(value) : null);

export function toDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, 'a valid Date');
  return copyDate(value);
}

function toNullableDate(value: unknown, field: string): Date | null {
  return value === null ? null : toDate(value, field);
}

function toNullableString(value: unknown, field: string): string | null {
  if (value === null) return null;
  if (typeof value !== 'string') throw invalid(field, 'a string or null');
  return value;
}

function toMinorUnits(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, 'a whole number of minor units >= 0');
  }
  return value;
}

function member<T extends string>(list: readonly T[], value: unknown, field: string): T {
  if (typeof value !== 'string' || !(list as readonly string[]).includes(value)) {
    throw invalid(field, `one of ${list.join(', ')}`);
  }
  return value as T;
}

/** Expected statuses of a compare-and-set or query, always as a list (validated: no operators). */
export function statusList<T extends string>(list: readonly T[], value: T | readonly T[], field: string): T[] {
  const values: readonly unknown[] = Array.isArray(value) ? value : [value];
  return values.map((v, i) => member(list, v, Array.isArray(value) ? `${field}[${i}]` : field));
}

export const scheduleStatuses = (value: ScheduleStatus | readonly ScheduleStatus[], field: string) =>
  statusList(SCHEDULE_STATUSES, value, field);
export const bookingStatuses = (value: BookingStatus | readonly BookingStatus[], field: string) =>
  statusList(BOOKING_STATUSES, value, field);
export const paymentStatuses = (value: PaymentStatus | readonly PaymentStatus[], field: string) =>
  statusList(PAYMENT_STATUSES, value, field);

export const newObjectId = (): ObjectId => new mongoose.Types.ObjectId();

// ---- schedules (DoctorAppointmentSchedule) ----

export function scheduleToDocument(schedule: NewSchedule, hostIds: HostIdMode, now: Date): ScheduleDocument {
  const doc: ScheduleDocument = {
    _id: newObjectId(),
    createdBy: toHostId(schedule.doctorId, 'doctorId', hostIds),
    startTime: toDate(schedule.startTime, 'startTime'),
    endTime: toDate(schedule.endTime, 'endTime'),
    timeZone: schedule.timeZone,
    fee: { amount: schedule.fee?.amount, currency: schedule.fee?.currency },
    status: schedule.status,
    booked_by: schedule.bookedBy === null ? null : toHostId(schedule.bookedBy, 'bookedBy', hostIds),
    rolledOverFrom: schedule.rolledOverFrom === null ? null : toObjectId(schedule.rolledOverFrom, 'rolledOverFrom'),
    createdAt: now,
    updatedAt: now,
    __v: 0,
  };
  // Stored only when set (the schema validates HH:mm), so slots without it look as they always did.
  if (schedule.localStartTime != null) doc.localStartTime = schedule.localStartTime;
  if (schedule.availabilityId != null) doc.availabilityId = toObjectId(schedule.availabilityId, 'availabilityId');
  return doc;
}

export function documentToSchedule(doc: ScheduleDocument): Schedule {
  const schedule: Schedule = {
    id: idToString(doc._id),
    doctorId: idToString(doc.createdBy),
    startTime: copyDate(doc.startTime),
    endTime: copyDate(doc.endTime),
    timeZone: doc.timeZone,
    fee: { amount: doc.fee.amount, currency: doc.fee.currency },
    status: doc.status,
    bookedBy: doc.booked_by == null ? null : idToString(doc.booked_by),
    rolledOverFrom: doc.rolledOverFrom == null ? null : idToString(doc.rolledOverFrom),
    createdAt: copyDate(doc.createdAt),
    updatedAt: copyDate(doc.updatedAt),
  };
  // Absent unless set, as the other stores return it.
  if (typeof doc.localStartTime === 'string') schedule.localStartTime = doc.localStartTime;
  if (doc.availabilityId != null) schedule.availabilityId = idToString(doc.availabilityId);
  return schedule;
}

export type ScheduleChangesDocument = Partial<Pick<ScheduleDocument, 'status' | 'booked_by'>>;

export function scheduleChangesToDocument(set: ScheduleChanges, hostIds: HostIdMode): ScheduleChangesDocument {
  if (set === null || typeof set !== 'object') throw invalid('set', 'an object');
  const out: ScheduleChangesDocument = {};
  if (set.status !== undefined) out.status = member(SCHEDULE_STATUSES, set.status, 'set.status');
  if (set.bookedBy !== undefined) {
    out.booked_by = set.bookedBy === null ? null : toHostId(set.bookedBy, 'set.bookedBy', hostIds);
  }
  return out;
}

// ---- bookings (DoctorPatientScheduleBooking) ----

export function historyToDocument(entry: BookingHistoryEntry): BookingHistoryDocument {
  if (entry === null || typeof entry !== 'object') throw invalid('history', 'a history entry');
  return {
    at: toDate(entry.at, 'history.at'),
    from: entry.from === null ? null : member(BOOKING_STATUSES, entry.from, 'history.from'),
    to: member(BOOKING_STATUSES, entry.to, 'history.to'),
    paymentStatus: member(PAYMENT_STATUSES, entry.paymentStatus, 'history.paymentStatus'),
    actor: {
      role: member(['patient', 'doctor', 'admin', 'system'] as const, entry.actor?.role, 'history.actor.role'),
      id: toKey(entry.actor?.id, 'history.actor.id'),
    },
    reason: toNullableString(entry.reason, 'history.reason'),
  };
}

function documentToHistory(doc: BookingHistoryDocument): BookingHistoryEntry {
  return {
    at: copyDate(doc.at),
    from: doc.from ?? null,
    to: doc.to,
    paymentStatus: doc.paymentStatus,
    actor: { role: doc.actor.role, id: doc.actor.id },
    reason: doc.reason ?? null,
  };
}

/**
 * A policy snapshot as stored: null when none is given, else a deep copy through JSON (the
 * snapshot is JSON-like), so it comes back exactly as given and nothing the caller keeps can
 * change it. The engine built and validated it; only its being a plain object is checked here.
 */
export function toPolicy(value: unknown, field: string): BookingPolicy | null {
  if (value === undefined || value === null) return null;
  return toPayload(value, field) as unknown as BookingPolicy;
}

function documentToPolicy(value: BookingPolicy | null | undefined): BookingPolicy | null {
  return value == null ? null : structuredClone(value);
}

function toReminderKeys(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(field, 'an array of reminder keys');
  return value.map((key, i) => toKey(key, `${field}[${i}]`));
}

export function bookingToDocument(booking: NewBooking, hostIds: HostIdMode, now: Date): BookingDocument {
  return {
    _id: newObjectId(),
    patientId: toHostId(booking.patientId, 'patientId', hostIds),
    doctorId: toHostId(booking.doctorId, 'doctorId', hostIds),
    doctorScheduleId: toObjectId(booking.scheduleId, 'scheduleId'),
    slotStart: toDate(booking.slotStart, 'slotStart'),
    slotEnd: toDate(booking.slotEnd, 'slotEnd'),
    timeZone: booking.timeZone,
    mode: booking.mode,
    plan: booking.plan,
    price: { amount: booking.price?.amount, currency: booking.price?.currency },
    status: member(BOOKING_STATUSES, booking.status, 'status'),
    active: isActiveBookingStatus(booking.status),
    paymentStatus: booking.paymentStatus,
    cancelReason: booking.cancelReason,
    paymentTransactionId:
      booking.paymentTransactionId === null ? null : toObjectId(booking.paymentTransactionId, 'paymentTransactionId'),
    checkoutSessionId: toNullableString(booking.checkoutSessionId, 'checkoutSessionId'),
    paymentUrl: toNullableString(booking.paymentUrl, 'paymentUrl'),
    holdExpiresAt: toNullableDate(booking.holdExpiresAt, 'holdExpiresAt'),
    idempotencyKey: toNullableString(booking.idempotencyKey, 'idempotencyKey'),
    amountRefunded: booking.amountRefunded,
    policy: toPolicy(booking.policy, 'policy'),
    remindersSent: toReminderKeys(booking.remindersSent, 'remindersSent'),
    history: (booking.history ?? []).map(historyToDocument),
    createdAt: now,
    updatedAt: now,
    __v: 0,
  };
}

export function documentToBooking(doc: BookingDocument): Booking {
  return {
    id: idToString(doc._id),
    patientId: idToString(doc.patientId),
    doctorId: idToString(doc.doctorId),
    scheduleId: idToString(doc.doctorScheduleId),
    slotStart: copyDate(doc.slotStart),
    slotEnd: copyDate(doc.slotEnd),
    timeZone: doc.timeZone,
    mode: doc.mode,
    plan: doc.plan,
    price: { amount: doc.price.amount, currency: doc.price.currency },
    status: doc.status,
    paymentStatus: doc.paymentStatus,
    cancelReason: doc.cancelReason ?? null,
    paymentTransactionId: doc.paymentTransactionId == null ? null : idToString(doc.paymentTransactionId),
    checkoutSessionId: doc.checkoutSessionId ?? null,
    paymentUrl: doc.paymentUrl ?? null,
    holdExpiresAt: copyNullableDate(doc.holdExpiresAt),
    idempotencyKey: doc.idempotencyKey ?? null,
    amountRefunded: doc.amountRefunded ?? 0,
    policy: documentToPolicy(doc.policy),
    remindersSent: [...(doc.remindersSent ?? [])],
    history: (doc.history ?? []).map(documentToHistory),
    createdAt: copyDate(doc.createdAt),
    updatedAt: copyDate(doc.updatedAt),
  };
}

export type BookingChangesDocument = Partial<
  Pick<
    BookingDocument,
    | 'status'
    | 'active'
    | 'paymentStatus'
    | 'cancelReason'
    | 'paymentTransactionId'
    | 'checkoutSessionId'
    | 'paymentUrl'
    | 'holdExpiresAt'
    | 'amountRefunded'
    | 'doctorScheduleId'
    | 'slotStart'
    | 'slotEnd'
    | 'timeZone'
    | 'policy'
  >
>;

/**
 * The `$set` of a booking compare-and-set, validated field by field. `active` follows the
 * status whenever the status changes, so the partial unique index always sees the truth.
 */
export function bookingChangesToDocument(set: BookingChanges): BookingChangesDocument {
  if (set === null || typeof set !== 'object') throw invalid('set', 'an object');
  const out: BookingChangesDocument = {};
  if (set.status !== undefined) {
    out.status = member(BOOKING_STATUSES, set.status, 'set.status');
    out.active = isActiveBookingStatus(out.status);
  }
  if (set.paymentStatus !== undefined)
    out.paymentStatus = member(PAYMENT_STATUSES, set.paymentStatus, 'set.paymentStatus');
  if (set.cancelReason !== undefined) {
    out.cancelReason = set.cancelReason === null ? null : member(CANCEL_REASONS, set.cancelReason, 'set.cancelReason');
  }
  if (set.paymentTransactionId !== undefined) {
    out.paymentTransactionId =
      set.paymentTransactionId === null ? null : toObjectId(set.paymentTransactionId, 'set.paymentTransactionId');
  }
  if (set.checkoutSessionId !== undefined) {
    out.checkoutSessionId = toNullableString(set.checkoutSessionId, 'set.checkoutSessionId');
  }
  if (set.paymentUrl !== undefined) out.paymentUrl = toNullableString(set.paymentUrl, 'set.paymentUrl');
  if (set.holdExpiresAt !== undefined) out.holdExpiresAt = toNullableDate(set.holdExpiresAt, 'set.holdExpiresAt');
  if (set.amountRefunded !== undefined) out.amountRefunded = toMinorUnits(set.amountRefunded, 'set.amountRefunded');
  if (set.scheduleId !== undefined) out.doctorScheduleId = toObjectId(set.scheduleId, 'set.scheduleId');
  if (set.slotStart !== undefined) out.slotStart = toDate(set.slotStart, 'set.slotStart');
  if (set.slotEnd !== undefined) out.slotEnd = toDate(set.slotEnd, 'set.slotEnd');
  if (set.timeZone !== undefined) out.timeZone = toKey(set.timeZone, 'set.timeZone');
  if (set.policy !== undefined) out.policy = toPolicy(set.policy, 'set.policy');
  return out;
}

// ---- payments (PaymentTransaction) ----

/** `refunded` once succeeded refunds cover the amount, `partially_refunded` before, else `succeeded`. */
export function paymentStatusOf(amount: number, refunds: readonly RefundDocument[]): PaymentTransactionStatus {
  const refunded = refunds.reduce((sum, r) => sum + (r.status === 'succeeded' ? r.amount : 0), 0);
  if (refunded <= 0) return 'succeeded';
  return refunded >= amount ? 'refunded' : 'partially_refunded';
}

export function refundToDocument(refund: RefundRecord): RefundDocument {
  if (refund === null || typeof refund !== 'object') throw invalid('refund', 'a refund record');
  return {
    refundId: toKey(refund.id, 'refund.id'),
    amount: toMinorUnits(refund.amount, 'refund.amount'),
    status: member(['pending', 'succeeded', 'failed'] as const, refund.status, 'refund.status'),
    providerRefundId: toNullableString(refund.providerRefundId, 'refund.providerRefundId'),
    reason: toNullableString(refund.reason, 'refund.reason'),
    failureMessage: toNullableString(refund.failureMessage, 'refund.failureMessage'),
    createdAt: toDate(refund.createdAt, 'refund.createdAt'),
    updatedAt: toDate(refund.updatedAt, 'refund.updatedAt'),
  };
}

function documentToRefund(doc: RefundDocument): RefundRecord {
  return {
    id: doc.refundId,
    amount: doc.amount,
    status: doc.status,
    providerRefundId: doc.providerRefundId ?? null,
    reason: doc.reason ?? null,
    failureMessage: doc.failureMessage ?? null,
    createdAt: copyDate(doc.createdAt),
    updatedAt: copyDate(doc.updatedAt),
  };
}

/** The refunds after adding `refund`, or replacing the one with the same id in place. */
export function withRefund(refunds: readonly RefundDocument[], refund: RefundDocument): RefundDocument[] {
  const index = refunds.findIndex((r) => r.refundId === refund.refundId);
  return index === -1 ? [...refunds, refund] : refunds.map((r, i) => (i === index ? refund : r));
}

export function paymentToDocument(payment: NewPaymentTransaction, now: Date): PaymentTransactionDocument {
  const refunds = (payment.refunds ?? []).map(refundToDocument);
  return {
    _id: newObjectId(),
    referenceId: toObjectId(payment.bookingId, 'bookingId'),
    provider: toKey(payment.provider, 'provider'),
    providerPaymentId: toKey(payment.providerPaymentId, 'providerPaymentId'),
    checkoutSessionId: toNullableString(payment.checkoutSessionId, 'checkoutSessionId'),
    amount: payment.amount,
    currency: payment.currency,
    status: paymentStatusOf(payment.amount, refunds),
    credited: payment.credited,
    refunds,
    createdAt: now,
    updatedAt: now,
    __v: 0,
  };
}

export function documentToPayment(doc: PaymentTransactionDocument): PaymentTransaction {
  return {
    id: idToString(doc._id),
    bookingId: idToString(doc.referenceId),
    provider: doc.provider,
    providerPaymentId: doc.providerPaymentId,
    checkoutSessionId: doc.checkoutSessionId ?? null,
    amount: doc.amount,
    currency: doc.currency,
    credited: doc.credited ?? true,
    refunds: (doc.refunds ?? []).map(documentToRefund),
    createdAt: copyDate(doc.createdAt),
    updatedAt: copyDate(doc.updatedAt),
  };
}

// ---- the wallet ledger, processed events, payment customers ----

export function ledgerToDocument(entry: NewLedgerEntry, hostIds: HostIdMode): LedgerEntryDocument {
  return {
    _id: newObjectId(),
    key: toKey(entry.key, 'key'),
    doctorId: toHostId(entry.doctorId, 'doctorId', hostIds),
    bookingId: toObjectId(entry.bookingId, 'bookingId'),
    kind: entry.kind,
    amount: entry.amount,
    currency: entry.currency,
    createdAt: toDate(entry.createdAt, 'createdAt'),
    __v: 0,
  };
}

export function documentToLedger(doc: LedgerEntryDocument): LedgerEntry {
  return {
    id: idToString(doc._id),
    key: doc.key,
    doctorId: idToString(doc.doctorId),
    bookingId: idToString(doc.bookingId),
    kind: doc.kind,
    amount: doc.amount,
    currency: doc.currency,
    createdAt: copyDate(doc.createdAt),
  };
}

export function eventToDocument(event: { id: string; type: string; at: Date }): ProcessedEventDocument {
  if (event === null || typeof event !== 'object') throw invalid('event', 'an event record');
  return {
    _id: newObjectId(),
    eventId: toKey(event.id, 'event.id'),
    type: toKey(event.type, 'event.type'),
    processedAt: toDate(event.at, 'event.at'),
    __v: 0,
  };
}

export function documentToCustomer(doc: PaymentCustomerDocument): PaymentCustomer {
  return { patientId: idToString(doc.patientId), provider: doc.provider, customerId: doc.customerId };
}

// ---- the outbox (CareslotOutbox) ----

export const OUTBOX_STATUSES: readonly OutboxStatus[] = Object.freeze(['pending', 'delivered', 'dead'] as const);

export function toNullableKey(value: unknown, field: string): string | null {
  return value === null ? null : toKey(value, field);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The payload as stored: a deep copy through JSON (the port's payloads are JSON-safe), so what
 * comes back from the database is what went in, and nothing the caller keeps can change it.
 */
export function toPayload(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(field, 'a plain object (JSON-safe)');
  let copy: unknown;
  try {
    copy = JSON.parse(JSON.stringify(value));
  } catch {
    throw invalid(field, 'a plain object (JSON-safe)');
  }
  return copy as Record<string, unknown>;
}

export function toWholeNumber(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, 'a whole number >= 0');
  }
  return value;
}

/** A new delivery: pending, no attempts, due at its creation, no lease. */
export function outboxToDocument(record: NewOutboxRecord, field = 'record'): OutboxDocument {
  if (record === null || typeof record !== 'object') throw invalid(field, 'an outbox record');
  const createdAt = toDate(record.createdAt, `${field}.createdAt`);
  return {
    _id: newObjectId(),
    key: toKey(record.key, `${field}.key`),
    eventId: toKey(record.eventId, `${field}.eventId`),
    consumer: toKey(record.consumer, `${field}.consumer`),
    type: toKey(record.type, `${field}.type`),
    bookingId: toNullableKey(record.bookingId, `${field}.bookingId`),
    scheduleId: toNullableKey(record.scheduleId, `${field}.scheduleId`),
    payload: toPayload(record.payload, `${field}.payload`),
    version: toWholeNumber(record.version, `${field}.version`),
    createdAt,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: copyDate(createdAt),
    ...outboxLease(record, field),
    lastError: null,
    deliveredAt: null,
    __v: 0,
  };
}

/** A new record's lease: both owner and time, or neither. */
function outboxLease(record: NewOutboxRecord, field: string): { leaseOwner: string | null; leaseUntil: Date | null } {
  const { owner, until } = newOutboxLease(record, field);
  return {
    leaseOwner: owner === null ? null : toKey(owner, `${field}.leaseOwner`),
    leaseUntil: until === null ? null : toDate(until, `${field}.leaseUntil`),
  };
}

export function documentToOutbox(doc: OutboxDocument): OutboxRecord {
  return {
    key: doc.key,
    eventId: doc.eventId,
    consumer: doc.consumer,
    type: doc.type,
    bookingId: doc.bookingId ?? null,
    scheduleId: doc.scheduleId ?? null,
    payload: structuredClone(doc.payload ?? {}),
    version: doc.version,
    createdAt: copyDate(doc.createdAt),
    status: doc.status,
    attempts: doc.attempts ?? 0,
    nextAttemptAt: copyDate(doc.nextAttemptAt),
    leaseOwner: doc.leaseOwner ?? null,
    leaseUntil: copyNullableDate(doc.leaseUntil),
    lastError: doc.lastError ?? null,
    deliveredAt: copyNullableDate(doc.deliveredAt),
  };
}

// ---- availability rules (CareslotAvailability) and time off (CareslotTimeOff) ----

/** The rules as stored: a fresh plain object (the caller's arrays are not kept); the schema validates the values. */
function rulesToDocument(rules: unknown, field: string): AvailabilityRulesDocument {
  if (!isPlainObject(rules)) throw invalid(field, 'validated availability rules');
  const r = rules as unknown as Required<AvailabilityRules>;
  if (!Array.isArray(r.weekly)) throw invalid(`${field}.weekly`, 'an array of weekly windows');
  return {
    timeZone: r.timeZone,
    weekly: r.weekly.map((window, i) => {
      if (window === null || typeof window !== 'object') throw invalid(`${field}.weekly[${i}]`, 'a weekly window');
      if (!Array.isArray(window.days)) throw invalid(`${field}.weekly[${i}].days`, 'an array of weekdays');
      return { days: [...window.days], from: window.from, to: window.to };
    }),
    slotMinutes: r.slotMinutes,
    stepMinutes: r.stepMinutes,
    bufferBeforeMinutes: r.bufferBeforeMinutes,
    bufferAfterMinutes: r.bufferAfterMinutes,
    minNoticeMinutes: r.minNoticeMinutes,
    horizonDays: r.horizonDays,
    fee: { amount: r.fee?.amount, currency: r.fee?.currency },
  };
}

function documentToRules(doc: AvailabilityRulesDocument): Required<AvailabilityRules> {
  return {
    timeZone: doc.timeZone,
    weekly: doc.weekly.map((window) => ({ days: [...window.days], from: window.from, to: window.to })),
    slotMinutes: doc.slotMinutes,
    stepMinutes: doc.stepMinutes,
    bufferBeforeMinutes: doc.bufferBeforeMinutes,
    bufferAfterMinutes: doc.bufferAfterMinutes,
    minNoticeMinutes: doc.minNoticeMinutes,
    horizonDays: doc.horizonDays,
    fee: { amount: doc.fee.amount, currency: doc.fee.currency },
  };
}

export function availabilityToDocument(
  record: NewAvailabilityRecord,
  hostIds: HostIdMode,
  now: Date,
): AvailabilityDocument {
  if (record === null || typeof record !== 'object') throw invalid('record', 'an availability record');
  return {
    _id: newObjectId(),
    doctorId: toHostId(record.doctorId, 'doctorId', hostIds),
    rules: rulesToDocument(record.rules, 'rules'),
    effectiveFrom: toDate(record.effectiveFrom, 'effectiveFrom'),
    effectiveUntil: toNullableDate(record.effectiveUntil, 'effectiveUntil'),
    createdAt: now,
    __v: 0,
  };
}

export function documentToAvailability(doc: AvailabilityDocument): AvailabilityRecord {
  return {
    id: idToString(doc._id),
    doctorId: idToString(doc.doctorId),
    rules: documentToRules(doc.rules),
    effectiveFrom: copyDate(doc.effectiveFrom),
    effectiveUntil: copyNullableDate(doc.effectiveUntil),
    createdAt: copyDate(doc.createdAt),
  };
}

export function timeOffToDocument(timeOff: NewTimeOff, hostIds: HostIdMode, now: Date): TimeOffDocument {
  if (timeOff === null || typeof timeOff !== 'object') throw invalid('timeOff', 'a time off record');
  return {
    _id: newObjectId(),
    doctorId: toHostId(timeOff.doctorId, 'doctorId', hostIds),
    start: toDate(timeOff.start, 'start'),
    end: toDate(timeOff.end, 'end'),
    reason: toNullableString(timeOff.reason, 'reason'),
    createdAt: now,
    __v: 0,
  };
}

export function documentToTimeOff(doc: TimeOffDocument): TimeOff {
  return {
    id: idToString(doc._id),
    doctorId: idToString(doc.doctorId),
    start: copyDate(doc.start),
    end: copyDate(doc.end),
    reason: doc.reason ?? null,
    createdAt: copyDate(doc.createdAt),
  };
}
