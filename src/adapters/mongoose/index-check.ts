// Which of careslot's indexes a deployment lacks, and the STORE_ERROR messages that say how to build them.
import { BookingError } from '../../domain/errors.js';
import { MODEL_KEYS, type MongooseStoreModelKey } from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import { ACTIVE_BOOKING_INDEX, type IndexSpec, MONGOOSE_STORE_INDEXES } from './indexes.js';
import { activeFlagRepairs } from './queries.js';

/** The collection calls the checks need (mongoose's collection, the driver's, or a test double). */
export interface IndexedCollection {
  readonly collectionName: string;
  listIndexes(): { toArray(): Promise<Record<string, unknown>[]> };
  createIndex(fields: Record<string, 1 | -1>, options: Record<string, unknown>): Promise<unknown>;
  dropIndex(name: string): Promise<unknown>;
  findOne(filter: Record<string, unknown>, options: Record<string, unknown>): Promise<unknown>;
}

export type IndexedCollections = Record<MongooseStoreModelKey, IndexedCollection>;

export interface IndexRef {
  model: MongooseStoreModelKey;
  collection: string;
  index: string;
  purpose: string;
}

/** 26 NamespaceNotFound: the collection does not exist yet, so it has no index at all. */
function isNamespaceNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 26;
}

async function listIndexes(collection: IndexedCollection): Promise<Record<string, unknown>[]> {
  try {
    return await collection.listIndexes().toArray();
  } catch (error) {
    if (isNamespaceNotFound(error)) return [];
    throw error;
  }
}

const canonical = (value: unknown) => JSON.stringify(value ?? null);

/** Present under its name, or as the same definition under another name (a host that declared it itself). */
function isPresent(spec: IndexSpec, existing: readonly Record<string, unknown>[]): boolean {
  return existing.some(
    (index) =>
      index.name === spec.options.name ||
      (canonical(index.key) === canonical(spec.fields) &&
        Boolean(index.unique) === Boolean(spec.options.unique) &&
        canonical(index.partialFilterExpression) === canonical(spec.options.partialFilterExpression)),
  );
}

/** Lists each collection's indexes once and returns careslot's that are missing, unique ones apart. */
export async function findMissingIndexes(
  collections: IndexedCollections,
): Promise<{ unique: IndexRef[]; query: IndexRef[] }> {
  const unique: IndexRef[] = [];
  const query: IndexRef[] = [];
  for (const model of MODEL_KEYS) {
    const collection = collections[model];
    const existing = await listIndexes(collection);
    for (const spec of MONGOOSE_STORE_INDEXES[model]) {
      if (isPresent(spec, existing)) continue;
      const ref = { model, collection: collection.collectionName, index: spec.options.name, purpose: spec.purpose };
      (spec.options.unique ? unique : query).push(ref);
    }
  }
  return { unique, query };
}

/**
 * Whether bookings written before careslot (or by other code) have an `active` flag that does
 * not follow their status: the one-active-booking index does not see them, or refuses to build.
 * Two small queries, run only when an index is missing or failed to build.
 */
export async function hasLegacyActiveFlags(bookings: IndexedCollection): Promise<boolean> {
  for (const repair of activeFlagRepairs()) {
    if ((await bookings.findOne(repair.filter, { projection: { _id: 1 } })) !== null) return true;
  }
  return false;
}

const BACKFILL_HINT =
  'bookings written before careslot have an active flag that does not follow their status: ' +
  'run await store.backfillActiveFlags() first';

const describe = (ref: IndexRef) => `${ref.collection}.${ref.index} (${ref.purpose})`;

/** ready()'s refusal: the invariants need these unique indexes, and nothing builds them by itself. */
export function missingIndexesError(missing: readonly IndexRef[], legacyActiveFlags: boolean): BookingError {
  const legacy = legacyActiveFlags && missing.some((ref) => ref.index === ACTIVE_BOOKING_INDEX);
  return new BookingError(
    'STORE_ERROR',
    `MongooseStore: careslot's invariants rely on unique indexes this database does not have: ${missing.map(describe).join(', ')}. ` +
      `${legacy ? `${BACKFILL_HINT}, then ` : ''}run await store.createIndexes() (once per deploy; it builds only what is missing and drops nothing)`,
    { details: { missingIndexes: missing.map((ref) => ({ ...ref })), legacyActiveFlags: legacy } },
  );
}

/** The warning for missing query indexes: everything works, but those queries scan. */
export function missingQueryIndexesWarning(missing: readonly IndexRef[]): string {
  return (
    `MongooseStore: query indexes are missing, so these queries scan their collection: ${missing.map(describe).join(', ')}; ` +
    'run await store.createIndexes()'
  );
}

export interface IndexFailure extends IndexRef {
  code: unknown;
  message: string;
}

function failureHint(failure: IndexFailure, error: unknown, legacyActiveFlags: boolean): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (isDuplicateKeyError(error) && failure.index === ACTIVE_BOOKING_INDEX) {
    return legacyActiveFlags
      ? `${BACKFILL_HINT}, then run createIndexes() again`
      : 'two live bookings (pending or scheduled) hold one slot: cancel all but one, then run createIndexes() again';
  }
  if (isDuplicateKeyError(error))
    return 'documents already share a key of this unique index: remove the duplicates, then run createIndexes() again';
  if (code === 85 || code === 86) {
    return `an index with this name or these fields but another definition exists: drop it (collection.dropIndex('${failure.index}')), then run createIndexes() again`;
  }
  return 'fix the cause and run createIndexes() again (it builds only what is still missing)';
}

/** createIndexes()'s report: every index that failed, each with what to do, and which were built. */
export function createIndexesError(
  failures: readonly { ref: IndexRef; error: unknown }[],
  built: number,
  legacyActiveFlags: boolean,
): BookingError {
  const listed = failures.map(({ ref, error }) => {
    const failure: IndexFailure = {
      ...ref,
      code: (error as { code?: unknown } | null)?.code,
      message: error instanceof Error ? error.message : String(error),
    };
    return { failure, text: `${describe(ref)}: ${failure.message}; ${failureHint(failure, error, legacyActiveFlags)}` };
  });
  const [first] = failures;
  return new BookingError(
    'STORE_ERROR',
    `MongooseStore: createIndexes built ${built} index${built === 1 ? '' : 'es'}, ${failures.length} failed: ${listed.map((l) => l.text).join(' | ')}`,
    {
      details: { failures: listed.map((l) => l.failure), built },
      cause:
        failures.length === 1
          ? first?.error
          : new AggregateError(
              failures.map((f) => f.error),
              'createIndexes failures',
            ),
    },
  );
}
