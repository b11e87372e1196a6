// A small model of how MongoDB's planner can serve a query from an index (ESR: equality, sort, range), to check every query careslot sends against the declared indexes without a server.
import type { IndexSpec } from '../../../src/adapters/mongoose/indexes.js';
import type { RecordedQuery } from './fake-mongo.js';

type Predicate = 'eq' | 'in' | 'range' | 'other';

const RANGE = new Set(['$lt', '$lte', '$gt', '$gte']);

function isOperatorObject(value: unknown): value is Record<string, unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.keys(value).length > 0 &&
    Object.keys(value).every((k) => k.startsWith('$'))
  );
}

/** How the planner can bound an index field from this predicate. */
export function classify(value: unknown): Predicate {
  if (!isOperatorObject(value)) return 'eq';
  const keys = Object.keys(value);
  if ('$eq' in value && keys.every((k) => k === '$eq' || k === '$type')) return 'eq';
  if (keys.length === 1 && Array.isArray(value.$in)) return value.$in.length === 1 ? 'eq' : 'in';
  if (keys.every((k) => RANGE.has(k))) return 'range';
  return 'other';
}

/**
 * Whether the query's predicates prove a document is in the partial index, as the planner
 * requires before it uses one: an equality for an equality, and an explicit `$type` for a
 * `$type` (a plain equality on a string does not prove the type, so it is not enough).
 */
function impliesPartialFilter(filter: Record<string, unknown>, partial: Readonly<Record<string, unknown>>): boolean {
  return Object.entries(partial).every(([field, condition]) => {
    const predicate = filter[field];
    if (isOperatorObject(condition)) {
      const type = (condition as { $type?: unknown }).$type;
      if (Object.keys(condition).length !== 1 || type === undefined) return false;
      return isOperatorObject(predicate) && predicate.$type === type;
    }
    return !isOperatorObject(predicate) && predicate === condition;
  });
}

function orOverIndexKeys(branches: unknown, fields: readonly string[]): boolean {
  return (
    Array.isArray(branches) &&
    branches.every(
      (branch) => branch !== null && typeof branch === 'object' && Object.keys(branch).every((k) => fields.includes(k)),
    )
  );
}

function andOfKeysets(clauses: unknown, fields: readonly string[]): boolean {
  return (
    Array.isArray(clauses) &&
    clauses.every(
      (clause) =>
        clause !== null &&
        typeof clause === 'object' &&
        Object.keys(clause).length === 1 &&
        orOverIndexKeys((clause as { $or?: unknown }).$or, fields),
    )
  );
}

/** Why an index cannot serve the query well, or null when it can. */
export function whyNot(index: Pick<IndexSpec, 'fields' | 'options'>, query: RecordedQuery): string | null {
  const filter = query.filter;
  const fields = Object.keys(index.fields);
  const partial = index.options.partialFilterExpression;
  if (partial && !impliesPartialFilter(filter, partial)) return 'the query does not imply the partial filter';
  const predicates = new Map(Object.entries(filter).map(([field, value]) => [field, classify(value)]));
  const bound = (field: string | undefined) =>
    field !== undefined && (predicates.get(field) === 'eq' || predicates.get(field) === 'in');
  // A unique index bound on every field finds at most one document per value: the rest of the
  // filter is checked on those few (a compare-and-set by _id, a lock by its key).
  if ((index.options.unique || index.options.name === '_id_') && fields.every(bound)) return null;
  // A keyset page resumes in the sort's order: a range on its leading field (createdAt, startTime)
  // bounds the scan, and an `$or` over the index's own keys drops the ties on the index keys.
  const [keyset] = Object.keys(query.sort ?? {});
  const keysetBounded = keyset !== undefined && predicates.get(keyset) === 'range';
  for (const field of predicates.keys()) {
    // A keyset page's `$or` over the index's own keys ((createdAt, _id), (startTime, _id)): the
    // range beside it bounds the scan, and the `$or` is checked on the index keys of what that range reads.
    if (field === '$or' && orOverIndexKeys(filter.$or, fields) && keysetBounded) continue;
    // Both ends of a keyset window (after and before): one such `$or` per end, under `$and`.
    if (field === '$and' && andOfKeysets(filter.$and, fields) && keysetBounded) continue;
    if (field.startsWith('$')) return `top-level ${field} is not modelled`;
    const fixedByPartial = partial !== undefined && field in partial;
    if (!fields.includes(field) && !fixedByPartial && !(field === '_id' && predicates.get(field) === 'other')) {
      return `${field} is not in the index (it would be filtered after fetching every candidate)`;
    }
  }
  // Equality prefix (a list of values is one equality per value, merged in order).
  let i = 0;
  while (i < fields.length && bound(fields[i])) i++;
  // The sort must come next, in order (a sort on a field fixed by an equality costs nothing).
  const sort = Object.entries(query.sort ?? {}).filter(([field]) => predicates.get(field) !== 'eq');
  if (sort.length > 0) {
    const reversed = index.fields[sort[0]?.[0] as string] === -(sort[0]?.[1] ?? 1);
    for (const [field, direction] of sort) {
      if (fields[i] !== field) return `the sort on ${field} is not read from the index in order (a blocking SORT)`;
      if ((index.fields[field] === direction) === reversed) return `the sort on ${field} runs against the index`;
      i++;
    }
  }
  const first = fields[0] as string;
  if (!predicates.has(first) && sort.length === 0)
    return `nothing bounds the leading field ${first} (a full index scan)`;
  return null;
}

/** The declared indexes (plus the `_id` index every collection has) that serve the query. */
export function supportingIndexes(
  specs: readonly Pick<IndexSpec, 'fields' | 'options'>[],
  query: RecordedQuery,
): string[] {
  const all = [{ fields: { _id: 1 as const }, options: { name: '_id_' } }, ...specs];
  return all.filter((spec) => whyNot(spec, query) === null).map((spec) => spec.options.name);
}
