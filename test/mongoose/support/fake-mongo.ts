// An in-memory stand-in for the driver collections (mingo evaluates filters and updates), enforcing
// careslot's unique indexes: lets the store conformance suite run the adapter's own code offline.
import { Query } from 'mingo';
import { update as applyUpdate } from 'mingo/updater';
import mongoose from 'mongoose';
import { AsyncMutex } from '../../../src/adapters/memory/async-mutex.js';
import { MODEL_KEYS, type MongooseStoreModelKey } from '../../../src/adapters/mongoose/documents.js';
import { retryUniqueConflicts, toStoreError } from '../../../src/adapters/mongoose/errors.js';
import type { HostIdMode } from '../../../src/adapters/mongoose/ids.js';
import { type IndexSpec, MONGOOSE_STORE_INDEXES } from '../../../src/adapters/mongoose/indexes.js';
import {
  type ClientSession,
  MongooseOperations,
  type OperationsDeps,
  type StoreCollection,
  type StoreCollections,
} from '../../../src/adapters/mongoose/mongoose-operations.js';
import { MongooseStore } from '../../../src/adapters/mongoose/mongoose-store.js';
import type { Filter, Update } from '../../../src/adapters/mongoose/queries.js';
import { type BookingStore, type Clock, type StoreOperations, systemClock } from '../../../src/index.js';

type Doc = Record<string, unknown>;

const { BSON } = mongoose.mongo;
// A BSON round trip: what the server would store and give back (ObjectIds and Dates intact).
const roundTrip = <T>(doc: T): T => BSON.deserialize(BSON.serialize(doc as Doc)) as T;

function duplicateKey(index: string): Error {
  return Object.assign(new Error(`E11000 duplicate key error index: ${index}`), {
    name: 'MongoServerError',
    code: 11000,
  });
}

function comparable(value: unknown): string | number {
  if (value instanceof Date) return value.getTime();
  if (value instanceof mongoose.Types.ObjectId) return value.toHexString();
  if (typeof value === 'number' || typeof value === 'string') return value;
  return JSON.stringify(value ?? null);
}

function sortDocs(docs: Doc[], sort: Readonly<Record<string, 1 | -1>>): Doc[] {
  return [...docs].sort((a, b) => {
    for (const [field, direction] of Object.entries(sort)) {
      const x = comparable(a[field]);
      const y = comparable(b[field]);
      if (x < y) return -direction;
      if (x > y) return direction;
    }
    return 0;
  });
}

const matches = (filter: Filter, doc: Doc): boolean => new Query(filter).test(doc);

/** A collection whose rows live in an array; every call is reported to `record`. */
export class FakeCollection<T> implements StoreCollection<T> {
  rows: Doc[] = [];

  constructor(
    private readonly indexes: readonly IndexSpec[],
    private readonly record: (call: string) => void,
  ) {}

  private indexKey(index: IndexSpec, doc: Doc): string | null {
    if (index.options.partialFilterExpression && !matches({ ...index.options.partialFilterExpression }, doc)) {
      return null;
    }
    return JSON.stringify(Object.keys(index.fields).map((field) => comparable(doc[field] ?? null)));
  }

  private assertUnique(doc: Doc, except: Doc | null): void {
    for (const index of this.indexes) {
      if (!index.options.unique) continue;
      const key = this.indexKey(index, doc);
      if (key === null) continue;
      if (this.rows.some((row) => row !== except && this.indexKey(index, row) === key)) {
        throw duplicateKey(index.options.name);
      }
    }
  }

  async insertOne(doc: T): Promise<unknown> {
    this.record('insertOne');
    const row = roundTrip(doc) as Doc;
    row._id ??= new mongoose.Types.ObjectId();
    this.assertUnique(row, null);
    this.rows.push(row);
    return { acknowledged: true, insertedId: row._id };
  }

  async findOne(filter: Filter): Promise<T | null> {
    this.record('findOne');
    const row = this.rows.find((r) => matches(filter, r));
    return row ? (roundTrip(row) as T) : null;
  }

  find(
    filter: Filter,
    options: { sort: Readonly<Record<string, 1 | -1>>; limit?: number },
  ): { toArray(): Promise<T[]> } {
    this.record('find');
    const rows = sortDocs(
      this.rows.filter((r) => matches(filter, r)),
      options.sort,
    );
    const limited = options.limit ? rows.slice(0, options.limit) : rows;
    return { toArray: async () => limited.map((r) => roundTrip(r) as T) };
  }

  async findOneAndUpdate(filter: Filter, update: Update, options: { upsert?: boolean }): Promise<T | null> {
    this.record('findOneAndUpdate');
    const index = this.rows.findIndex((r) => matches(filter, r));
    const { $setOnInsert, ...modifiers } = update;
    if (index === -1) {
      if (!options.upsert) return null;
      // An upsert starts from the filter's equality fields, as MongoDB does.
      const base: Doc = { _id: new mongoose.Types.ObjectId() };
      for (const [field, value] of Object.entries(filter)) {
        const operator =
          value !== null && typeof value === 'object' && Object.keys(value).some((k) => k.startsWith('$'));
        if (!operator) base[field] = value;
      }
      Object.assign(base, $setOnInsert ?? {});
      if (Object.keys(modifiers).length > 0) applyUpdate(base, modifiers);
      const row = roundTrip(base);
      this.assertUnique(row, null);
      this.rows.push(row);
      return roundTrip(row) as T;
    }
    const current = this.rows[index] as Doc;
    const next = roundTrip(current);
    if (Object.keys(modifiers).length > 0) applyUpdate(next, modifiers);
    const row = roundTrip(next);
    this.assertUnique(row, current);
    this.rows[index] = row;
    return roundTrip(row) as T;
  }

  async deleteMany(filter: Filter): Promise<{ deletedCount: number }> {
    this.record('deleteMany');
    const before = this.rows.length;
    this.rows = this.rows.filter((r) => !matches(filter, r));
    return { deletedCount: before - this.rows.length };
  }

  async countDocuments(filter: Filter): Promise<number> {
    this.record('countDocuments');
    return this.rows.filter((r) => matches(filter, r)).length;
  }
}

export type FakeCollections = { [K in MongooseStoreModelKey]: FakeCollection<unknown> };

export interface FakeMongo {
  /** A BookingStore running MongooseOperations over the fake collections. */
  store: BookingStore;
  collections: FakeCollections;
  /** Every collection call, in order ("booking.findOne", ...). */
  calls: string[];
  /** What MongooseOperations is built from, for tests that need their own operations. */
  deps: OperationsDeps;
  reset(): void;
}

/**
 * MongooseOperations on fake collections, with transactions that run one at a time and roll
 * back by restoring a copy of every collection: the semantics of MongoDB's transactions
 * without a server. Models (for casting and validation) come from a real MongooseStore on a
 * connection that is never opened.
 */
export function createFakeMongo(options: { hostIds?: HostIdMode; clock?: Clock } = {}): FakeMongo {
  const connection = mongoose.createConnection();
  const hostIds = options.hostIds ?? 'objectId';
  const clock = options.clock ?? systemClock;
  const models = new MongooseStore({ connection, hostIds }).models;
  const calls: string[] = [];
  const collections = {} as Record<MongooseStoreModelKey, FakeCollection<unknown>>;
  for (const key of MODEL_KEYS) {
    collections[key] = new FakeCollection(MONGOOSE_STORE_INDEXES[key], (call) => calls.push(`${key}.${call}`));
  }
  const deps: OperationsDeps = {
    models,
    collections: collections as unknown as StoreCollections,
    hostIds,
    now: () => clock.now(),
  };
  const lock = new AsyncMutex();
  const direct = new MongooseOperations(deps, null);
  const session = {} as ClientSession;

  const transaction = <T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T> =>
    lock.run(async () => {
      try {
        return await retryUniqueConflicts(async () => {
          const saved = MODEL_KEYS.map((key) => [key, collections[key].rows.map(roundTrip)] as const);
          try {
            return await fn(new MongooseOperations(deps, session));
          } catch (error) {
            for (const [key, rows] of saved) collections[key].rows = rows;
            throw error;
          }
        });
      } catch (error) {
        throw toStoreError(error, 'transaction');
      }
    });

  const store = new Proxy({} as BookingStore, {
    get(_target, name: string) {
      if (name === 'transaction') return transaction;
      if (name === 'then') return undefined;
      const method = (direct as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
      if (typeof method !== 'function') return undefined;
      return (...args: unknown[]) =>
        lock.run(async () => {
          try {
            return await method.apply(direct, args);
          } catch (error) {
            throw toStoreError(error, name);
          }
        });
    },
  });

  return {
    store,
    collections: collections as FakeCollections,
    calls,
    deps,
    reset: () => {
      for (const key of MODEL_KEYS) collections[key].rows = [];
      calls.length = 0;
    },
  };
}
