// A MongoDB stand-in under a real MongooseStore: the adapter's own code, mongoose's connection.transaction and the driver's withTransaction, over a snapshot-isolation document store.
import { Aggregator } from 'mingo';
import mongoose from 'mongoose';
import {
  type DocumentsByKey,
  MODEL_KEYS,
  type MongooseStoreModelKey,
} from '../../../src/adapters/mongoose/documents.js';
import type { HostIdMode } from '../../../src/adapters/mongoose/ids.js';
import { MONGOOSE_STORE_INDEXES } from '../../../src/adapters/mongoose/indexes.js';
import type {
  ClientSession,
  OperationsDeps,
  StoreCollection,
  StoreCollections,
} from '../../../src/adapters/mongoose/mongoose-operations.js';
import { MongooseStore, type MongooseStoreOptions } from '../../../src/adapters/mongoose/mongoose-store.js';
import { WALLET_BALANCES_MIGRATION } from '../../../src/adapters/mongoose/queries.js';
import { type Clock, systemClock } from '../../../src/index.js';
import {
  type Doc,
  documentId,
  type Filter,
  type IndexDefinition,
  SnapshotDb,
  type SnapshotTransaction,
  type Sort,
} from './snapshot-db.js';

const { MongoClient, MongoTransactionError, MongoExpiredSessionError } = mongoose.mongo;

/** The driver's per-attempt transaction state on a session (internal to the driver, stable since 4.0). */
interface DriverTransaction {
  state:
    | 'NO_TRANSACTION'
    | 'STARTING_TRANSACTION'
    | 'TRANSACTION_IN_PROGRESS'
    | 'TRANSACTION_COMMITTED'
    | 'TRANSACTION_COMMITTED_EMPTY'
    | 'TRANSACTION_ABORTED';
  transition(state: DriverTransaction['state']): void;
}
type DriverSession = ClientSession & { transaction: DriverTransaction; hasEnded: boolean };

const REPLICA_SET_HELLO = {
  isWritablePrimary: true,
  setName: 'careslot-fake-rs',
  logicalSessionTimeoutMinutes: 30,
  maxWireVersion: 21,
};

/** A read as the server receives it: what an index has to serve. */
export interface RecordedQuery {
  collection: MongooseStoreModelKey;
  method: 'find' | 'findOne' | 'countDocuments' | 'aggregate' | 'findOneAndUpdate' | 'updateOne' | 'deleteMany';
  filter: Filter;
  sort?: Sort;
  limit?: number;
  batchSize?: number;
  /** aggregate only: the stages after the first `$match` (which is `filter`). */
  pipeline?: Record<string, unknown>[];
  inTransaction: boolean;
}

/** Which of careslot's indexes exist when the stand-in starts. */
export type FakeIndexes = 'all' | 'none' | { except: readonly string[] };

export interface FakeMongoOptions {
  hostIds?: HostIdMode;
  clock?: Clock;
  /**
   * Which indexes are built at start (`store.createIndexes()` builds the rest later). Only
   * built indexes are enforced, as on a server.
   * @defaultValue 'all'
   */
  indexes?: FakeIndexes;
  transactionOptions?: MongooseStoreOptions['transactionOptions'];
  /** Any other store option (`timeoutMS`, `collectionNames`, ...). */
  storeOptions?: Omit<MongooseStoreOptions, 'connection' | 'hostIds' | 'clock' | 'transactionOptions'>;
  /**
   * Runs on every commitTransaction the server receives, in place of the commit: call `apply()`
   * to commit, throw a server error to fail the reply (after `apply()`: committed, reply lost),
   * return a promise that never settles to lose the reply.
   * @defaultValue commits
   */
  onCommit?: (commit: number, apply: () => void) => Promise<void> | void;
  /**
   * Whether the wallet totals' backfill marker is there at start and after every `reset()`, as on
   * a deployment where `createIndexes()` ran; false: a deployment upgraded from ledger-summed
   * balances that has not run `backfillWalletBalances()` yet.
   * @defaultValue true
   */
  walletTotalsBackfilled?: boolean;
  /**
   * The host's unopened connection to register the models on (for host plugins, host models);
   * the stand-in makes it look open.
   * @defaultValue a new `mongoose.createConnection()`
   */
  connection?: mongoose.Connection;
}

export interface FakeMongo {
  /** A real MongooseStore whose connection looks open and whose collections are the stand-in's. */
  store: MongooseStore;
  connection: mongoose.Connection;
  db: SnapshotDb;
  /** Every collection call, in order ("booking.findOne", ...). */
  calls: string[];
  /** Every read with what the server would plan it from, in order. */
  queries: RecordedQuery[];
  /** What the store's operations are built from, for tests that need their own. */
  deps: OperationsDeps;
  /** The latest committed documents of a collection. */
  rows(key: MongooseStoreModelKey): Doc[];
  /** Commits documents written by someone else (legacy data, another app), unchecked by careslot's schemas. */
  seed(key: MongooseStoreModelKey, docs: Doc[]): void;
  /** Drops every document (indexes stay) and forgets the calls. */
  reset(): void;
}

/** An upsert starts from the filter's equality fields, as MongoDB does. */
function upsertBase(filter: Filter): Doc {
  const base: Doc = { _id: new mongoose.Types.ObjectId() };
  for (const [field, value] of Object.entries(filter)) {
    const operator = value !== null && typeof value === 'object' && Object.keys(value).some((k) => k.startsWith('$'));
    if (!operator) base[field] = value;
  }
  return base;
}

function indexesAtStart(option: FakeIndexes): IndexDefinition[][] {
  return MODEL_KEYS.map((key) =>
    MONGOOSE_STORE_INDEXES[key]
      .filter((spec) => option === 'all' || (option !== 'none' && !option.except.includes(spec.options.name)))
      .map((spec) => ({ key: spec.fields, ...spec.options })),
  );
}

/**
 * A MongooseStore on a connection that is never opened: `hello` answers as a replica-set
 * primary, `connection.transaction` and the driver's `ClientSession.withTransaction` run as
 * they are (their retry loop, backoff and 120 s limit included), and only what would cross the
 * network is the stand-in's: the collection calls and a session's commit and abort.
 *
 * Isolation is MongoDB's (see SnapshotDb): snapshot reads, first writer wins with a labelled
 * WriteConflict that the driver retries, only created unique indexes enforced. Writes outside
 * a transaction are refused: careslot makes none, and the stand-in says so if one appears.
 */
export function createFakeMongo(options: FakeMongoOptions = {}): FakeMongo {
  const hostIds = options.hostIds ?? 'objectId';
  const clock = options.clock ?? systemClock;
  const connection = options.connection ?? mongoose.createConnection();
  const client = new MongoClient('mongodb://careslot-fake-mongo.invalid:27017/careslot?replicaSet=careslot-fake-rs');
  const db = new SnapshotDb();
  const calls: string[] = [];
  const queries: RecordedQuery[] = [];
  const transactions = new WeakMap<DriverTransaction, SnapshotTransaction>();
  let commits = 0;

  // Open as far as mongoose and the store can tell; the client behind it never connects.
  Object.defineProperty(connection, 'readyState', { value: 1, configurable: true, writable: true });
  Object.defineProperty(connection, 'db', {
    value: { command: async () => ({ ...REPLICA_SET_HELLO, ok: 1 }) },
    configurable: true,
    writable: true,
  });
  Object.defineProperty(connection, 'client', { value: client, configurable: true, writable: true });
  const startSession = client.startSession.bind(client);
  client.startSession = (sessionOptions) => instrument(startSession(sessionOptions) as DriverSession);

  /** What the server does on commitTransaction and abortTransaction; the driver's state machine around it. */
  function instrument(session: DriverSession): DriverSession {
    session.commitTransaction = async function commitTransaction(this: DriverSession) {
      const txn = this.transaction;
      if (txn.state === 'NO_TRANSACTION') throw new MongoTransactionError('No transaction started');
      if (txn.state === 'STARTING_TRANSACTION' || txn.state === 'TRANSACTION_COMMITTED_EMPTY') {
        txn.transition('TRANSACTION_COMMITTED_EMPTY');
        return;
      }
      if (txn.state === 'TRANSACTION_ABORTED') {
        throw new MongoTransactionError('Cannot call commitTransaction after calling abortTransaction');
      }
      await Promise.resolve();
      const apply = () => {
        try {
          const ours = transactions.get(txn);
          if (ours) db.commit(ours);
        } finally {
          txn.transition('TRANSACTION_COMMITTED');
        }
      };
      if (options.onCommit) await options.onCommit(++commits, apply);
      else apply();
    };
    session.abortTransaction = async function abortTransaction(this: DriverSession) {
      const txn = this.transaction;
      if (txn.state === 'NO_TRANSACTION') throw new MongoTransactionError('No transaction started');
      if (txn.state === 'STARTING_TRANSACTION') {
        txn.transition('TRANSACTION_ABORTED');
        return;
      }
      if (txn.state === 'TRANSACTION_ABORTED') throw new MongoTransactionError('Cannot call abortTransaction twice');
      if (txn.state === 'TRANSACTION_COMMITTED' || txn.state === 'TRANSACTION_COMMITTED_EMPTY') {
        throw new MongoTransactionError('Cannot call abortTransaction after calling commitTransaction');
      }
      await Promise.resolve();
      const ours = transactions.get(txn);
      if (ours) db.abort(ours);
      txn.transition('TRANSACTION_ABORTED');
    };
    return session;
  }

  /** The server-side transaction of a statement, started by its first statement; null outside one. */
  function transactionOf(operationOptions: { session?: ClientSession } | undefined): SnapshotTransaction | null {
    const session = operationOptions?.session as DriverSession | undefined;
    if (!session) return null;
    if (session.hasEnded) throw new MongoExpiredSessionError();
    const txn = session.transaction;
    if (txn.state === 'STARTING_TRANSACTION') {
      const ours = db.begin();
      transactions.set(txn, ours);
      txn.transition('TRANSACTION_IN_PROGRESS');
      return ours;
    }
    if (txn.state === 'TRANSACTION_IN_PROGRESS') {
      const ours = transactions.get(txn);
      if (!ours) throw new Error('fake-mongo: a transaction in progress that the stand-in never saw start');
      return ours;
    }
    return null;
  }

  function inTransaction(operation: string, operationOptions: { session?: ClientSession }): SnapshotTransaction {
    const txn = transactionOf(operationOptions);
    if (!txn) {
      throw new Error(
        `fake-mongo: ${operation} outside a transaction; careslot writes only inside store.transaction(fn)`,
      );
    }
    return txn;
  }

  const store = new MongooseStore({
    connection,
    hostIds,
    clock: { now: () => clock.now() },
    ...(options.transactionOptions ? { transactionOptions: options.transactionOptions } : {}),
    ...options.storeOptions,
  });
  const atStart = indexesAtStart(options.indexes ?? 'all');

  for (const [i, key] of MODEL_KEYS.entries()) {
    const collection = store.models[key].collection;
    const table = db.table(`careslot.${collection.collectionName}`);
    for (const index of atStart[i] ?? []) db.createIndex(table, index);
    const record = (method: string) => calls.push(`${key}.${method}`);

    const fake: StoreCollection<DocumentsByKey[typeof key]> & Record<string, unknown> = {
      async insertOne(doc, operationOptions) {
        record('insertOne');
        const txn = inTransaction('insertOne', operationOptions);
        const row = { ...(doc as unknown as Doc) };
        row._id ??= new mongoose.Types.ObjectId();
        await Promise.resolve();
        db.insert(table, txn, row);
        return { acknowledged: true, insertedId: row._id };
      },
      async findOne(filter, operationOptions) {
        record('findOne');
        const txn = transactionOf(operationOptions);
        queries.push({ collection: key, method: 'findOne', filter, limit: 1, inTransaction: txn !== null });
        await Promise.resolve();
        const projection = operationOptions.projection;
        const [doc] = db.find(table, txn, filter, { limit: 1, ...(projection ? { projection } : {}) });
        return (doc ?? null) as never;
      },
      find(filter, operationOptions) {
        record('find');
        return {
          toArray: async () => {
            const txn = transactionOf(operationOptions);
            queries.push({
              collection: key,
              method: 'find',
              filter,
              sort: operationOptions.sort,
              ...(operationOptions.limit === undefined ? {} : { limit: operationOptions.limit }),
              batchSize: operationOptions.batchSize,
              inTransaction: txn !== null,
            });
            await Promise.resolve();
            return db.find(table, txn, filter, {
              sort: operationOptions.sort,
              ...(operationOptions.limit === undefined ? {} : { limit: operationOptions.limit }),
            }) as never[];
          },
        };
      },
      async findOneAndUpdate(filter, update, operationOptions) {
        record('findOneAndUpdate');
        const txn = inTransaction('findOneAndUpdate', operationOptions);
        queries.push({ collection: key, method: 'findOneAndUpdate', filter, limit: 1, inTransaction: true });
        await Promise.resolve();
        const [current] = db.find(table, txn, filter, { limit: 1 });
        const { $setOnInsert, ...modifiers } = update;
        if (!current) {
          if (!operationOptions.upsert) return null;
          const base = upsertBase(filter);
          Object.assign(base, $setOnInsert ?? {});
          return db.insert(table, txn, SnapshotDb.applyUpdate(base, modifiers)) as never;
        }
        return db.replace(table, txn, documentId(current), SnapshotDb.applyUpdate(current, modifiers)) as never;
      },
      async updateOne(filter, update, operationOptions) {
        record('updateOne');
        const txn = inTransaction('updateOne', operationOptions);
        queries.push({ collection: key, method: 'updateOne', filter, limit: 1, inTransaction: true });
        await Promise.resolve();
        const [current] = db.find(table, txn, filter, { limit: 1 });
        const { $setOnInsert, ...modifiers } = update;
        if (current) {
          db.replace(table, txn, documentId(current), SnapshotDb.applyUpdate(current, modifiers));
          return { acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null };
        }
        if (!operationOptions.upsert) {
          return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null };
        }
        const base = upsertBase(filter);
        Object.assign(base, $setOnInsert ?? {});
        const inserted = db.insert(table, txn, SnapshotDb.applyUpdate(base, modifiers));
        return { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 1, upsertedId: inserted._id };
      },
      async deleteMany(filter, operationOptions) {
        record('deleteMany');
        const txn = inTransaction('deleteMany', operationOptions);
        queries.push({ collection: key, method: 'deleteMany', filter, inTransaction: true });
        await Promise.resolve();
        const doomed = db.find(table, txn, filter, { projection: { _id: 1 } });
        for (const doc of doomed) db.remove(table, txn, documentId(doc));
        return { deletedCount: doomed.length };
      },
      aggregate<R>(pipeline: Record<string, unknown>[], operationOptions: { session?: ClientSession }) {
        record('aggregate');
        return {
          toArray: async (): Promise<R[]> => {
            const txn = transactionOf(operationOptions);
            const [first, ...rest] = pipeline;
            const match = (first?.$match ?? {}) as Filter;
            const stages = first?.$match === undefined ? pipeline : rest;
            queries.push({
              collection: key,
              method: 'aggregate',
              filter: match,
              pipeline: stages,
              inTransaction: !!txn,
            });
            await Promise.resolve();
            return new Aggregator(stages).run(db.find(table, txn, match)) as R[];
          },
        };
      },
      async countDocuments(filter, operationOptions) {
        record('countDocuments');
        const txn = transactionOf(operationOptions);
        queries.push({ collection: key, method: 'countDocuments', filter, inTransaction: txn !== null });
        await Promise.resolve();
        return db.find(table, txn, filter, { projection: { _id: 1 } }).length;
      },
      // backfillActiveFlags(): a migration the host runs on purpose, outside any transaction
      // (here as a transaction of its own, as each of the server's document updates is atomic).
      async updateMany(filter: Filter, update: Record<string, unknown>) {
        record('updateMany');
        await Promise.resolve();
        const txn = db.begin();
        const matched = db.find(table, txn, filter);
        for (const doc of matched) db.replace(table, txn, documentId(doc), SnapshotDb.applyUpdate(doc, update));
        db.commit(txn);
        return { acknowledged: true, matchedCount: matched.length, modifiedCount: matched.length };
      },
      // What createIndexes() / syncIndexes() and the host's tooling call.
      async createIndex(fields: IndexDefinition['key'], indexOptions: Omit<IndexDefinition, 'key'>) {
        record('createIndex');
        await Promise.resolve();
        const { name, unique, partialFilterExpression } = indexOptions;
        return db.createIndex(table, {
          key: fields,
          name,
          ...(unique === undefined ? {} : { unique }),
          ...(partialFilterExpression === undefined ? {} : { partialFilterExpression }),
        });
      },
      async dropIndex(name: string) {
        record('dropIndex');
        await Promise.resolve();
        db.dropIndex(table, name);
        return { ok: 1 };
      },
      listIndexes() {
        record('listIndexes');
        return { toArray: async () => db.listIndexes(table) };
      },
    };
    Object.assign(collection, fake);
  }

  const collections = {} as Record<MongooseStoreModelKey, unknown>;
  for (const key of MODEL_KEYS) collections[key] = store.models[key].collection;
  const deps: OperationsDeps = {
    models: store.models,
    collections: collections as StoreCollections,
    hostIds,
    now: () => clock.now(),
  };

  const seed = (key: MongooseStoreModelKey, docs: Doc[]) => {
    const table = db.table(`careslot.${store.models[key].collection.collectionName}`);
    const txn = db.begin();
    for (const doc of docs) db.insert(table, txn, { _id: new mongoose.Types.ObjectId(), ...doc });
    db.commit(txn);
  };
  const markWalletTotals = () => {
    if (options.walletTotalsBackfilled === false) return;
    seed('migration', [{ _id: WALLET_BALANCES_MIGRATION, state: 'done', finishedAt: new Date(0), processed: 0 }]);
  };
  markWalletTotals();

  return {
    store,
    connection,
    db,
    calls,
    queries,
    deps,
    rows: (key) => db.committed(db.table(`careslot.${store.models[key].collection.collectionName}`)),
    seed,
    reset: () => {
      db.clear();
      markWalletTotals();
      calls.length = 0;
      queries.length = 0;
    },
  };
}

export type { Filter, Sort };
