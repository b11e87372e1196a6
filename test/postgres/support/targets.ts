// The two databases every PostgreSQL suite runs on (a real server started here, and PGlite), each handing out stores on fresh schemas.
import pg from 'pg';
import { beforeEach, describe, it } from 'vitest';
import { type PgPoolLike, PostgresStore, type PostgresStoreOptions } from '../../../src/adapters/postgres/index.js';
import { TABLE_KEYS } from '../../../src/adapters/postgres/tables.js';
import type { BookingStore, Clock } from '../../../src/index.js';
import { freshPGlite } from './pglite.js';
import { PostgresServer, postgres } from './postgres-server.js';

export interface StoreTarget {
  /** 'PostgreSQL server' or 'PGlite', for suite names. */
  readonly name: string;
  /** A migrated store on a schema of its own (empty). */
  store(options?: Partial<PostgresStoreOptions>): Promise<PostgresStore>;
  /**
   * The same, synchronously (for `useStoreForFixtures`): every call waits for the migration
   * first, so the first call of a fixture pays for its schema.
   */
  storeNow(options?: Partial<PostgresStoreOptions>): BookingStore;
  /** Lets the schemas handed out so far be emptied and handed out again (see reuseSchemasBetweenTests). */
  recycle(): void;
  close(): Promise<void>;
}

let schemas = 0;
const nextSchema = () => `careslot_t${++schemas}`;

/** A store whose every method first waits for `ready` (its schema's migration or clean-up). */
function gated(store: PostgresStore, ready: Promise<unknown>): BookingStore {
  // Settled once so a failed preparation fails each call, never as an unhandled rejection.
  ready.catch(() => {});
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await ready;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Every careslot table but the migrations. */
const DATA_TABLES = TABLE_KEYS.filter((key) => key !== 'migrations');

interface SchemaPool {
  /** A migrated, empty schema: a recycled one emptied, else a new one migrated. */
  take(make: (schema: string) => PostgresStore): { store: PostgresStore; prepared: Promise<unknown> };
  /** Every schema handed out so far may be emptied and handed out again. */
  recycle(): void;
}

/**
 * Migrating a schema costs tens to hundreds of milliseconds (DDL), emptying one a few: tests
 * get a schema of their own, and the next test empties and reuses it.
 */
function schemaPool(exec: (sql: string) => Promise<unknown>): SchemaPool {
  const free: string[] = [];
  const used: string[] = [];
  return {
    take(make) {
      const recycled = free.pop();
      const schema = recycled ?? nextSchema();
      used.push(schema);
      const store = make(schema);
      const prepared = recycled
        ? exec(DATA_TABLES.map((key) => `DELETE FROM ${store.tables[key]}`).join('; ')).then(() => store.ready())
        : store.migrate();
      return { store, prepared };
    },
    recycle() {
      free.push(...used.splice(0));
    },
  };
}

function target(
  name: string,
  pool: SchemaPool,
  make: (schema: string, options: Partial<PostgresStoreOptions>) => PostgresStore,
  close: () => Promise<void>,
): StoreTarget {
  return {
    name,
    async store(options = {}) {
      const { store, prepared } = pool.take((schema) => make(schema, options));
      await prepared;
      return store;
    },
    storeNow(options = {}) {
      const { store, prepared } = pool.take((schema) => make(schema, options));
      return gated(store, prepared);
    },
    recycle: () => pool.recycle(),
    close,
  };
}

/**
 * Lets each test reuse the schemas earlier tests of this file used (emptied first): call once
 * at the top of a test file. Runs before each test, after the previous test's own checks.
 */
export function reuseSchemasBetweenTests(targets: readonly StoreTarget[]): void {
  beforeEach(() => {
    for (const t of targets) t.recycle();
  });
}

export interface ServerTarget extends StoreTarget {
  server: PostgresServer;
  pool: pg.Pool;
  database: string;
}

/**
 * A PostgreSQL server of this file's own, one database in it, and a pool the stores share (as a
 * host's would). `serialReads`: the stores' single reads (outside transactions) go, in order,
 * through one connection of their own, while transactions take connections from the pool (a
 * host can hand careslot such a pool: `query` and `connect` are separate).
 */
export async function serverTarget(options: { poolSize?: number; serialReads?: boolean } = {}): Promise<ServerTarget> {
  const poolSize = options.poolSize ?? 20;
  const server = await PostgresServer.start();
  const database = 'careslot_test';
  await server.createDatabase(database);
  // Connections stay open once made, as in a warm host: a race's calls then start together
  // instead of queueing behind connects.
  const pool = new pg.Pool({ ...server.config(database), max: poolSize, idleTimeoutMillis: 0 });
  // A host's pool must listen for errors of idle connections (a restarted server); so do we.
  pool.on('error', () => {});
  const clients = await Promise.all(Array.from({ length: poolSize }, () => pool.connect()));
  for (const client of clients) client.release();
  let reads: pg.Client | null = null;
  let storePool: PgPoolLike = pool;
  if (options.serialReads) {
    const client = new pg.Client(server.config(database));
    client.on('error', () => {});
    await client.connect();
    reads = client;
    storePool = {
      get totalCount() {
        return pool.totalCount;
      },
      query: (text: string, values?: unknown[]) => client.query(text, values),
      connect: () => pool.connect(),
    };
  }
  return {
    ...target(
      'PostgreSQL server',
      schemaPool((sql) => pool.query(sql)),
      (schema, storeOptions) => new PostgresStore({ pool: storePool, schema, ...storeOptions }),
      async () => {
        await reads?.end();
        await pool.end();
        await server.dispose();
      },
    ),
    server,
    pool,
    database,
  };
}

/** One in-memory PGlite for the file; every store gets a schema of its own in it. */
export async function pgliteTarget(): Promise<StoreTarget & { db: Awaited<ReturnType<typeof freshPGlite>> }> {
  const db = await freshPGlite();
  return {
    ...target(
      'PGlite',
      schemaPool((sql) => db.exec(sql)),
      (schema, options) => new PostgresStore({ pglite: db, schema, ...options }),
      () => db.close(),
    ),
    db,
  };
}

export const serverAvailable = postgres.available;

/** Where no server binaries exist: one skipped test standing for the suite (the reason is printed once). */
export function skippedWithoutServer(suite: string): void {
  describe.skip(`${suite} on a PostgreSQL server`, () => {
    it(`needs PostgreSQL server binaries: ${postgres.detail}`, () => {});
  });
}

export type { Clock };
