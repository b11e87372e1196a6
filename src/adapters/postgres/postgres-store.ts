// PostgresStore: the BookingStore on the host's pg.Pool (or a PGlite database), with PostgreSQL doing the concurrency.

import type { AvailabilityRecord, LedgerEntry, PaymentCustomer, TimeOff } from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
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
import { isRetryable, toStoreError } from './errors.js';
import { applyMigrations, LATEST_VERSION, readApplied, schemaProblem } from './migrations.js';
import { type OperationsDeps, PostgresOperations, PostgresReads } from './postgres-operations.js';
import { type PGliteLike, type PgPoolLike, pgliteClient, poolClient, type SqlClient } from './sql-client.js';
import { isValidSchemaName, isValidTablePrefix, type PostgresTableKey, type TableNames, tableNames } from './tables.js';

/** How each transaction runs. */
export interface PostgresTransactionOptions {
  /**
   * The isolation level of every transaction, set on its BEGIN whatever the server's default.
   * `'repeatable read'` is snapshot isolation (as MongoDB transactions): the engine's lock rows
   * (`lockPatient`, `lockDoctor`) make every decision that rests on rows it only reads conflict
   * with a concurrent one. `'serializable'` adds PostgreSQL's own write-skew detection, at the
   * price of more retries (it also aborts transactions that merely read what another wrote).
   * @defaultValue 'repeatable read'
   */
  isolation?: 'repeatable read' | 'serializable';
  /**
   * How many times a transaction is run in all when PostgreSQL aborts it for a serialization
   * failure (`40001`: another transaction changed a row this one wrote, first updater wins) or
   * a deadlock (`40P01`); then the call fails with STORE_ERROR. Each contended round commits
   * one transaction, so this bounds how many concurrent writers of one row all get through.
   * Nothing else is retried: a broken connection or a timeout is reported, never run twice.
   * @defaultValue 50
   */
  maxAttempts?: number;
  /**
   * `SET LOCAL statement_timeout` for every transaction, in milliseconds; 0 keeps the server's
   * (or role's) setting. A statement over it aborts the transaction with STORE_ERROR. Ignored on PGlite.
   * @defaultValue 0
   */
  statementTimeoutMs?: number;
  /**
   * `SET LOCAL lock_timeout` for every transaction, in milliseconds (how long a transaction
   * waits for a row or lock row another holds); 0 keeps the server's setting. Ignored on PGlite.
   * @defaultValue 0
   */
  lockTimeoutMs?: number;
}

export interface PostgresStoreOptions {
  /**
   * The host's node-postgres pool (`new pg.Pool({ connectionString })`). Each transaction
   * checks out one connection and returns it; careslot never ends the pool and never changes
   * pg's global settings (type parsers, defaults). Give it at least as many connections as
   * concurrent bookings you expect to wait on each other (pg's default `max` is 10).
   * Exactly one of `pool` and `pglite`.
   */
  pool?: PgPoolLike;
  /**
   * A PGlite database (`await PGlite.create(dataDir)` from `@electric-sql/pglite`) you opened;
   * careslot never closes it. PGlite is one connection in this process: transactions run one
   * at a time (so the lock rows are skipped there), and only one process may open a data directory. To let careslot open and close
   * one, use `PostgresStore.embedded()`. Exactly one of `pool` and `pglite`.
   */
  pglite?: PGliteLike;
  /**
   * The schema careslot's tables live in; `migrate()` creates it when missing.
   * @defaultValue 'careslot'
   */
  schema?: string;
  /**
   * Put before every table and index name, e.g. `'careslot_'` to share the `public` schema.
   * @defaultValue ''
   */
  tablePrefix?: string;
  /**
   * Source of `createdAt`/`updatedAt` stamps: pass the engine's clock (the same `clock`
   * option), so records and the engine agree on the time, e.g. a `ManualClock` in tests.
   * @defaultValue the system clock (`new Date()`)
   */
  clock?: Clock;
  /**
   * The stamps' source as a function.
   * @deprecated Use `clock`; `now` will be removed in the next release. Passing both is a TypeError.
   * @defaultValue `() => new Date()`
   */
  now?: () => Date;
  /**
   * How transactions run: isolation, retries, timeouts.
   * @defaultValue `{ isolation: 'repeatable read', maxAttempts: 50, statementTimeoutMs: 0, lockTimeoutMs: 0 }`
   */
  transactionOptions?: PostgresTransactionOptions;
}

export interface EmbeddedPostgresStoreOptions extends Omit<PostgresStoreOptions, 'pool' | 'pglite'> {
  /**
   * Where PGlite keeps its files (created when missing), e.g. `'./data'`; only one process
   * may use a directory at a time. Undefined: in memory, gone when the process ends.
   * @defaultValue undefined (in memory)
   */
  dataDir?: string;
}

const BEGIN = {
  'repeatable read': 'BEGIN ISOLATION LEVEL REPEATABLE READ',
  serializable: 'BEGIN ISOLATION LEVEL SERIALIZABLE',
} as const;

/** Marks the PGlite database `embedded()` opened, which `close()` then closes. */
const OWNED: unique symbol = Symbol('careslot.postgres.ownedDatabase');

/** What `embedded()` takes from `@electric-sql/pglite` (loaded only then: an optional peer). */
interface PGliteModule {
  PGlite: { create(dataDir?: string): Promise<PGliteLike> };
}

function fail(message: string): never {
  throw new TypeError(`PostgresStore: ${message}`);
}

function assertPool(pool: unknown): asserts pool is PgPoolLike {
  if (typeof pool === 'string') {
    fail(
      'options.pool must be a pg.Pool, not a connection string; careslot never opens connections itself: new PostgresStore({ pool: new pg.Pool({ connectionString }) })',
    );
  }
  const p = pool as Partial<PgPoolLike> | null;
  if (p === null || typeof p !== 'object' || typeof p.connect !== 'function' || typeof p.query !== 'function') {
    fail('options.pool must be a pg.Pool (new pg.Pool({ connectionString }) from the pg package)');
  }
  if (typeof p.totalCount !== 'number') {
    fail(
      'options.pool must be a pg.Pool, not a single pg.Client: concurrent transactions each need a connection of their own (new pg.Pool({ connectionString }))',
    );
  }
}

function assertPGlite(db: unknown): asserts db is PGliteLike {
  const d = db as Partial<PGliteLike> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    typeof d.query !== 'function' ||
    typeof d.exec !== 'function' ||
    typeof d.transaction !== 'function'
  ) {
    fail('options.pglite must be a PGlite instance (await PGlite.create(dataDir) from @electric-sql/pglite)');
  }
}

function nonNegativeInt(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(`options.transactionOptions.${name} must be a whole number from 0 to ${max}`);
  }
  return value;
}

interface ResolvedTransactionOptions {
  begin: string;
  maxAttempts: number;
  settings: string;
}

function resolveTransactionOptions(input: unknown): ResolvedTransactionOptions {
  if (input === undefined) return { begin: BEGIN['repeatable read'], maxAttempts: 50, settings: '' };
  if (input === null || typeof input !== 'object') fail('options.transactionOptions must be an object');
  const o = input as PostgresTransactionOptions;
  const isolation = o.isolation ?? 'repeatable read';
  if (isolation !== 'repeatable read' && isolation !== 'serializable') {
    fail(
      `options.transactionOptions.isolation must be 'repeatable read' or 'serializable' (got ${JSON.stringify(isolation)}); read committed would let concurrent bookings decide on stale reads`,
    );
  }
  const maxAttempts = o.maxAttempts === undefined ? 50 : nonNegativeInt(o.maxAttempts, 'maxAttempts', 1000);
  if (maxAttempts < 1) fail('options.transactionOptions.maxAttempts must be at least 1');
  const statement =
    o.statementTimeoutMs === undefined ? 0 : nonNegativeInt(o.statementTimeoutMs, 'statementTimeoutMs', 2_147_483_647);
  const lock = o.lockTimeoutMs === undefined ? 0 : nonNegativeInt(o.lockTimeoutMs, 'lockTimeoutMs', 2_147_483_647);
  // Whole numbers checked above: the only values that enter SQL text, since SET takes no parameters.
  const settings = [
    statement > 0 ? `SET LOCAL statement_timeout = ${statement}` : '',
    lock > 0 ? `SET LOCAL lock_timeout = ${lock}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return { begin: BEGIN[isolation], maxAttempts, settings };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The PostgreSQL store: slots, bookings, payments, the doctors' ledger, processed events,
 * payment customers, the outbox, and the doctors' availability versions and time off in tables
 * of one schema, on the host's `pg.Pool` or a PGlite database.
 *
 * - Concurrency is PostgreSQL's, so it holds across processes and connections: transactions run
 *   at REPEATABLE READ (snapshot isolation; set on every BEGIN, whatever the server default),
 *   so a transaction that wrote a row another changed since its snapshot fails (first updater
 *   wins) and is run again; compare-and-sets are single `UPDATE ... WHERE status = ANY(...)`
 *   statements; `lockPatient` / `lockDoctor` write a lock row, so concurrent deciders on one
 *   patient or doctor conflict; every unique rule is a unique (partial) index answered with
 *   `ON CONFLICT DO NOTHING`. Serialization failures (`40001`) and deadlocks (`40P01`) run the
 *   transaction again, up to `transactionOptions.maxAttempts` times.
 * - The schema ships as numbered, checksummed migrations: run `migrate()` at deploy or start-up
 *   (safe from many processes at once: an advisory lock). Every call first checks, once, that
 *   the schema is there and current, failing with STORE_ERROR that says what to run; `ready()`
 *   runs that check for a start-up probe.
 * - A doctor's wallet is a running total per currency (`tables.walletBalances`), changed in the
 *   statement that adds each ledger line, so `ledgerBalances` reads one row per currency however
 *   long the ledger; the lines stay the audit trail and sum to it. Concurrent credits or debits
 *   of one doctor and currency update one row: the later transaction waits, fails with a
 *   serialization error once the first commits, and runs again (see `maxAttempts`).
 * - Every read the engine sends is served by an index and stops at its LIMIT (checked by
 *   EXPLAIN on a server with tens of thousands of rows); a slot's end is taken to be after its
 *   start (the engine never writes one otherwise), so "ended by" reads bound the start too.
 * - Every value is a bind parameter; schema and prefix are checked identifiers.
 * - Database and connection failures are STORE_ERROR with the driver's error as `cause`. A
 *   failed transaction committed nothing (`details.commitOutcome: 'not_committed'`), except
 *   when the connection broke after COMMIT was sent: then `details.commitOutcome` is
 *   `'unknown'` (the engine reads what is stored before it answers).
 */
export class PostgresStore implements BookingStore {
  /** `pool` on a pg.Pool, `pglite` on PGlite. */
  readonly driver: 'pool' | 'pglite';
  readonly schema: string;
  readonly tablePrefix: string;
  /** The quoted, schema-qualified name of each table, for the host's own SQL (reports, joins). */
  readonly tables: Readonly<Record<PostgresTableKey, string>>;
  private readonly names: TableNames;
  private readonly client: SqlClient;
  private readonly deps: OperationsDeps;
  private readonly direct: PostgresReads;
  private readonly transactionOptions: ResolvedTransactionOptions;
  private readonly owned: PGliteLike | null;
  private verified = false;
  private verifying: Promise<void> | null = null;

  constructor(options: PostgresStoreOptions) {
    if (options === null || typeof options !== 'object') fail('pass an options object ({ pool } or { pglite })');
    const { pool, pglite } = options;
    if (pool === undefined && pglite === undefined) {
      fail(
        'pass options.pool (your pg.Pool: new pg.Pool({ connectionString })) or options.pglite (a PGlite instance); for an embedded database use await PostgresStore.embedded({ dataDir })',
      );
    }
    if (pool !== undefined && pglite !== undefined) fail('pass options.pool or options.pglite, not both');
    const schema = options.schema ?? 'careslot';
    if (!isValidSchemaName(schema)) {
      fail(
        `options.schema must be a lowercase SQL identifier (a-z, 0-9, _; at most 63 characters; not pg_...), e.g. 'careslot' (got ${JSON.stringify(schema)})`,
      );
    }
    const prefix = options.tablePrefix ?? '';
    if (!isValidTablePrefix(prefix)) {
      fail(
        `options.tablePrefix must be '' or a lowercase identifier prefix (a-z, 0-9, _; at most 24 characters), e.g. 'careslot_' (got ${JSON.stringify(prefix)})`,
      );
    }
    const clock = resolveStoreClock('PostgresStore', options);
    this.transactionOptions = resolveTransactionOptions(options.transactionOptions);
    if (pool !== undefined) {
      assertPool(pool);
      this.client = poolClient(pool);
    } else {
      assertPGlite(pglite);
      this.client = pgliteClient(pglite);
    }
    this.owned = (options as { [OWNED]?: PGliteLike })[OWNED] ?? null;
    this.driver = this.client.kind;
    this.schema = schema;
    this.tablePrefix = prefix;
    this.names = tableNames(schema, prefix);
    this.tables = this.names.qualified;
    this.deps = { names: this.names, now: () => clock.now(), serialized: this.client.kind === 'pglite' };
    this.direct = new PostgresReads(this.deps, this.client);
  }

  /**
   * An embedded store on PGlite (`@electric-sql/pglite`, an optional peer dependency): in
   * memory, or persisted to `dataDir`. careslot opens the database, applies the migrations and
   * closes it on `close()`. PGlite serves this one process only; use a real server (`pool`)
   * when several processes share the data.
   */
  static async embedded(options: EmbeddedPostgresStoreOptions = {}): Promise<PostgresStore> {
    if (options === null || typeof options !== 'object') fail('embedded() takes an options object ({ dataDir? })');
    const { dataDir, ...rest } = options;
    if (dataDir !== undefined && (typeof dataDir !== 'string' || dataDir.length === 0)) {
      fail('embedded({ dataDir }) must be a directory path (or leave it out for an in-memory database)');
    }
    for (const key of ['pool', 'pglite'] as const) {
      if (key in options) fail(`embedded() opens its own database; pass options.${key} to new PostgresStore() instead`);
    }
    let PGlite: PGliteModule['PGlite'];
    try {
      ({ PGlite } = (await import('@electric-sql/pglite')) as unknown as PGliteModule);
    } catch (error) {
      throw new BookingError(
        'STORE_ERROR',
        'PostgresStore.embedded needs the @electric-sql/pglite package: npm install @electric-sql/pglite',
        { cause: error },
      );
    }
    let db: PGliteLike;
    try {
      db = await PGlite.create(dataDir);
    } catch (error) {
      throw new BookingError('STORE_ERROR', `PostgresStore.embedded could not open PGlite at ${dataDir ?? 'memory'}`, {
        cause: error,
      });
    }
    const store = new PostgresStore({ ...rest, pglite: db, [OWNED]: db } as PostgresStoreOptions);
    try {
      await store.migrate();
    } catch (error) {
      await db.close().catch(() => {});
      throw error;
    }
    return store;
  }

  private migrateHint(): string {
    return 'run `await store.migrate()` once at deploy or start-up';
  }

  /**
   * Applies the migrations this careslot ships that the schema lacks, in one transaction under
   * an advisory lock, so processes starting together apply each once (the others wait, then
   * find nothing to do). Creates the schema when missing. Refuses, changing nothing, a schema
   * with a migration this careslot does not know or whose checksum differs. Returns the
   * versions applied now and the version the schema is at.
   *
   * Migration 5 (wallet balances and slot paging) sums the existing ledger into the running
   * totals with the ledger locked against writes, and builds indexes on the slots, bookings and
   * outbox tables: writes to those tables wait until it commits, longer the more rows they hold.
   * Stop processes of an earlier careslot before it runs: one still running would add ledger
   * lines without adding them to the totals.
   */
  async migrate(): Promise<{ applied: number[]; version: number }> {
    try {
      // READ COMMITTED: after waiting for the advisory lock, each statement sees what the
      // process that held it committed.
      const applied = await this.client.transaction('BEGIN ISOLATION LEVEL READ COMMITTED', '', (session) =>
        applyMigrations(session, this.names),
      );
      this.verified = true;
      return { applied, version: LATEST_VERSION };
    } catch (error) {
      throw toStoreError(error, 'migrate', this.migrateHint());
    }
  }

  /**
   * Resolves once the database answers and the schema has every migration this careslot ships;
   * rejects with STORE_ERROR saying what to run otherwise (missing schema, migrations behind,
   * a newer or changed schema). Every operation runs this check once first, so calling it is
   * optional: do it at start-up to fail fast.
   */
  async ready(): Promise<void> {
    if (this.verified) return;
    this.verifying ??= this.verify().finally(() => {
      this.verifying = null;
    });
    await this.verifying;
  }

  private async verify(): Promise<void> {
    let applied: Awaited<ReturnType<typeof readApplied>>;
    try {
      applied = await readApplied(this.client, this.names);
    } catch (error) {
      throw toStoreError(error, 'ready', this.migrateHint());
    }
    const problem = schemaProblem(applied, this.names);
    if (problem !== null) throw new BookingError('STORE_ERROR', `PostgresStore: ${problem}`);
    this.verified = true;
  }

  /**
   * Closes the PGlite database `embedded()` opened. A pool or PGlite you passed in is yours:
   * this leaves it open.
   */
  async close(): Promise<void> {
    if (this.owned && !this.owned.closed) await this.owned.close();
  }

  /**
   * Runs `fn` in one transaction on one connection (REPEATABLE READ unless configured): every
   * write commits together, or none does and the error is rethrown. A serialization failure or
   * deadlock runs `fn` again on a new transaction and snapshot (up to `maxAttempts` in all), so
   * `fn` must do nothing but store calls on `tx`.
   */
  async transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('PostgresStore: transaction(fn) needs a function');
    await this.ready();
    const { begin, maxAttempts, settings } = this.transactionOptions;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.client.transaction(begin, this.client.kind === 'pglite' ? '' : settings, (session) =>
          fn(new PostgresOperations(this.deps, session)),
        );
      } catch (error) {
        if (isRetryable(error)) {
          if (attempt < maxAttempts) {
            // Jittered, doubling up to 100 ms: the transactions that just collided spread out, and
            // a hot row (one doctor's running wallet total under many credits) gets time to commit.
            await pause(Math.random() * Math.min(100, 2 ** attempt));
            continue;
          }
          throw toStoreError(error, `transaction (after ${attempt} attempts)`, this.migrateHint(), {
            transaction: true,
          });
        }
        throw toStoreError(error, 'transaction', this.migrateHint(), { transaction: true });
      }
    }
  }

  private call<A extends unknown[], R>(name: string, fn: (reads: PostgresReads, ...args: A) => Promise<R>) {
    return async (...args: A): Promise<R> => {
      await this.ready();
      try {
        return await fn(this.direct, ...args);
      } catch (error) {
        throw toStoreError(error, name, this.migrateHint());
      }
    };
  }

  // Reads of committed data, each one statement; every write runs inside `transaction`.
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
  ledgerBalances = this.call('ledgerBalances', (r, a: { doctorId: string }) => r.ledgerBalances(a));
  hasProcessedEvent = this.call('hasProcessedEvent', (r, id: string) => r.hasProcessedEvent(id));
  getPaymentCustomer = this.call(
    'getPaymentCustomer',
    (r, a: { patientId: string; provider: string }): Promise<PaymentCustomer | null> => r.getPaymentCustomer(a),
  );
  findOutbox = this.call('findOutbox', (r, q: OutboxQuery): Promise<OutboxRecord[]> => r.findOutbox(q));
  findAvailability = this.call(
    'findAvailability',
    (r, q: AvailabilityQuery): Promise<AvailabilityRecord[]> => r.findAvailability(q),
  );
  getTimeOff = this.call('getTimeOff', (r, id: string): Promise<TimeOff | null> => r.getTimeOff(id));
  findTimeOff = this.call('findTimeOff', (r, q: TimeOffQuery): Promise<TimeOff[]> => r.findTimeOff(q));
}
