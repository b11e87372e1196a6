// What the benchmarks share: ids, a seeded shuffle, a worker pool, slots, engines, and the stores to run on.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  BookingEngine,
  type BookingEngineOptions,
  type BookingStore,
  type Clock,
  InProcessScheduler,
  MemoryStore,
  type Schedule,
} from 'careslot';
import { MemoryPatientDirectory, TestPaymentGateway } from 'careslot/testing';
import type { PostgresServer } from '../test/postgres/support/postgres-server.js';
import { newSchedule } from '../test/support/records.js';
import { mongodAvailability, postgresAvailability } from '../test/support/services.js';
import type { BenchReport, Check } from './table.js';

export const FEE = { amount: 5000, currency: 'eur' } as const;
export const TIME_ZONE = 'Europe/Berlin';
/** Where the manual clocks start; slots are seeded after it. */
export const START = '2030-01-01T00:00:00Z';
const SLOT_MS = 30 * 60_000;

/** Id families, so a patient id never equals a doctor id. */
export const ID_KIND = { doctor: 0xd0c, patient: 0xa11, warmup: 0xb0b } as const;

/** 24 hex digits (an ObjectId's shape, which MongooseStore requires for host ids). */
export function hexId(kind: number, i: number): string {
  return `${kind.toString(16).padStart(4, '0')}${i.toString(16).padStart(20, '0')}`;
}

export function patientIds(count: number, offset = 0, kind: number = ID_KIND.patient): string[] {
  return Array.from({ length: count }, (_, i) => hexId(kind, offset + i));
}

/** The host's users: one `standard` (paying) patient per id. */
export function patientDirectory(ids: readonly string[]): MemoryPatientDirectory {
  const directory = new MemoryPatientDirectory();
  for (const [i, id] of ids.entries()) directory.addPatient({ id, name: `Patient ${i}`, plan: 'standard' });
  return directory;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so runs shuffle alike. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Runs `task(0 .. count-1)` with at most `concurrency` calls in flight, like that many clients. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * Publishes `count` slots, 30 minutes each, spread over `doctors` doctors, starting an hour
 * after `from`. Written with `insertSchedule`, one transaction per slot (the record
 * `engine.createSchedule` writes, without its validation, doctor lock and end-of-slot job),
 * so the engine and the direct-store paths start from identical stores. Seeding is never timed.
 */
export async function seedSlots(
  store: BookingStore,
  count: number,
  options: { from: Date; doctors?: number; concurrency?: number },
): Promise<Schedule[]> {
  const doctors = options.doctors ?? Math.max(1, Math.ceil(count / 200));
  const first = options.from.getTime() + 3_600_000;
  const slots: Schedule[] = new Array(count);
  await pool(count, options.concurrency ?? 16, async (i) => {
    const startTime = new Date(first + Math.floor(i / doctors) * SLOT_MS);
    slots[i] = await store.transaction((tx) =>
      tx.insertSchedule(
        newSchedule({
          doctorId: hexId(ID_KIND.doctor, i % doctors),
          startTime,
          endTime: new Date(startTime.getTime() + SLOT_MS),
          timeZone: TIME_ZONE,
          fee: { ...FEE },
        }),
      ),
    );
  });
  return slots;
}

export interface TestRig {
  engine: BookingEngine;
  gateway: TestPaymentGateway;
  scheduler: InProcessScheduler;
  /** `effect.failed` events (a notifier, scheduler or listener failure after commit). */
  effectFailures: unknown[];
}

/**
 * An engine on `store` with the in-memory test provider and a scheduler without timers: what
 * the store benchmarks drive. Default notifier (an EventEmitter nobody listens to).
 */
export function testRig(
  store: BookingStore,
  clock: Clock,
  patients: MemoryPatientDirectory,
  options: Partial<BookingEngineOptions> = {},
): TestRig {
  const gateway = new TestPaymentGateway({ clock });
  const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
  const engine = new BookingEngine({ store, payments: gateway, patients, scheduler, clock, ...options });
  const effectFailures: unknown[] = [];
  engine.events.on('effect.failed', (failure) => effectFailures.push(failure));
  return { engine, gateway, scheduler, effectFailures };
}

/** 12,345 */
export function fmt(value: number): string {
  return value.toLocaleString('en-US');
}

export function check(name: string, ok: boolean, detail: string): Check {
  return { name, ok, detail };
}

/** The sum of every doctor's wallet in `currency`, and their ledger lines (every page), through the engine's public read. */
export async function walletTotal(engine: BookingEngine, slots: readonly Schedule[], currency: string) {
  let total = 0;
  let entries = 0;
  for (const doctorId of new Set(slots.map((s) => s.doctorId))) {
    let wallet = await engine.getWallet(doctorId, { limit: 1000 });
    total += wallet.balances[currency] ?? 0;
    entries += wallet.entries.length;
    while (wallet.nextCursor !== null) {
      wallet = await engine.getWallet(doctorId, { limit: 1000, cursor: wallet.nextCursor });
      entries += wallet.entries.length;
    }
  }
  return { total, entries };
}

// ---- Stores -------------------------------------------------------------------------------

export type StoreKind = 'memory' | 'mongodb' | 'postgres' | 'pglite';

/** The stores that talk SQL: fewer operations per run keeps the whole bench within minutes. */
export const isSqlStore = (kind: StoreKind): boolean => kind === 'postgres' || kind === 'pglite';

export interface OpenStore {
  kind: StoreKind;
  store: BookingStore;
  /** Drops what this store wrote (a fresh database per open on MongoDB) and closes it. */
  close(): Promise<void>;
  /** SQL stores: `pg_total_relation_size` (tables, indexes, TOAST) summed over careslot's tables, in bytes. */
  diskBytes?(): Promise<number>;
  /**
   * PostgreSQL (a server): a second store on the same schema whose connections pipeline
   * statements (node-postgres `pipeline: true`), so calls made at once inside one transaction go
   * out without waiting for each other's answers. For untimed seeding only; `close` ends it too.
   */
  seeder?: BookingStore;
  /**
   * PostgreSQL (a server): `VACUUM (ANALYZE)` of careslot's tables, after an untimed bulk seed, so
   * the timed calls meet the steady state (fresh statistics, no autovacuum of the load running
   * beside them on the machine's two cores).
   */
  settle?(): Promise<void>;
}

/** Sums `pg_total_relation_size` over the ordinary tables of `schema`. */
const DISK_BYTES_SQL = `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint::text AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`;

export interface Stores {
  /** `memory`, `mongodb` when a mongod binary is available, `postgres` where PostgreSQL's server binaries are, `pglite`. */
  kinds: StoreKind[];
  /** Why MongoDB does not run here, or null. */
  mongoSkipped: string | null;
  /** Why PostgreSQL (a real server) does not run here, or null. */
  postgresSkipped: string | null;
  open(kind: StoreKind, clock: Clock): Promise<OpenStore>;
  /** The MongoDB server version, once one was started. */
  mongoVersion(): string | null;
  stop(): Promise<void>;
}

interface MongoServer {
  uri: string;
  version: string;
  stop(): Promise<unknown>;
}

async function startReplSet(binary: string): Promise<MongoServer> {
  const { MongoMemoryReplSet } = await import('mongodb-memory-server');
  const server = await MongoMemoryReplSet.create({
    ...(existsSync(binary) ? { binary: { systemBinary: binary } } : {}),
    replSet: { count: 1, storageEngine: 'wiredTiger' },
  });
  const mongoose = (await import('mongoose')).default;
  const probe = await mongoose.createConnection(server.getUri()).asPromise();
  const info = (await probe.db?.admin().serverInfo()) as { version?: string } | undefined;
  await probe.close();
  return { uri: server.getUri(), version: info?.version ?? 'unknown', stop: () => server.stop() };
}

interface PostgresBench {
  server: PostgresServer;
  database: string;
}

let schemas = 0;

/** A PostgresStore (the built package's) on a fresh schema; `close` drops the schema or the database. */
async function openSql(
  kind: 'postgres' | 'pglite',
  clock: Clock,
  server: () => Promise<PostgresBench>,
): Promise<OpenStore> {
  const { PostgresStore } = await import('careslot/postgres');
  const schema = `careslot_bench_${++schemas}`;
  if (kind === 'pglite') {
    const { freshPGlite } = await import('../test/postgres/support/pglite.js');
    const db = await freshPGlite();
    const store = new PostgresStore({ pglite: db, schema, clock });
    await store.migrate();
    const diskBytes = async () => {
      const result = await db.query<{ bytes: string }>(DISK_BYTES_SQL, [schema]);
      return Number(result.rows[0]?.bytes ?? 0);
    };
    return { kind, store, close: () => db.close(), diskBytes };
  }
  const { server: pgServer, database } = await server();
  const pg = (await import('pg')).default;
  const pool = new pg.Pool({ ...pgServer.config(database), max: 20 });
  const store = new PostgresStore({ pool, schema, clock });
  await store.migrate();
  const seedPool = new pg.Pool({ ...pgServer.config(database), max: 4, pipeline: true });
  // A connection idle in a pool when the bench's server stops (after the table) is terminated by
  // it; without a listener that error would crash the run after its results were in.
  for (const p of [pool, seedPool]) p.on('error', () => {});
  const seeder = new PostgresStore({ pool: seedPool, schema, clock });
  return {
    kind,
    store,
    seeder,
    close: async () => {
      await seedPool.end();
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
    diskBytes: async () => {
      const result = await pool.query<{ bytes: string }>(DISK_BYTES_SQL, [schema]);
      return Number(result.rows[0]?.bytes ?? 0);
    },
    settle: async () => {
      const tables = await pool.query<{ name: string }>(
        'SELECT tablename AS name FROM pg_tables WHERE schemaname = $1',
        [schema],
      );
      // VACUUM runs outside a transaction: one statement per table, each on its own.
      for (const { name } of tables.rows) await pool.query(`VACUUM (ANALYZE) "${schema}"."${name}"`);
    },
  };
}

/**
 * The stores the store benchmarks run on. MongoDB (a one-node replica set from
 * mongodb-memory-server, started on first use) only where a mongod binary is available;
 * PostgreSQL (a server of the bench's own, started on first use) where its server binaries
 * are; PGlite (in memory) always.
 */
export function createStores(options: { memoryOnly?: boolean } = {}): Stores {
  const mongod = mongodAvailability();
  const mongoSkipped = options.memoryOnly
    ? 'not requested'
    : mongod.available
      ? null
      : 'no mongod binary here; run with MONGOMS_SYSTEM_BINARY=/path/to/mongod';
  const postgres = postgresAvailability();
  const postgresSkipped = options.memoryOnly ? 'not requested' : postgres.available ? null : `${postgres.detail}`;
  let server: Promise<MongoServer> | null = null;
  let pgServer: Promise<PostgresBench> | null = null;
  const startPostgres = async (): Promise<PostgresBench> => {
    const { PostgresServer } = await import('../test/postgres/support/postgres-server.js');
    const started = await PostgresServer.start();
    await started.createDatabase('careslot_bench');
    return { server: started, database: 'careslot_bench' };
  };
  let version: string | null = null;
  const kinds: StoreKind[] = ['memory'];
  if (mongoSkipped === null) kinds.push('mongodb');
  if (postgresSkipped === null) kinds.push('postgres');
  if (!options.memoryOnly) kinds.push('pglite');
  return {
    kinds,
    mongoSkipped,
    postgresSkipped,
    mongoVersion: () => version,
    async open(kind, clock) {
      if (kind === 'memory') return { kind, store: new MemoryStore({ clock }), close: async () => {} };
      if (kind === 'postgres' || kind === 'pglite') {
        return openSql(kind, clock, () => {
          pgServer ??= startPostgres();
          return pgServer;
        });
      }
      server ??= startReplSet(process.env.MONGOMS_SYSTEM_BINARY || mongod.detail);
      const { uri, version: v } = await server;
      version = v;
      const mongoose = (await import('mongoose')).default;
      const { MongooseStore } = await import('careslot/mongoose');
      const dbName = `careslot-bench-${randomUUID().slice(0, 8)}`;
      const connection = await mongoose.createConnection(uri, { dbName }).asPromise();
      const store = new MongooseStore({ connection, clock });
      await store.createIndexes();
      return {
        kind,
        store,
        close: async () => {
          await connection.dropDatabase();
          await connection.close();
        },
      };
    },
    async stop() {
      if (server) await (await server).stop();
      server = null;
      if (pgServer) await (await pgServer).server.dispose();
      pgServer = null;
    },
  };
}

// ---- What run.ts hands every benchmark -----------------------------------------------------

export interface BenchContext {
  /** `--quick`: smaller counts, the whole run under a minute. */
  quick: boolean;
  /** `--full`: the largest sizes too (the scale benchmark's 1,000,000 bookings); long. */
  full: boolean;
  stores: Stores;
  /** Progress, to stderr (stdout keeps the table). */
  log(message: string): void;
}

export interface Benchmark {
  name: string;
  run(ctx: BenchContext): Promise<BenchReport[]>;
}

/** The row of a benchmark that could not run here, saying why. */
export function skipped(benchmark: string, store: string, reason: string): BenchReport {
  return { benchmark, store, params: {}, metrics: [], checks: [], skipped: reason };
}

/** One check per name over several runs: ok when every run's is; the detail of the first failure, else the last run's. */
export function mergeChecks(runs: readonly (readonly Check[])[]): Check[] {
  const merged = new Map<string, Check>();
  for (const checks of runs) {
    for (const c of checks) {
      if (merged.get(c.name)?.ok === false) continue;
      merged.set(c.name, c);
    }
  }
  return [...merged.values()];
}
