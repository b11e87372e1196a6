// The mongoose schemas: field types, casting and validation of every document careslot writes.
import mongoose from 'mongoose';
import { WEEKDAYS } from '../../domain/availability.js';
import { BOOKING_STATUSES, CANCEL_REASONS, PAYMENT_STATUSES, SCHEDULE_STATUSES } from '../../domain/status.js';
import type { DocumentsByKey, MongooseStoreModelKey } from './documents.js';
import type { HostIdMode } from './ids.js';
import { MONGOOSE_STORE_INDEXES } from './indexes.js';
import { OUTBOX_STATUSES } from './mapping.js';

const { Schema } = mongoose;

export interface SchemaSettings {
  hostIds: HostIdMode;
  /** The host's user model, as `ref` of doctor and patient ids (objectId mode), for `populate`. */
  userModelName: string;
  /** Final model names, used as `ref` between careslot's own models. */
  modelNames: Readonly<Record<MongooseStoreModelKey, string>>;
}

export type CareslotSchemas = { [K in MongooseStoreModelKey]: mongoose.Schema<DocumentsByKey[K]> };

// Marks a schema as careslot's, so a second store on the same connection can reuse the model
// it finds there instead of failing, while a host's own model of that name is never touched.
// Symbol.for: the ESM and CJS builds loaded side by side recognise each other's marks.
const CARESLOT_SCHEMA = Symbol.for('careslot.mongoose.schema');

/** What the schema was built from; two stores may share a model only when this matches. */
export function schemaSignature(key: MongooseStoreModelKey, settings: SchemaSettings): string {
  return JSON.stringify({
    v: 1,
    key,
    hostIds: settings.hostIds,
    user: settings.userModelName,
    refs: settings.modelNames,
  });
}

function readMark(value: unknown): string | undefined {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  const mark = (value as Record<symbol, unknown>)[CARESLOT_SCHEMA];
  return typeof mark === 'string' ? mark : undefined;
}

/** The signature careslot put on a schema, or undefined for any other schema. */
export function readSchemaSignature(schema: unknown): string | undefined {
  return readMark(schema);
}

/**
 * The signature of a model careslot registered: read from the model itself, because a host
 * with `mongoose.set('cloneSchemas', true)` gets models whose schema is a clone, and
 * `Schema.prototype.clone()` copies no symbol-keyed property. Falls back to the schema's mark.
 */
export function readModelSignature(model: unknown): string | undefined {
  if (model === null || typeof model !== 'function') return undefined;
  return readMark(model) ?? readMark((model as { schema?: unknown }).schema);
}

/** Marks a model careslot just registered, so another store on the connection may share it. */
export function markModel(model: unknown, signature: string): void {
  Object.defineProperty(model, CARESLOT_SCHEMA, { value: signature });
}

const wholeMinorUnits = {
  validator: (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0,
  message: '{PATH} must be a whole number of minor units >= 0',
};

function money() {
  return new Schema(
    {
      amount: { type: Number, required: true, validate: wholeMinorUnits },
      currency: { type: String, required: true, match: [/^[a-z]{3}$/, '{PATH} must be a lowercase ISO 4217 code'] },
    },
    { _id: false },
  );
}

// Mongoose's own options only: nothing global, no auto-building of indexes or collections
// (that is the host's call via createIndexes/syncIndexes), no buffering behind a closed connection.
const BASE_OPTIONS = { autoIndex: false, autoCreate: false, bufferCommands: false, strict: true } as const;

/**
 * Keeps the host's plugins off careslot's schemas. mongoose applies `mongoose.plugin()` and
 * `connection.plugin()` plugins to every schema compiled on a connection, so a host plugin that
 * adds a required path would fail every careslot insert, and one that validates uniqueness
 * (mongoose-unique-validator) would read outside careslot's session and ignore the indexes'
 * partial filters. mongoose marks a schema once it applied those plugins and then skips it (and
 * its child schemas): `applyPlugins(schema, plugins, options, cacheKey)` in
 * lib/helpers/schema/applyPlugins.js returns at once when `schema[cacheKey]` is set, with
 * cacheKey `$globalPluginsApplied` (Mongoose.prototype._applyPlugins, and kept by
 * `Schema.prototype.clone()`, so `cloneSchemas` keeps it too) and `$connectionPluginsApplied`
 * (Connection.prototype.model). Setting both before the model is compiled opts the schema out.
 * mongoose's own built-in plugins (saveSubdocs, sharding, trackTransaction) are skipped with
 * them: they only hook `save()` and `deleteOne()` on documents, which careslot never calls (it
 * writes through the driver collection, and only validates and casts with the model).
 */
function optOutOfHostPlugins(schema: mongoose.Schema): void {
  const flags = schema as unknown as { $globalPluginsApplied?: boolean; $connectionPluginsApplied?: boolean };
  flags.$globalPluginsApplied = true;
  flags.$connectionPluginsApplied = true;
}

export function buildSchemas(settings: SchemaSettings): CareslotSchemas {
  const names = settings.modelNames;
  const hostId = (required: boolean) =>
    settings.hostIds === 'objectId'
      ? { type: Schema.Types.ObjectId, ref: settings.userModelName, required, ...(required ? {} : { default: null }) }
      : { type: String, maxlength: 128, required, ...(required ? {} : { default: null }) };
  const nullableString = { type: String, default: null };

  const schedule = new Schema(
    {
      createdBy: hostId(true),
      startTime: { type: Date, required: true },
      endTime: { type: Date, required: true },
      timeZone: { type: String, required: true },
      fee: { type: money(), required: true },
      status: { type: String, enum: SCHEDULE_STATUSES, required: true, default: 'available' },
      booked_by: hostId(false),
      rolledOverFrom: { type: Schema.Types.ObjectId, ref: names.schedule, default: null },
      // No default: documents without it (all of the original data) stay as they are.
      localStartTime: {
        type: String,
        match: [
          /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d\.\d{3})?$/,
          '{PATH} must be a wall-clock time HH:mm or HH:mm:ss.SSS',
        ],
      },
      // No default either: only slots materialized from rules carry it.
      availabilityId: { type: Schema.Types.ObjectId, ref: names.availability },
      createdAt: Date,
      updatedAt: Date,
    },
    { ...BASE_OPTIONS, timestamps: true },
  );

  const history = new Schema(
    {
      at: { type: Date, required: true },
      from: { type: String, enum: [...BOOKING_STATUSES, null], default: null },
      to: { type: String, enum: BOOKING_STATUSES, required: true },
      paymentStatus: { type: String, enum: PAYMENT_STATUSES, required: true },
      actor: {
        type: new Schema(
          {
            role: { type: String, enum: ['patient', 'doctor', 'admin', 'system'], required: true },
            id: { type: String, required: true },
          },
          { _id: false, id: false },
        ),
        required: true,
      },
      reason: nullableString,
    },
    { _id: false },
  );

  const booking = new Schema(
    {
      patientId: hostId(true),
      doctorId: hostId(true),
      doctorScheduleId: { type: Schema.Types.ObjectId, ref: names.schedule, required: true },
      slotStart: { type: Date, required: true },
      slotEnd: { type: Date, required: true },
      timeZone: { type: String, required: true },
      mode: { type: String, enum: ['paid', 'free'], required: true },
      plan: { type: String, required: true },
      price: { type: money(), required: true },
      status: { type: String, enum: BOOKING_STATUSES, required: true },
      active: { type: Boolean, required: true },
      paymentStatus: { type: String, enum: PAYMENT_STATUSES, required: true, default: 'unpaid' },
      cancelReason: { type: String, enum: [...CANCEL_REASONS, null], default: null },
      paymentTransactionId: { type: Schema.Types.ObjectId, ref: names.payment, default: null },
      checkoutSessionId: nullableString,
      paymentUrl: nullableString,
      holdExpiresAt: { type: Date, default: null },
      idempotencyKey: nullableString,
      amountRefunded: { type: Number, default: 0, validate: wholeMinorUnits },
      // A JSON snapshot kept as given (mapping checks it is a plain JSON-safe object): Mixed, so
      // mongoose neither casts it nor drops a field a later snapshot adds.
      policy: { type: Schema.Types.Mixed, default: null },
      remindersSent: { type: [String], default: [] },
      history: { type: [history], default: [] },
      createdAt: Date,
      updatedAt: Date,
    },
    { ...BASE_OPTIONS, timestamps: true },
  );
  booking.path('active').validate(function (this: { status?: string }, value: unknown) {
    return value === (this.status === 'pending' || this.status === 'scheduled');
  }, 'active must be true exactly when status is pending or scheduled');

  const refund = new Schema(
    {
      refundId: { type: String, required: true },
      amount: { type: Number, required: true, validate: wholeMinorUnits },
      status: { type: String, enum: ['pending', 'succeeded', 'failed'], required: true },
      providerRefundId: nullableString,
      reason: nullableString,
      failureMessage: nullableString,
      createdAt: { type: Date, required: true },
      updatedAt: { type: Date, required: true },
    },
    { _id: false },
  );

  const payment = new Schema(
    {
      referenceId: { type: Schema.Types.ObjectId, ref: names.booking, required: true },
      provider: { type: String, required: true },
      providerPaymentId: { type: String, required: true },
      checkoutSessionId: nullableString,
      amount: { type: Number, required: true, validate: wholeMinorUnits },
      currency: { type: String, required: true, match: /^[a-z]{3}$/ },
      status: { type: String, enum: ['succeeded', 'partially_refunded', 'refunded'], required: true },
      credited: { type: Boolean, required: true },
      refunds: { type: [refund], default: [] },
      createdAt: Date,
      updatedAt: Date,
    },
    { ...BASE_OPTIONS, timestamps: true },
  );

  const ledger = new Schema(
    {
      key: { type: String, required: true },
      doctorId: hostId(true),
      bookingId: { type: Schema.Types.ObjectId, ref: names.booking, required: true },
      kind: { type: String, enum: ['credit', 'debit'], required: true },
      amount: { type: Number, required: true, validate: wholeMinorUnits },
      currency: { type: String, required: true, match: /^[a-z]{3}$/ },
      createdAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const event = new Schema(
    {
      eventId: { type: String, required: true },
      type: { type: String, required: true },
      processedAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const customer = new Schema(
    {
      patientId: hostId(true),
      provider: { type: String, required: true },
      customerId: { type: String, required: true },
      createdAt: Date,
      updatedAt: Date,
    },
    { ...BASE_OPTIONS, timestamps: true },
  );

  const patientLock = new Schema(
    {
      patientId: hostId(true),
      locks: { type: Number, required: true, default: 0 },
      lockedAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const doctorLock = new Schema(
    {
      doctorId: hostId(true),
      locks: { type: Number, required: true, default: 0 },
      lockedAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const nonNegativeInteger = {
    validator: (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0,
    message: '{PATH} must be a whole number >= 0',
  };
  const outbox = new Schema(
    {
      key: { type: String, required: true },
      eventId: { type: String, required: true },
      consumer: { type: String, required: true },
      type: { type: String, required: true },
      bookingId: nullableString,
      scheduleId: nullableString,
      // A plain object as the engine gave it (JSON-safe); mongoose neither casts nor minimizes it.
      payload: { type: Schema.Types.Mixed, required: true },
      version: { type: Number, required: true, validate: nonNegativeInteger },
      createdAt: { type: Date, required: true },
      status: { type: String, enum: OUTBOX_STATUSES, required: true, default: 'pending' },
      attempts: { type: Number, required: true, default: 0, validate: nonNegativeInteger },
      nextAttemptAt: { type: Date, required: true },
      leaseOwner: nullableString,
      leaseUntil: { type: Date, default: null },
      lastError: nullableString,
      deliveredAt: { type: Date, default: null },
    },
    { ...BASE_OPTIONS, minimize: false },
  );

  const wallClock = (pattern: RegExp, message: string) => ({
    type: String,
    required: true,
    match: [pattern, message] as [RegExp, string],
  });
  const minutes = { type: Number, required: true, validate: nonNegativeInteger };
  const weeklyWindow = new Schema(
    {
      days: { type: [{ type: String, enum: WEEKDAYS }], required: true },
      from: wallClock(/^([01]\d|2[0-3]):[0-5]\d$/, '{PATH} must be a wall-clock time HH:mm'),
      to: wallClock(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, '{PATH} must be a wall-clock time HH:mm or 24:00'),
    },
    { _id: false, id: false },
  );
  // The rules as the engine validated them (every default filled in); nested, never queried.
  const rules = new Schema(
    {
      timeZone: { type: String, required: true },
      weekly: { type: [weeklyWindow], required: true },
      slotMinutes: minutes,
      stepMinutes: minutes,
      bufferBeforeMinutes: minutes,
      bufferAfterMinutes: minutes,
      minNoticeMinutes: minutes,
      horizonDays: minutes,
      fee: { type: money(), required: true },
    },
    { _id: false, id: false },
  );
  const availability = new Schema(
    {
      doctorId: hostId(true),
      rules: { type: rules, required: true },
      effectiveFrom: { type: Date, required: true },
      effectiveUntil: { type: Date, default: null },
      createdAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const timeOff = new Schema(
    {
      doctorId: hostId(true),
      start: { type: Date, required: true },
      end: { type: Date, required: true },
      reason: nullableString,
      createdAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  const walletBalance = new Schema(
    {
      doctorId: hostId(true),
      currency: { type: String, required: true, match: /^[a-z]{3}$/ },
      balance: {
        type: Number,
        required: true,
        validate: {
          validator: (value: unknown) => typeof value === 'number' && Number.isSafeInteger(value),
          message: '{PATH} must be a whole number of minor units',
        },
      },
      updatedAt: { type: Date, required: true },
    },
    BASE_OPTIONS,
  );

  // The marker's _id is the migration's name, so two runs that finish at once write one document.
  const migration = new Schema(
    {
      _id: { type: String, required: true },
      state: { type: String, enum: ['done'], required: true },
      finishedAt: { type: Date, required: true },
      processed: { type: Number, required: true, validate: nonNegativeInteger },
    },
    BASE_OPTIONS,
  );

  const schemas = {
    schedule,
    booking,
    payment,
    ledger,
    event,
    customer,
    patientLock,
    doctorLock,
    outbox,
    availability,
    timeOff,
    walletBalance,
    migration,
  } as unknown as CareslotSchemas;
  for (const key of Object.keys(schemas) as MongooseStoreModelKey[]) {
    const schema = schemas[key];
    for (const index of MONGOOSE_STORE_INDEXES[key]) {
      schema.index(index.fields, { ...index.options } as mongoose.IndexOptions);
    }
    Object.defineProperty(schema, CARESLOT_SCHEMA, { value: schemaSignature(key, settings) });
    optOutOfHostPlugins(schema);
  }
  return schemas;
}
