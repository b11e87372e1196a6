// MongooseStore: the BookingStore on the host's own mongoose Connection, with MongoDB transactions.
import mongoose from 'mongoose';
import type { AvailabilityRecord, LedgerEntry, PaymentCustomer, TimeOff } from '../../domain/entities.js';
import type {
  AvailabilityQuery,
  BookingQuery,
  BookingStore,
  LedgerQuery,
  PaymentQuery,
  ScheduleQuery,
  StoreOperations,
  TimeOffQuery,
} from '../../ports/booking-store.js';
import type { Clock } from '../../ports/clock.js';
import type { OutboxQuery, OutboxRecord } from '../../ports/outbox.js';
import { resolveStoreClock } from '../store-clock.js';
import {
  DEFAULT_COLLECTION_NAMES,
  DEFAULT_MODEL_NAMES,
  type DocumentsByKey,
  MODEL_KEYS,
  type MongooseStoreModelKey,
} from './documents.js';
import { retryUniqueConflicts, toStoreError } from './errors.js';
import type { HostId, HostIdMode } from './ids.js';
import {
  createIndexesError,
  findMissingIndexes,
  hasLegacyActiveFlags,
  type IndexedCollection,
  type IndexedCollections,
  type IndexRef,
  missingIndexesError,
  missingQueryIndexesWarning,
} from './index-check.js';
import { ACTIVE_BOOKING_INDEX, MONGOOSE_STORE_INDEXES, SUPERSEDED_INDEXES } from './indexes.js';
import {
  type ClientSession,
  MongooseOperations,
  MongooseReads,
  type OperationsDeps,
  type StoreCollections,
  type WalletTotalsState,
} from './mongoose-operations.js';
import { activeFlagRepairs, WALLET_BALANCES_MIGRATION } from './queries.js';
import { buildSchemas, markModel, readModelSignature, schemaSignature } from './schemas.js';
import { notOpenError, standaloneError, transactionSupportProblem } from './server-check.js';
import { TransactionDeadline } from './transaction-deadline.js';

/** The models the store registered (or found) on the connection, for hosts' own reads and `populate`. */
export type MongooseStoreModels = { [K in MongooseStoreModelKey]: mongoose.Model<DocumentsByKey[K]> };

export interface MongooseStoreOptions {
  /**
   * The host's open (or opening) connection: `mongoose.createConnection(uri)` or
   * `mongoose.connection`. careslot registers its models on it, never on the global default
   * connection, never closes it and never sets mongoose-wide options. Transactions need a
   * replica set or a sharded cluster (MongoDB 4.4 or later).
   */
  connection: mongoose.Connection;
  /**
   * How doctor and patient ids (`createdBy`, `booked_by`, `patientId`, `doctorId`) are
   * stored. `objectId`: the original system's refs to its users, so ids must be 24 hex
   * digits (anything else is INVALID_INPUT). `string`: any id up to 128 characters.
   * @defaultValue 'objectId'
   */
  hostIds?: HostIdMode;
  /**
   * The host's user model name, used as `ref` of doctor and patient ids (objectId mode), so
   * `store.models.booking.find().populate('patientId')` works on the host's connection.
   * @defaultValue 'User'
   */
  userModelName?: string;
  /**
   * Model names to use instead of the defaults (`DoctorAppointmentSchedule`,
   * `DoctorPatientScheduleBooking`, `PaymentTransaction`, `DoctorWalletLedger`,
   * `ProcessedPaymentEvent`, `PaymentCustomer`, `CareslotPatientLock`, `CareslotDoctorLock`,
   * `CareslotOutbox`, `CareslotAvailability`, `CareslotTimeOff`, `CareslotWalletBalance`,
   * `CareslotMigration`), e.g. when the host
   * already registered its own model under one of those names on this connection.
   * @defaultValue DEFAULT_MODEL_NAMES
   */
  modelNames?: Partial<Record<MongooseStoreModelKey, string>>;
  /**
   * Collection names per model. Point a renamed model at an existing collection to keep
   * using the original data (`{ schedule: 'doctorappointmentschedules' }`).
   * @defaultValue mongoose's pluralized, lowercased model name (`doctorappointmentschedules`, ...);
   * the outbox's is `careslot_outbox`, the availability versions' `careslot_availability`, the
   * time off's `careslot_time_off`, the wallet totals' `careslot_wallet_balances` and the
   * migration markers' `careslot_migrations` (`DEFAULT_COLLECTION_NAMES`)
   */
  collectionNames?: Partial<Record<MongooseStoreModelKey, string>>;
  /**
   * Source of `createdAt`/`updatedAt` and other stamps: pass the engine's clock (the same
   * `clock` option), so records and the engine agree on the time, e.g. a `ManualClock` in tests.
   * @defaultValue the system clock (`new Date()`)
   */
  clock?: Clock;
  /**
   * The stamps' source as a function.
   * @deprecated Use `clock` (`new MongooseStore({ connection, clock })`); `now` will be
   * removed in the next release. Passing both is a TypeError.
   * @defaultValue `() => new Date()`
   */
  now?: () => Date;
  /**
   * Options of every transaction, merged over the defaults: a field you give replaces that
   * default, the others stay (`{ maxCommitTimeMS: 5000 }` keeps snapshot reads and majority
   * writes). A field given as `undefined` keeps its default.
   * @defaultValue `{ readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' }, readPreference: 'primary' }`
   */
  transactionOptions?: mongoose.mongo.TransactionOptions;
  /**
   * Whether `ready()` (which every call runs first) also checks that careslot's unique indexes
   * exist, listing each collection's indexes once, and refuses with STORE_ERROR naming the
   * missing ones (`createIndexes()` builds them). Without the patient-lock, doctor-lock or
   * active-booking index, concurrent first bookings both commit. Turn it off only where the
   * indexes are missing on purpose (tests of exactly that).
   * @defaultValue true
   */
  checkIndexes?: boolean;
  /**
   * The most a `transaction(fn)` may take, in milliseconds: every attempt the driver makes after
   * a transient conflict, every commit retry, and a commit reply that never comes. Past it the
   * call fails with STORE_ERROR whose `details.commitOutcome` says whether a commit may have
   * happened (`'unknown'`) or not (`'not_committed'`). The store enforces it itself: the driver's
   * `withTransaction` ignores `timeoutMS` and retries for up to 120 s.
   * @defaultValue 30_000
   */
  timeoutMS?: number;
  /**
   * Where the store's warnings go (missing query indexes, a collection shared with another
   * model, wallet balances summed from the ledger because `backfillWalletBalances()` has not
   * run). Called with a message and a stable code.
   * @defaultValue `process.emitWarning(message, { code })` (Node prints it to stderr)
   */
  onWarning?: (message: string, code: MongooseStoreWarningCode) => void;
}

/** Codes of the warnings passed to `onWarning`. */
export type MongooseStoreWarningCode =
  | 'CARESLOT_MISSING_QUERY_INDEXES'
  | 'CARESLOT_SHARED_COLLECTION'
  | 'CARESLOT_WALLET_TOTALS_NOT_BACKFILLED';

/** What `backfillWalletBalances()` did. */
export interface WalletBackfillResult {
  /** False when the marker said the totals were complete and `recompute` was not asked for. */
  ran: boolean;
  /** Doctors whose totals were computed from their ledger lines. */
  doctors: number;
  /** Totals (doctor and currency) written. */
  totals: number;
}

const emitProcessWarning = (message: string, code: MongooseStoreWarningCode) => {
  process.emitWarning(message, { code });
};

/** The default `timeoutMS`: well inside the server's 60 s transaction lifetime and the driver's 120 s. */
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 30_000;

export const DEFAULT_TRANSACTION_OPTIONS: Readonly<mongoose.mongo.TransactionOptions> = Object.freeze({
  readConcern: { level: 'snapshot' as const },
  writeConcern: { w: 'majority' as const },
  readPreference: 'primary' as const,
});

/** The defaults with the host's fields on top (a host's `undefined` keeps the default). */
function mergeTransactionOptions(
  given: mongoose.mongo.TransactionOptions | undefined,
): mongoose.mongo.TransactionOptions {
  const merged: Record<string, unknown> = { ...DEFAULT_TRANSACTION_OPTIONS };
  for (const [key, value] of Object.entries(given ?? {})) if (value !== undefined) merged[key] = value;
  return merged as mongoose.mongo.TransactionOptions;
}

function fail(message: string): never {
  throw new TypeError(`MongooseStore: ${message}`);
}

function resolveNames(
  option: Partial<Record<MongooseStoreModelKey, string>> | undefined,
  what: 'modelNames' | 'collectionNames',
): Partial<Record<MongooseStoreModelKey, string>> {
  if (option === undefined) return {};
  if (option === null || typeof option !== 'object') fail(`options.${what} must be an object`);
  for (const [key, value] of Object.entries(option)) {
    if (!(MODEL_KEYS as readonly string[]).includes(key)) {
      fail(`options.${what}.${key} is not a careslot model; use ${MODEL_KEYS.join(', ')}`);
    }
    if (typeof value !== 'string' || value.trim().length === 0)
      fail(`options.${what}.${key} must be a non-empty string`);
  }
  return option;
}

function assertConnection(connection: unknown): asserts connection is mongoose.Connection {
  const c = connection as Partial<mongoose.Connection> | null;
  if (c === null || typeof c !== 'object') {
    fail(
      'options.connection is required: pass your mongoose Connection (mongoose.createConnection(uri) or mongoose.connection)',
    );
  }
  if (
    typeof (c as { Schema?: unknown }).Schema === 'function' &&
    typeof (c as { connect?: unknown }).connect === 'function'
  ) {
    fail(
      'options.connection must be a Connection, not the mongoose module: pass mongoose.connection or mongoose.createConnection(uri)',
    );
  }
  if (typeof c.model !== 'function' || typeof c.transaction !== 'function' || typeof c.readyState !== 'number') {
    fail('options.connection must be a mongoose Connection (mongoose.createConnection(uri) or mongoose.connection)');
  }
  // Two copies of mongoose in node_modules would cast ids with one BSON and send them with another.
  if (c.base !== undefined && (c.base as { Schema?: unknown }).Schema !== mongoose.Schema) {
    fail(
      'the connection comes from a different copy of mongoose than careslot/mongoose loads; dedupe mongoose (npm ls mongoose)',
    );
  }
}

/**
 * The production store: slots, bookings, payments, the doctors' ledger, processed events,
 * payment customers, the outbox, and doctors' availability rules and time off in MongoDB, on
 * the host's mongoose Connection.
 *
 * - Reads run on the store directly (committed data, from the primary); every write runs in
 *   `transaction`, through `connection.transaction` (the driver's `withTransaction`, which runs
 *   the function again on a transient error such as a write conflict), with the session passed
 *   to every operation.
 * - A duplicate key aborts a MongoDB transaction, so every unique write is checked first on the
 *   transaction's snapshot (including the slot's active place before a booking becomes active
 *   again); a key committed by another transaction after that snapshot runs the function
 *   again, where the check answers null/false.
 * - Each doctor's wallet balance per currency is a running total (`careslot_wallet_balances`)
 *   that `appendLedgerEntry` changes in the transaction of the line it adds, so `ledgerBalances`
 *   reads one document per currency; `backfillWalletBalances()` (run by `createIndexes()`) fills
 *   the totals of a ledger written before them, once.
 * - `lockPatient` and `lockDoctor` write a per-patient / per-doctor document inside the
 *   transaction, so two transactions that decide on the same patient's bookings or the same
 *   doctor's slots conflict, and one of them runs again on the other's result.
 * - Status changes are `findOneAndUpdate` with the expected status (and slot) in the filter: a
 *   lost race returns null, never an overwrite. `markReminderSent` is one too (scheduled, same
 *   slot start, key not yet in `remindersSent`, then `$push`), so each reminder is sent once.
 * - A unique partial index allows one active booking per slot; call `createIndexes()` once
 *   at deploy or start-up (careslot builds no index on its own).
 * - Ids are ObjectIds in MongoDB and strings in the domain; anything that is not plainly an
 *   id (including objects like `{ $gt: '' }`) is INVALID_INPUT before any query.
 * - Every call first checks that the connection is open, the server can run transactions
 *   (replica set or mongos) and careslot's unique indexes exist, failing with STORE_ERROR that
 *   says how to fix it; `ready()` runs the same check, for a start-up probe.
 * - Every transaction has a deadline (`timeoutMS`); past it the call fails with STORE_ERROR
 *   whose `details.commitOutcome` says whether a commit may have happened.
 * - Host plugins (`mongoose.plugin`, `connection.plugin`) never reach careslot's schemas.
 */
export class MongooseStore implements BookingStore {
  readonly connection: mongoose.Connection;
  readonly models: MongooseStoreModels;
  readonly hostIds: HostIdMode;
  private readonly deps: OperationsDeps;
  private readonly direct: MongooseReads;
  private readonly transactionOptions: mongoose.mongo.TransactionOptions;
  private readonly checkIndexes: boolean;
  /** The deadline of every transaction (see the `timeoutMS` option). */
  readonly timeoutMS: number;
  private readonly warn: (message: string, code: MongooseStoreWarningCode) => void;
  private serverVerified = false;
  private verified = false;
  private verifying: Promise<void> | null = null;

  constructor(options: MongooseStoreOptions) {
    if (options === null || typeof options !== 'object') fail('pass an options object ({ connection })');
    assertConnection(options.connection);
    const hostIds = options.hostIds ?? 'objectId';
    if (hostIds !== 'objectId' && hostIds !== 'string') fail(`options.hostIds must be 'objectId' or 'string'`);
    const userModelName = options.userModelName ?? 'User';
    if (typeof userModelName !== 'string' || userModelName.length === 0)
      fail('options.userModelName must be a non-empty string');
    const clock = resolveStoreClock('MongooseStore', options);
    if (
      options.transactionOptions !== undefined &&
      (options.transactionOptions === null || typeof options.transactionOptions !== 'object')
    ) {
      fail('options.transactionOptions must be an object (mongodb TransactionOptions)');
    }
    const modelNames = { ...DEFAULT_MODEL_NAMES, ...resolveNames(options.modelNames, 'modelNames') };
    const collectionNames = {
      ...DEFAULT_COLLECTION_NAMES,
      ...resolveNames(options.collectionNames, 'collectionNames'),
    };
    if (new Set(Object.values(modelNames)).size !== MODEL_KEYS.length) fail('options.modelNames must all differ');

    if (options.checkIndexes !== undefined && typeof options.checkIndexes !== 'boolean') {
      fail('options.checkIndexes must be true or false');
    }
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
      fail('options.onWarning must be a function (message, code) => void');
    }
    if (
      options.timeoutMS !== undefined &&
      !(typeof options.timeoutMS === 'number' && Number.isSafeInteger(options.timeoutMS) && options.timeoutMS > 0)
    ) {
      fail('options.timeoutMS must be a whole number of milliseconds > 0 (the deadline of every transaction)');
    }
    this.timeoutMS = options.timeoutMS ?? DEFAULT_TRANSACTION_TIMEOUT_MS;
    this.checkIndexes = options.checkIndexes ?? true;
    this.warn = options.onWarning ?? emitProcessWarning;
    this.connection = options.connection;
    this.hostIds = hostIds;
    this.transactionOptions = mergeTransactionOptions(options.transactionOptions);
    const settings = { hostIds, userModelName, modelNames };
    const schemas = buildSchemas(settings);
    const models = {} as Record<MongooseStoreModelKey, mongoose.Model<unknown>>;
    for (const key of MODEL_KEYS) {
      const name = modelNames[key];
      const collection = collectionNames[key];
      const existing = this.connection.models[name];
      if (existing) {
        // Another MongooseStore on this connection (a second engine, a hot reload) registered
        // the same model: share it. A model careslot did not make is never touched.
        const sameSchema = readModelSignature(existing) === schemaSignature(key, settings);
        const sameCollection = collection === undefined || existing.collection.collectionName === collection;
        if (!sameSchema || !sameCollection) {
          fail(
            `the connection already has a model named '${name}' that ${sameSchema ? 'uses another collection' : 'careslot did not create with these options'}; ` +
              `pass modelNames: { ${key}: 'Careslot${name}' } (and collectionNames: { ${key}: '<collection>' } to share a collection)`,
          );
        }
        models[key] = existing;
      } else {
        models[key] = this.connection.model(
          name,
          schemas[key] as mongoose.Schema,
          collection,
        ) as unknown as mongoose.Model<unknown>;
        markModel(models[key], schemaSignature(key, settings));
      }
    }
    this.models = models as unknown as MongooseStoreModels;
    const collections = {} as Record<MongooseStoreModelKey, unknown>;
    for (const key of MODEL_KEYS) collections[key] = this.models[key].collection;
    this.deps = {
      models: this.models,
      collections: collections as StoreCollections,
      hostIds,
      now: () => clock.now(),
      walletTotals: { backfilled: false, onSummedFromLedger: () => this.warnSummedFromLedger() },
    };
    this.direct = new MongooseReads(this.deps, null);
    this.warnAboutSharedCollections();
  }

  private readonly sharedWarned = new Set<string>();
  private summedWarned = false;

  private warnSummedFromLedger(): void {
    if (this.summedWarned) return;
    this.summedWarned = true;
    this.warn(
      'MongooseStore: ledgerBalances sums the ledger on every call, because the wallet totals were never backfilled ' +
        '(ledger lines from before the running totals have none); run await store.backfillWalletBalances() once ' +
        '(createIndexes() runs it too), after which balances read one total per currency',
      'CARESLOT_WALLET_TOTALS_NOT_BACKFILLED',
    );
  }

  /**
   * A host model on the same collection is a risk careslot cannot see coming: the host's own
   * `Model.syncIndexes()` (or `autoIndex` with a sync) drops every index its schema does not
   * declare, careslot's unique ones included, and the invariants silently stop holding. So
   * sharing is never silent: unless the host's schema declares all of careslot's indexes for
   * that collection (`MONGOOSE_STORE_INDEXES`), a warning says what to do. Checked at
   * construction and again when `ready()` first passes (for models registered later).
   */
  private warnAboutSharedCollections(): void {
    const ours = new Set<unknown>(Object.values(this.models));
    for (const key of MODEL_KEYS) {
      const collection = this.models[key].collection.collectionName;
      for (const [name, model] of Object.entries(this.connection.models)) {
        if (ours.has(model) || readModelSignature(model) !== undefined) continue;
        if (model.collection?.collectionName !== collection) continue;
        const declared = new Set(model.schema.indexes().map(([, options]) => (options as { name?: unknown }).name));
        const missing = MONGOOSE_STORE_INDEXES[key].filter((spec) => !declared.has(spec.options.name));
        const id = `${collection}\u0000${name}`;
        if (missing.length === 0 || this.sharedWarned.has(id)) continue;
        this.sharedWarned.add(id);
        this.warn(
          `MongooseStore: collection '${collection}' (careslot's ${this.models[key].modelName}) is shared with your model '${name}'. ` +
            `Its syncIndexes() would drop careslot's indexes, including the unique ones the booking invariants need (${
              missing
                .filter((spec) => spec.options.unique)
                .map((spec) => spec.options.name)
                .join(', ') || 'none unique'
            }): declare them on its schema ` +
            `(for (const i of MONGOOSE_STORE_INDEXES.${key}) schema.index(i.fields, i.options)), ` +
            `and never run store.syncIndexes() on a shared collection (use createIndexes())`,
          'CARESLOT_SHARED_COLLECTION',
        );
      }
    }
  }

  /**
   * Resolves once the connection is open, the server can run transactions and careslot's unique
   * indexes exist; rejects with STORE_ERROR saying how to fix it otherwise (closed connection,
   * standalone mongod, missing indexes: run `createIndexes()`, after `backfillActiveFlags()`
   * when legacy bookings are the cause). Every operation runs this check first, so calling it
   * is optional: do it at start-up to fail fast. A connection still connecting is waited for.
   * Once it passed, it is not repeated (the indexes are listed once); after a failure the next
   * call checks again.
   */
  async ready(): Promise<void> {
    await this.assertOpen();
    if (this.verified) return;
    this.verifying ??= this.verify().finally(() => {
      this.verifying = null;
    });
    await this.verifying;
  }

  private async verify(): Promise<void> {
    if (!this.serverVerified) await this.verifyServer();
    if (this.checkIndexes) await this.verifyIndexes();
    this.warnAboutSharedCollections();
    this.verified = true;
  }

  private indexedCollections(): IndexedCollections {
    const collections = {} as Record<MongooseStoreModelKey, IndexedCollection>;
    for (const key of MODEL_KEYS) collections[key] = this.models[key].collection as unknown as IndexedCollection;
    return collections;
  }

  private async verifyIndexes(): Promise<void> {
    const collections = this.indexedCollections();
    let missing: Awaited<ReturnType<typeof findMissingIndexes>>;
    try {
      missing = await findMissingIndexes(collections);
    } catch (error) {
      throw toStoreError(error, 'listing the indexes');
    }
    if (missing.unique.length > 0) {
      const legacy = missing.unique.some((ref) => ref.index === ACTIVE_BOOKING_INDEX)
        ? await hasLegacyActiveFlags(collections.booking).catch(() => false)
        : false;
      throw missingIndexesError(missing.unique, legacy);
    }
    if (missing.query.length > 0)
      this.warn(missingQueryIndexesWarning(missing.query), 'CARESLOT_MISSING_QUERY_INDEXES');
  }

  private async assertOpen(): Promise<void> {
    const state = this.connection.readyState as number;
    if (state === 1) return;
    if (state === 2) {
      try {
        await this.connection.asPromise();
      } catch (error) {
        throw toStoreError(error, 'connecting');
      }
      if ((this.connection.readyState as number) === 1) return;
    }
    // Disconnected after having been open (an election, a network blip): the driver reconnects
    // and selects a server by itself, so the call waits for it rather than failing at once.
    if (state === 0 && this.connection.db !== undefined) return;
    throw notOpenError(this.connection.readyState as number);
  }

  private async verifyServer(): Promise<void> {
    const db = this.connection.db;
    if (!db) throw notOpenError(this.connection.readyState as number);
    let hello: Record<string, unknown>;
    try {
      hello = await db.command({ hello: 1 });
    } catch (error) {
      // `hello` arrived in 4.4.2 and 5.0; older 4.4 patch releases only know isMaster.
      if ((error as { code?: unknown } | null)?.code !== 59) throw toStoreError(error, 'checking the server');
      hello = await db.command({ isMaster: 1 }).catch((e: unknown) => {
        throw toStoreError(e, 'checking the server');
      });
    }
    const problem = transactionSupportProblem(hello);
    if (problem) throw standaloneError(problem);
    this.serverVerified = true;
  }

  /**
   * Builds careslot's indexes (missing ones only; nothing is dropped), including the unique
   * partial index that allows one active booking per slot. Idempotent: run it at deploy or at
   * start-up. careslot never builds indexes by itself (`autoIndex` is off on its schemas).
   * Every index is attempted, across every model, whatever failed before it; the STORE_ERROR
   * then lists each failure with what to do (`details.failures`), e.g. an E11000 on the
   * active-booking index over legacy bookings names `backfillActiveFlags()`.
   *
   * Once every index is there it runs `backfillWalletBalances()`, which does nothing after its
   * first complete run (a marker says so): the deploy step that builds the wallet totals' index
   * also fills the totals of a ledger written before them. That needs transactions, so on a
   * server without them it fails after building the indexes, as `ready()` would.
   */
  async createIndexes(): Promise<void> {
    await this.assertOpen();
    const collections = this.indexedCollections();
    const failures: { ref: IndexRef; error: unknown }[] = [];
    let built = 0;
    for (const key of MODEL_KEYS) {
      const collection = collections[key];
      for (const spec of MONGOOSE_STORE_INDEXES[key]) {
        try {
          await collection.createIndex({ ...spec.fields }, { ...spec.options });
          built++;
        } catch (error) {
          const ref = {
            model: key,
            collection: collection.collectionName,
            index: spec.options.name,
            purpose: spec.purpose,
          };
          failures.push({ ref, error });
        }
      }
    }
    // The next call checks the indexes again (they may all be there now).
    this.verified = false;
    if (failures.length === 0) {
      await this.backfillWalletBalances();
      return;
    }
    const legacy = failures.some((f) => f.ref.index === ACTIVE_BOOKING_INDEX)
      ? await hasLegacyActiveFlags(collections.booking).catch(() => false)
      : false;
    throw createIndexesError(failures, built, legacy);
  }

  /**
   * Drops the indexes earlier careslot releases declared and this one replaced
   * (`SUPERSEDED_INDEXES`), and nothing else; run it after `createIndexes()` when upgrading.
   * Returns the dropped names per model.
   */
  async dropSupersededIndexes(): Promise<Partial<Record<MongooseStoreModelKey, string[]>>> {
    await this.assertOpen();
    const dropped: Partial<Record<MongooseStoreModelKey, string[]>> = {};
    const collections = this.indexedCollections();
    for (const key of MODEL_KEYS) {
      const names = SUPERSEDED_INDEXES[key] ?? [];
      if (names.length === 0) continue;
      try {
        const existing = await collections[key]
          .listIndexes()
          .toArray()
          .catch((error: unknown) => {
            if ((error as { code?: unknown } | null)?.code === 26) return [];
            throw error;
          });
        for (const index of existing) {
          if (typeof index.name !== 'string' || !names.includes(index.name)) continue;
          await collections[key].dropIndex(index.name);
          dropped[key] = [...(dropped[key] ?? []), index.name];
        }
      } catch (error) {
        throw toStoreError(error, `dropSupersededIndexes (${this.models[key].modelName})`);
      }
    }
    return dropped;
  }

  /**
   * Makes each collection's indexes exactly careslot's: builds missing ones and DROPS every
   * other index on those collections. Do not use it on a collection shared with a model of
   * your own (use `createIndexes()` there). Returns the dropped index names per model.
   */
  async syncIndexes(): Promise<Record<MongooseStoreModelKey, string[]>> {
    await this.assertOpen();
    const dropped = {} as Record<MongooseStoreModelKey, string[]>;
    for (const key of MODEL_KEYS) {
      try {
        dropped[key] = await this.models[key].syncIndexes();
      } catch (error) {
        throw toStoreError(error, `syncIndexes (${this.models[key].modelName})`);
      }
    }
    this.verified = false;
    // As after createIndexes(): the totals of a ledger written before them, once.
    await this.backfillWalletBalances();
    return dropped;
  }

  /**
   * Fills the doctors' running wallet totals (`careslot_wallet_balances`) from their ledger
   * lines, for a deployment whose ledger predates them, then writes the marker
   * (`careslot_migrations`, `_id: 'wallet-balances'`) that lets `ledgerBalances` read the totals.
   * Until the marker exists `ledgerBalances` sums the ledger as before (correct, but as slow as
   * the ledger is long) and warns once (`CARESLOT_WALLET_TOTALS_NOT_BACKFILLED`).
   * `createIndexes()` and `syncIndexes()` run it, so the usual deploy step covers it.
   *
   * Safe beside live traffic and idempotent: it walks the ledger's doctors one at a time on the
   * doctor index and, per doctor, sets every total to the sum of that doctor's lines in one
   * transaction. A concurrent `appendLedgerEntry` of that doctor and currency writes the same
   * total document, so one of the two conflicts and runs again on the other's result, and the
   * total is exact either way. (Totals created after the upgrade are exact without it:
   * `appendLedgerEntry` starts a missing total from the lines already there.) A crash half-way
   * leaves no marker, and the next run starts over.
   *
   * Once the marker exists it does nothing, unless `recompute: true`: then every total is set
   * to its lines' sum again. Do that once no process of an older careslot (which appends lines
   * without touching the totals) writes any more, if they ran beside this one during a rolling
   * deploy.
   */
  async backfillWalletBalances(options: { recompute?: boolean } = {}): Promise<WalletBackfillResult> {
    if (options === null || typeof options !== 'object') fail('backfillWalletBalances(options) takes an object');
    if (options.recompute !== undefined && typeof options.recompute !== 'boolean') {
      fail('backfillWalletBalances: options.recompute must be true or false');
    }
    await this.ready();
    try {
      if (options.recompute !== true && (await this.direct.walletTotalsBackfilled())) {
        return { ran: false, doctors: 0, totals: 0 };
      }
      let doctors = 0;
      let totals = 0;
      let previous: HostId | null = null;
      for (;;) {
        const doctor: HostId | null = await this.direct.nextLedgerDoctor(previous);
        if (doctor === null) break;
        totals += await this.runOperations((ops) => ops.recomputeWalletTotals(doctor));
        doctors++;
        previous = doctor;
      }
      await this.runOperations((ops) => ops.markMigrationDone(WALLET_BALANCES_MIGRATION, doctors));
      (this.deps.walletTotals as WalletTotalsState).backfilled = true;
      return { ran: true, doctors, totals };
    } catch (error) {
      throw toStoreError(error, 'backfillWalletBalances');
    }
  }

  /**
   * Sets the `active` flag of bookings written before careslot (or by other code) from their
   * status. Run it before `createIndexes()` when adopting an existing bookings collection:
   * the one-active-booking-per-slot index only sees bookings whose flag is set. Returns how
   * many bookings changed.
   */
  async backfillActiveFlags(): Promise<number> {
    await this.assertOpen();
    let modified = 0;
    for (const repair of activeFlagRepairs()) {
      try {
        const result = await this.models.booking.collection.updateMany(repair.filter, repair.update);
        modified += result.modifiedCount;
      } catch (error) {
        throw toStoreError(error, 'backfillActiveFlags');
      }
    }
    return modified;
  }

  /**
   * Runs `fn` in one MongoDB transaction (`connection.transaction`: transient errors such as
   * write conflicts run `fn` again). A unique key committed by a concurrent transaction also
   * runs it again, so that the store's checks see it and answer null/false.
   */
  async transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('MongooseStore: transaction(fn) needs a function');
    return this.runOperations(fn);
  }

  /** `transaction`, with the store's own operations beyond the port (the backfill's). */
  private runOperations<T>(fn: (ops: MongooseOperations) => Promise<T>): Promise<T> {
    const deadline = new TransactionDeadline(this.timeoutMS);
    return deadline.run(async () => {
      await this.ready();
      try {
        return await retryUniqueConflicts(() =>
          this.connection.transaction(
            (session: ClientSession) => deadline.attempt(session, () => fn(new MongooseOperations(this.deps, session))),
            this.transactionOptions,
          ),
        );
      } catch (error) {
        throw toStoreError(error, 'transaction');
      }
    });
  }

  private call<A extends unknown[], R>(name: string, fn: (reads: MongooseReads, ...args: A) => Promise<R>) {
    return async (...args: A): Promise<R> => {
      await this.ready();
      try {
        return await fn(this.direct, ...args);
      } catch (error) {
        throw toStoreError(error, name);
      }
    };
  }

  // Reads of committed data, each on its own; every write runs inside `transaction`.
  getSchedule = this.call('getSchedule', (r, id: string) => r.getSchedule(id));
  findSchedules = this.call('findSchedules', (r, q: ScheduleQuery) => r.findSchedules(q));
  getBooking = this.call('getBooking', (r, id: string) => r.getBooking(id));
  findBookings = this.call('findBookings', (r, q: BookingQuery) => r.findBookings(q));
  countBookings = this.call('countBookings', (r, q: BookingQuery) => r.countBookings(q));
  findBookingByIdempotencyKey = this.call(
    'findBookingByIdempotencyKey',
    (r, a: { patientId: string; idempotencyKey: string }) => r.findBookingByIdempotencyKey(a),
  );
  findActiveBooking = this.call('findActiveBooking', (r, scheduleId: string) => r.findActiveBooking(scheduleId));
  getPaymentTransaction = this.call('getPaymentTransaction', (r, id: string) => r.getPaymentTransaction(id));
  findPaymentTransaction = this.call(
    'findPaymentTransaction',
    (r, a: { provider: string; providerPaymentId: string }) => r.findPaymentTransaction(a),
  );
  findPaymentTransactions = this.call('findPaymentTransactions', (r, q: PaymentQuery) => r.findPaymentTransactions(q));
  findLedgerEntries = this.call(
    'findLedgerEntries',
    (r, q: LedgerQuery): Promise<LedgerEntry[]> => r.findLedgerEntries(q),
  );
  hasProcessedEvent = this.call('hasProcessedEvent', (r, id: string) => r.hasProcessedEvent(id));
  /**
   * A doctor's wallet balance per currency (credits minus debits, in minor units): one running
   * total per currency, kept by `appendLedgerEntry`. Summed from the ledger instead until
   * `backfillWalletBalances()` (which `createIndexes()` runs) marked the totals complete.
   */
  ledgerBalances = this.call('ledgerBalances', (r, args: { doctorId: string }) => r.ledgerBalances(args));
  getPaymentCustomer = this.call(
    'getPaymentCustomer',
    (r, a: { patientId: string; provider: string }): Promise<PaymentCustomer | null> => r.getPaymentCustomer(a),
  );
  /** Outbox records (committed), sorted by (createdAt, key); claims and every other outbox write run in `transaction`. */
  findOutbox = this.call('findOutbox', (r, q: OutboxQuery): Promise<OutboxRecord[]> => r.findOutbox(q));
  /** A doctor's availability versions in force in `[from, to)` (committed), by effectiveFrom; changes run in `transaction`. */
  findAvailability = this.call(
    'findAvailability',
    (r, q: AvailabilityQuery): Promise<AvailabilityRecord[]> => r.findAvailability(q),
  );
  getTimeOff = this.call('getTimeOff', (r, id: string): Promise<TimeOff | null> => r.getTimeOff(id));
  findTimeOff = this.call('findTimeOff', (r, q: TimeOffQuery): Promise<TimeOff[]> => r.findTimeOff(q));
}
