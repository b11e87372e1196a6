// Records the reads a MongooseStore sends to its collections, on any server, so each can be explained.
import { MODEL_KEYS } from '../../../src/adapters/mongoose/documents.js';
import type { MongooseStore } from '../../../src/adapters/mongoose/index.js';
import type { RecordedQuery } from './fake-mongo.js';

type Options = { session?: unknown; sort?: Record<string, 1 | -1>; limit?: number; batchSize?: number };

/** Wraps the driver collection methods under the store's models; returns the growing log. */
export function recordQueries(store: MongooseStore): RecordedQuery[] {
  const log: RecordedQuery[] = [];
  for (const key of MODEL_KEYS) {
    const collection = store.models[key].collection as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['find', 'findOne', 'countDocuments', 'aggregate'] as const) {
      const original = collection[method]?.bind(collection);
      if (!original) continue;
      collection[method] = (first: unknown, options?: unknown) => {
        const o = (options ?? {}) as Options;
        const pipeline = method === 'aggregate' ? (first as Record<string, unknown>[]) : undefined;
        const filter = (pipeline ? (pipeline[0]?.$match ?? {}) : (first ?? {})) as Record<string, unknown>;
        log.push({
          collection: key,
          method,
          filter,
          ...(o.sort ? { sort: o.sort } : {}),
          // findOne is a find with limit 1 on the wire.
          ...(method === 'findOne' ? { limit: 1 } : o.limit === undefined ? {} : { limit: o.limit }),
          ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }),
          ...(pipeline ? { pipeline: pipeline.slice(1) } : {}),
          inTransaction: o.session != null,
        });
        return original(first, options);
      };
    }
  }
  return log;
}

const INDEX_STAGES = new Set(['IXSCAN', 'COUNT_SCAN', 'IDHACK', 'EXPRESS_IXSCAN', 'EXPRESS_IDHACK', 'DISTINCT_SCAN']);

/** Every `stage` named in the winning plans of an explain() answer (find or aggregate, classic or SBE). */
export function winningStages(explained: unknown): string[] {
  const stages: string[] = [];
  const walk = (value: unknown, inPlan: boolean): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'rejectedPlans') continue;
      if (inPlan && key === 'stage' && typeof child === 'string') stages.push(child);
      walk(child, inPlan || key === 'winningPlan');
    }
  };
  walk(explained, false);
  return stages;
}

/** Null when the winning plan reads an index and sorts nothing in memory; else what is wrong. */
export function planProblem(explained: unknown): string | null {
  const stages = winningStages(explained);
  if (stages.length === 0) return 'no winning plan in the explain output';
  if (stages.includes('COLLSCAN')) return `a collection scan (${stages.join(' > ')})`;
  if (stages.includes('SORT')) return `a blocking SORT (${stages.join(' > ')})`;
  if (!stages.some((stage) => INDEX_STAGES.has(stage))) return `no index scan (${stages.join(' > ')})`;
  return null;
}
