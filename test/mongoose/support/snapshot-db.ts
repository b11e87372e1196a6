// A small multi-version document store with MongoDB's transaction semantics: snapshot reads, write-write conflicts at the write, unique indexes only once created.
import { Query } from 'mingo';
import { update as applyUpdate } from 'mingo/updater';
import mongoose from 'mongoose';

export type Doc = Record<string, unknown>;
export type Filter = Record<string, unknown>;
export type Sort = Readonly<Record<string, 1 | -1>>;

/** An index as `createIndex` receives it (fields, then name / unique / partialFilterExpression). */
export interface IndexDefinition {
  key: Readonly<Record<string, 1 | -1>>;
  name: string;
  unique?: boolean;
  partialFilterExpression?: Readonly<Record<string, unknown>>;
}

const { BSON, MongoServerError } = mongoose.mongo;

/** A BSON round trip: what the server would store and give back (ObjectIds and Dates intact). */
export const copy = <T>(doc: T): T => BSON.deserialize(BSON.serialize(doc as Doc)) as T;

// ---- the server's error replies, as the driver raises them ----

const TRANSIENT = ['TransientTransactionError'];

/**
 * What mongod answers when a transaction writes a document (or unique index key) that another
 * transaction wrote after this one's snapshot, or is writing now: code 112, labelled
 * TransientTransactionError, which is what makes the driver's withTransaction run it again.
 */
export function writeConflictError(): InstanceType<typeof MongoServerError> {
  return new MongoServerError({
    ok: 0,
    errmsg:
      'Caused by :: Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.',
    code: 112,
    codeName: 'WriteConflict',
    errorLabels: TRANSIENT,
  });
}

/** Any statement, or the commit, of a transaction the server already aborted. */
export function noSuchTransactionError(txnNumber: number): InstanceType<typeof MongoServerError> {
  return new MongoServerError({
    ok: 0,
    errmsg: `Transaction with { txnNumber: ${txnNumber} } has been aborted.`,
    code: 251,
    codeName: 'NoSuchTransaction',
    errorLabels: TRANSIENT,
  });
}

/** E11000: a unique index refused a key another visible document holds (not transient). */
export function duplicateKeyError(
  namespace: string,
  index: IndexDefinition,
  keyValue: Doc,
): InstanceType<typeof MongoServerError> {
  return new MongoServerError({
    ok: 0,
    errmsg: `E11000 duplicate key error collection: ${namespace} index: ${index.name} dup key: ${JSON.stringify(keyValue)}`,
    code: 11000,
    codeName: 'DuplicateKey',
    keyPattern: { ...index.key },
    keyValue,
  });
}

// ---- values, keys and order ----

function comparable(value: unknown): string | number {
  if (value instanceof Date) return value.getTime();
  if (value instanceof mongoose.Types.ObjectId) return value.toHexString();
  if (typeof value === 'number' || typeof value === 'string') return value;
  return JSON.stringify(value ?? null);
}

function pathValue(doc: Doc, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Doc)[part];
  }
  return value;
}

export function sortDocs(docs: Doc[], sort: Sort): Doc[] {
  return [...docs].sort((a, b) => {
    for (const [field, direction] of Object.entries(sort)) {
      const x = comparable(pathValue(a, field));
      const y = comparable(pathValue(b, field));
      if (x < y) return -direction;
      if (x > y) return direction;
    }
    return 0;
  });
}

const idOf = (doc: Doc): string => String(comparable(doc._id));

function isPlain(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    value instanceof Date ||
    value instanceof mongoose.Types.ObjectId
  );
}

/** The filter's top-level `field: value` equalities on plain values: a cheap pre-check before mingo. */
function plainEqualities(filter: Filter): [string, unknown][] {
  // Dotted paths may run through arrays (`refunds.status`): left to mingo.
  return Object.entries(filter).filter(
    ([field, value]) => !field.includes('.') && !field.startsWith('$') && isPlain(value),
  );
}

/** False only when the document surely fails one of the equalities (arrays are left to mingo). */
function mayMatch(equalities: readonly [string, unknown][], doc: Doc): boolean {
  for (const [field, value] of equalities) {
    const actual = doc[field] ?? null;
    if (Array.isArray(actual) || (actual !== null && typeof actual === 'object' && !isPlain(actual))) continue;
    if (typeof actual !== typeof value && !(actual === null || value === null)) {
      if (!(actual instanceof Date || actual instanceof mongoose.Types.ObjectId)) return false;
    }
    if (comparable(actual) !== comparable(value)) return false;
  }
  return true;
}

const partialFilters = new WeakMap<IndexDefinition, Query>();

/** The index key of a document, or null when the document is not in the (partial) index. */
function indexKey(index: IndexDefinition, doc: Doc | null): string | null {
  if (doc === null) return null;
  if (index.partialFilterExpression) {
    let filter = partialFilters.get(index);
    if (!filter) {
      filter = new Query({ ...index.partialFilterExpression });
      partialFilters.set(index, filter);
    }
    if (!filter.test(doc)) return null;
  }
  return JSON.stringify(Object.keys(index.key).map((field) => comparable(pathValue(doc, field) ?? null)));
}

function keyValue(index: IndexDefinition, doc: Doc): Doc {
  return Object.fromEntries(Object.keys(index.key).map((field) => [field, pathValue(doc, field) ?? null]));
}

// ---- the store ----

interface Version {
  /** The commit that wrote it. */
  ts: number;
  /** null: deleted by that commit. */
  doc: Doc | null;
}

class Table {
  /** Each document's committed versions, oldest first; Map order is the natural order. */
  versions = new Map<string, Version[]>();
  /** Only indexes that were created; a declared index nobody built enforces nothing. */
  indexes = new Map<string, IndexDefinition>();
  /** Per unique index: which committed documents hold each key. */
  committedKeys = new Map<string, Map<string, Set<string>>>();
  /**
   * Lookup by a top-level field's value, built on first use, over every committed version
   * (a superset: candidates are checked against the filter anyway). Only makes the stand-in
   * fast enough for the load suites; it decides nothing.
   */
  lookups = new Map<string, Map<string | number, Set<string>>>();
  /** Insertion order, so candidates come back in natural order. */
  order = new Map<string, number>();
  private nextOrder = 0;

  place(id: string): void {
    if (!this.order.has(id)) this.order.set(id, this.nextOrder++);
  }

  /** Adds a committed version to every lookup built so far. */
  remember(id: string, doc: Doc): void {
    for (const [field, lookup] of this.lookups) addToLookup(lookup, id, doc[field]);
  }

  lookup(field: string): Map<string | number, Set<string>> {
    let lookup = this.lookups.get(field);
    if (!lookup) {
      lookup = new Map();
      for (const [id, versions] of this.versions) {
        for (const version of versions) if (version.doc) addToLookup(lookup, id, version.doc[field]);
      }
      this.lookups.set(field, lookup);
    }
    return lookup;
  }

  constructor(readonly namespace: string) {}

  holders(index: IndexDefinition, key: string): Set<string> {
    let keys = this.committedKeys.get(index.name);
    if (!keys) {
      keys = new Map();
      this.committedKeys.set(index.name, keys);
    }
    let ids = keys.get(key);
    if (!ids) {
      ids = new Set();
      keys.set(key, ids);
    }
    return ids;
  }

  uniqueIndexes(): IndexDefinition[] {
    return [...this.indexes.values()].filter((index) => index.unique);
  }
}

/** Arrays (never in careslot's documents) go under a key every lookup includes. */
const ANY = '\u0000array';

function addToLookup(lookup: Map<string | number, Set<string>>, id: string, value: unknown): void {
  const key = Array.isArray(value) ? ANY : comparable(value ?? null);
  let ids = lookup.get(key);
  if (!ids) {
    ids = new Set();
    lookup.set(key, ids);
  }
  ids.add(id);
}

let txnNumbers = 0;

/** One transaction on the server: its snapshot, its own writes, its state. */
export class SnapshotTransaction {
  readonly txnNumber = ++txnNumbers;
  state: 'open' | 'aborted' | 'committed' = 'open';
  /** What the transaction wrote, per table and document id (null: deleted). */
  readonly writes = new Map<Table, Map<string, Doc | null>>();
  /** Unique index keys its writes added or removed ("table index key"). */
  readonly keys = new Set<string>();

  constructor(
    /** The last commit it sees: taken at its first statement, as mongod does. */
    readonly snapshot: number,
  ) {}

  writesOf(table: Table): Map<string, Doc | null> {
    let writes = this.writes.get(table);
    if (!writes) {
      writes = new Map();
      this.writes.set(table, writes);
    }
    return writes;
  }
}

/**
 * Documents with committed versions and transactions over them, as MongoDB (WiredTiger) runs
 * them under snapshot isolation:
 *
 * - a transaction reads the last commit before its first statement, plus its own writes;
 *   outside a transaction, a read sees the latest commit;
 * - writing a document, or a unique index key, that a commit after the snapshot wrote or that
 *   another open transaction has written fails at once with WriteConflict (code 112,
 *   TransientTransactionError), and the server aborts the transaction: first writer wins;
 * - a unique key held by another document the transaction can see fails with E11000, and
 *   aborts the transaction too;
 * - reads take no locks: two transactions that read each other's documents but write
 *   disjoint ones both commit (write skew), exactly as on MongoDB;
 * - commit checks the unique indexes once more against committed data, so an index built
 *   while the transaction was open holds too;
 * - only indexes that were created are enforced.
 */
export class SnapshotDb {
  private clock = 0;
  private commits = 0;
  private readonly tables = new Map<string, Table>();
  private readonly open = new Set<SnapshotTransaction>();
  /** Last commit that added or removed each unique index key ("table index key"). */
  private readonly keyCommits = new Map<string, number>();

  table(namespace: string): Table {
    let table = this.tables.get(namespace);
    if (!table) {
      table = new Table(namespace);
      this.tables.set(namespace, table);
    }
    return table;
  }

  /** Drops every document and open transaction; indexes stay as they are. */
  clear(): void {
    for (const transaction of this.open) transaction.state = 'aborted';
    this.open.clear();
    this.keyCommits.clear();
    for (const table of this.tables.values()) {
      table.versions = new Map();
      table.committedKeys = new Map();
      table.lookups = new Map();
      table.order = new Map();
    }
  }

  begin(): SnapshotTransaction {
    const transaction = new SnapshotTransaction(this.clock);
    this.open.add(transaction);
    return transaction;
  }

  get openTransactions(): number {
    return this.open.size;
  }

  // ---- reads ----

  private committedAt(table: Table, id: string, at: number): Doc | null {
    const versions = table.versions.get(id);
    if (!versions) return null;
    for (let i = versions.length - 1; i >= 0; i--) {
      const version = versions[i] as Version;
      if (version.ts <= at) return version.doc;
    }
    return null;
  }

  private visibleDoc(table: Table, id: string, transaction: SnapshotTransaction | null): Doc | null {
    const own = transaction?.writes.get(table);
    if (own?.has(id)) return own.get(id) ?? null;
    return this.committedAt(table, id, transaction ? transaction.snapshot : this.clock);
  }

  /** Every document the reader can see, in natural order (its own inserts last). */
  private visible(table: Table, transaction: SnapshotTransaction | null, only?: readonly string[]): Doc[] {
    if (only !== undefined) {
      const docs: Doc[] = [];
      for (const id of only) {
        const doc = this.visibleDoc(table, id, transaction);
        if (doc) docs.push(doc);
      }
      return docs;
    }
    const docs: Doc[] = [];
    const own = transaction?.writes.get(table);
    for (const id of table.versions.keys()) {
      const doc = this.visibleDoc(table, id, transaction);
      if (doc) docs.push(doc);
    }
    for (const [id, doc] of own ?? []) if (doc && !table.versions.has(id)) docs.push(doc);
    return docs;
  }

  /** Ids that may match the filter's equalities (or `$in` of plain values), in natural order; undefined: all. */
  private candidates(table: Table, transaction: SnapshotTransaction | null, filter: Filter): string[] | undefined {
    let best: Set<string>[] | undefined;
    let bestSize = Number.POSITIVE_INFINITY;
    for (const [field, value] of Object.entries(filter)) {
      if (field.startsWith('$') || field.includes('.')) continue;
      let values: unknown[] | null = null;
      if (isPlain(value)) values = [value];
      else if (value !== null && typeof value === 'object' && isPlain((value as { $eq?: unknown }).$eq)) {
        // `{ $eq, $type }`, as the store queries fields under a `$type` partial index.
        values = [(value as { $eq: unknown }).$eq];
      } else if (value !== null && typeof value === 'object' && Object.keys(value).length === 1) {
        const list = (value as { $in?: unknown }).$in;
        if (Array.isArray(list) && list.every(isPlain)) values = list;
      }
      if (values === null) continue;
      const sets: Set<string>[] = [];
      if (field === '_id') sets.push(new Set(values.map((v) => String(comparable(v)))));
      else {
        const lookup = table.lookup(field);
        for (const key of [...values.map((v) => comparable(v ?? null)), ANY]) {
          const ids = lookup.get(key);
          if (ids) sets.push(ids);
        }
      }
      const size = sets.reduce((n, ids) => n + ids.size, 0);
      if (size < bestSize) {
        best = sets;
        bestSize = size;
      }
    }
    if (!best) return undefined;
    const own = transaction?.writes.get(table);
    const all = new Set<string>(own?.keys() ?? []);
    for (const ids of best) for (const id of ids) all.add(id);
    const order = (id: string) => table.order.get(id) ?? Number.MAX_SAFE_INTEGER;
    return [...all].sort((a, b) => order(a) - order(b));
  }

  private assertUsable(transaction: SnapshotTransaction | null): void {
    if (transaction && transaction.state !== 'open') throw noSuchTransactionError(transaction.txnNumber);
  }

  find(
    table: Table,
    transaction: SnapshotTransaction | null,
    filter: Filter,
    options: { sort?: Sort; limit?: number; projection?: Readonly<Record<string, 0 | 1>> } = {},
  ): Doc[] {
    this.assertUsable(transaction);
    const query = new Query(filter);
    const equal = plainEqualities(filter);
    let docs = this.visible(table, transaction, this.candidates(table, transaction, filter)).filter(
      (doc) => mayMatch(equal, doc) && query.test(doc),
    );
    if (options.sort) docs = sortDocs(docs, options.sort);
    if (options.limit) docs = docs.slice(0, options.limit);
    const fields = options.projection ? Object.keys(options.projection) : null;
    return docs.map((doc) =>
      copy(fields ? Object.fromEntries(fields.filter((f) => f in doc).map((f) => [f, doc[f]])) : doc),
    );
  }

  // ---- writes (inside a transaction only) ----

  /** Fails the statement and aborts the transaction on the server, as mongod does. */
  private abortWith(transaction: SnapshotTransaction, error: Error): never {
    this.abort(transaction);
    throw error;
  }

  /** Inserts a document (with its `_id`) as one statement of the transaction; returns the stored copy. */
  insert(table: Table, transaction: SnapshotTransaction, doc: Doc): Doc {
    return this.write(table, transaction, idOf(doc), doc, 'insert') as Doc;
  }

  /** Replaces the document with this id by `next` (its whole new version); returns the stored copy. */
  replace(table: Table, transaction: SnapshotTransaction, id: string, next: Doc): Doc {
    return this.write(table, transaction, id, next, 'update') as Doc;
  }

  remove(table: Table, transaction: SnapshotTransaction, id: string): void {
    this.write(table, transaction, id, null, 'delete');
  }

  private write(
    table: Table,
    transaction: SnapshotTransaction,
    id: string,
    next: Doc | null,
    kind: 'insert' | 'update' | 'delete',
  ): Doc | null {
    this.assertUsable(transaction);
    const previous = this.visibleDoc(table, id, transaction);
    const latest = table.versions.get(id)?.at(-1);
    const conflict =
      (latest !== undefined && latest.ts > transaction.snapshot) ||
      [...this.open].some((other) => other !== transaction && other.writes.get(table)?.has(id));
    if (conflict) this.abortWith(transaction, writeConflictError());
    if (kind === 'insert' && previous !== null) {
      const idIndex: IndexDefinition = { key: { _id: 1 }, name: '_id_', unique: true };
      this.abortWith(transaction, duplicateKeyError(table.namespace, idIndex, { _id: (next as Doc)._id }));
    }

    const changed: { index: IndexDefinition; added: string | null; removed: string | null }[] = [];
    for (const index of table.uniqueIndexes()) {
      const before = indexKey(index, previous);
      const after = indexKey(index, next);
      if (before !== after) changed.push({ index, added: after, removed: before });
    }
    const qualified = (index: IndexDefinition, key: string) => `${table.namespace} ${index.name} ${key}`;
    for (const { index, added, removed } of changed) {
      for (const key of [added, removed]) {
        if (key === null) continue;
        const name = qualified(index, key);
        const committedAfter = (this.keyCommits.get(name) ?? -1) > transaction.snapshot;
        const writtenByOther = [...this.open].some((other) => other !== transaction && other.keys.has(name));
        if (committedAfter || writtenByOther) this.abortWith(transaction, writeConflictError());
      }
    }
    // No commit after the snapshot touched these keys (that was a conflict above), so the latest
    // committed holders are the ones the snapshot sees; the transaction's own writes go on top.
    const own = transaction.writes.get(table);
    for (const { index, added } of changed) {
      if (added === null || next === null) continue;
      const committedHolder = [...table.holders(index, added)].some((holder) => holder !== id && !own?.has(holder));
      const ownHolder = [...(own ?? [])].some(([other, doc]) => other !== id && indexKey(index, doc) === added);
      if (committedHolder || ownHolder) {
        this.abortWith(transaction, duplicateKeyError(table.namespace, index, keyValue(index, next)));
      }
    }

    const stored = next === null ? null : copy(next);
    transaction.writesOf(table).set(id, stored);
    for (const { index, added, removed } of changed) {
      if (added !== null) transaction.keys.add(qualified(index, added));
      if (removed !== null) transaction.keys.add(qualified(index, removed));
    }
    return stored === null ? null : copy(stored);
  }

  /** Applies a MongoDB update document (mingo's updater) to a copy of `doc`. */
  static applyUpdate(doc: Doc, update: Record<string, unknown>): Doc {
    const next = copy(doc);
    if (Object.keys(update).length > 0) applyUpdate(next, update as Parameters<typeof applyUpdate>[1]);
    return next;
  }

  // ---- commit and abort ----

  commit(transaction: SnapshotTransaction): void {
    if (transaction.state === 'committed') return; // a commit sent again after an unknown result
    this.assertUsable(transaction);
    // Checked again against committed data: an index built while this transaction was open
    // applies to it too (every other conflict was already refused at the write).
    for (const [table, writes] of transaction.writes) {
      for (const index of table.uniqueIndexes()) {
        const written = new Map<string, string[]>();
        for (const [id, doc] of writes) {
          const key = indexKey(index, doc);
          if (key !== null) written.set(key, [...(written.get(key) ?? []), id]);
        }
        for (const [key, ids] of written) {
          const others = [...table.holders(index, key)].filter((holder) => !writes.has(holder));
          if (ids.length + others.length > 1) this.abortWith(transaction, writeConflictError());
        }
      }
    }
    const ts = ++this.clock;
    for (const [table, writes] of transaction.writes) {
      for (const [id, doc] of writes) {
        const previous = this.committedAt(table, id, ts - 1);
        for (const index of table.uniqueIndexes()) {
          const before = indexKey(index, previous);
          const after = indexKey(index, doc);
          if (before !== null) table.holders(index, before).delete(id);
          if (after !== null) table.holders(index, after).add(id);
        }
        const versions = table.versions.get(id) ?? [];
        versions.push({ ts, doc });
        table.versions.set(id, versions);
        table.place(id);
        if (doc) table.remember(id, doc);
      }
    }
    for (const key of transaction.keys) this.keyCommits.set(key, ts);
    transaction.state = 'committed';
    this.open.delete(transaction);
    this.collectGarbage(transaction);
  }

  abort(transaction: SnapshotTransaction): void {
    if (transaction.state !== 'open') return;
    transaction.state = 'aborted';
    transaction.writes.clear();
    transaction.keys.clear();
    this.open.delete(transaction);
  }

  /** Forgets versions no open transaction can read any more. */
  private collectGarbage(committed: SnapshotTransaction): void {
    let oldest = this.clock;
    for (const transaction of this.open) oldest = Math.min(oldest, transaction.snapshot);
    for (const [table, writes] of committed.writes) {
      for (const id of writes.keys()) {
        const versions = table.versions.get(id);
        if (!versions) continue;
        let keepFrom = 0;
        for (let i = 0; i < versions.length; i++) if ((versions[i] as Version).ts <= oldest) keepFrom = i;
        const kept = versions.slice(keepFrom);
        if (kept.length === 1 && kept[0]?.doc === null && kept[0].ts <= oldest) table.versions.delete(id);
        else table.versions.set(id, kept);
      }
    }
    if (++this.commits % 256 === 0) {
      for (const [key, ts] of this.keyCommits) if (ts <= oldest) this.keyCommits.delete(key);
    }
  }

  // ---- indexes ----

  /**
   * Builds an index over committed data. A unique index that committed documents already
   * violate fails with E11000, as the server's build does, and is not created.
   */
  createIndex(table: Table, index: IndexDefinition): string {
    const existing = table.indexes.get(index.name);
    if (existing) {
      if (JSON.stringify(existing) !== JSON.stringify(index)) {
        throw new MongoServerError({
          ok: 0,
          errmsg: `An existing index has the same name as the requested index: ${index.name}`,
          code: 86,
          codeName: 'IndexKeySpecsConflict',
        });
      }
      return index.name;
    }
    const created = { ...index };
    if (created.unique) {
      const keys = new Map<string, Set<string>>();
      for (const doc of this.visible(table, null)) {
        const key = indexKey(created, doc);
        if (key === null) continue;
        if (keys.has(key)) throw duplicateKeyError(table.namespace, created, keyValue(created, doc));
        keys.set(key, new Set([idOf(doc)]));
      }
      table.committedKeys.set(created.name, keys);
      // The build writes every key: a transaction whose snapshot is older conflicts on them.
      for (const key of keys.keys()) this.keyCommits.set(`${table.namespace} ${created.name} ${key}`, this.clock);
    }
    table.indexes.set(created.name, created);
    return created.name;
  }

  dropIndex(table: Table, name: string): void {
    table.committedKeys.delete(name);
    if (!table.indexes.delete(name)) {
      throw new MongoServerError({
        ok: 0,
        errmsg: `index not found with name [${name}]`,
        code: 27,
        codeName: 'IndexNotFound',
      });
    }
  }

  listIndexes(table: Table): Doc[] {
    return [
      { v: 2, key: { _id: 1 }, name: '_id_' },
      ...[...table.indexes.values()].map((index) => ({ v: 2, ...copy(index as unknown as Doc) })),
    ];
  }

  /** The latest committed documents of a table, for assertions. */
  committed(table: Table): Doc[] {
    return this.visible(table, null).map(copy);
  }
}

export const documentId = idOf;
