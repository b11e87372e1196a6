// Against a real server: explain() of every query the engine's workload sends uses an index (IXSCAN) and never sorts in memory (no SORT stage).
import type mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongooseStore } from '../../src/adapters/mongoose/index.js';
import { runQueryWorkload, workloadFixture } from '../support/query-workload.js';
import type { RecordedQuery } from './support/fake-mongo.js';
import { announceSkip, mongod, openConnection, sharedReplSet } from './support/mongo-server.js';
import { planProblem, recordQueries } from './support/query-log.js';

announceSkip('MongoDB query plan tests (test/mongoose/query-plans.mongo.test.ts)');
const replSet = sharedReplSet();

describe.skipIf(!mongod.available)('query plans on a real server', () => {
  let connection: mongoose.Connection;
  let store: MongooseStore;
  let queries: RecordedQuery[];

  beforeAll(async () => {
    connection = await openConnection(await replSet.uri(), 'careslot_plans');
    store = new MongooseStore({ connection });
    await store.createIndexes();
    queries = recordQueries(store);
    await runQueryWorkload(workloadFixture(store), store);
  });
  afterAll(async () => {
    await connection?.close();
    await replSet.stop();
  });

  it('sent the queries the sweep, listings, wallet and overlap check are made of', () => {
    const fields = queries.map((q) => `${q.collection}.${q.method}:${Object.keys(q.filter).sort().join(',')}`);
    expect(fields).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^schedule\.find:.*createdBy.*endTime.*startTime.*status/),
        expect.stringMatching(/^booking\.find:holdExpiresAt,status$/),
        expect.stringMatching(/^booking\.find:.*slotStart,status$/),
        expect.stringMatching(/^payment\.find:refunds\.status$/),
        expect.stringMatching(/^ledger\.aggregate:doctorId$/),
        expect.stringMatching(/^walletBalance\.find:doctorId$/),
        expect.stringMatching(/^schedule\.find:\$or,.*startTime/),
        expect.stringMatching(/^availability\.find:doctorId,effectiveFrom,effectiveUntil$/),
        expect.stringMatching(/^timeOff\.find:doctorId,end,start$/),
      ]),
    );
  });

  it('plans every one of them with an index scan and no blocking SORT', async () => {
    const db = connection.db as mongoose.mongo.Db;
    const seen = new Set<string>();
    const bad: { query: RecordedQuery; problem: string }[] = [];
    for (const query of queries) {
      const shape = JSON.stringify([query.collection, query.method, Object.keys(query.filter), query.sort]);
      if (seen.has(shape)) continue;
      seen.add(shape);
      const collection = db.collection(store.models[query.collection].collection.collectionName);
      const explained =
        query.method === 'aggregate'
          ? await collection.aggregate([{ $match: query.filter }, ...(query.pipeline ?? [])]).explain('queryPlanner')
          : query.method === 'countDocuments'
            ? await collection
                .aggregate([{ $match: query.filter }, { $group: { _id: 1, n: { $sum: 1 } } }])
                .explain('queryPlanner')
            : await collection
                .find(query.filter, {
                  ...(query.sort ? { sort: query.sort } : {}),
                  limit: query.limit ?? 0,
                })
                .explain('queryPlanner');
      const problem = planProblem(explained);
      if (problem) bad.push({ query, problem });
    }
    expect(seen.size).toBeGreaterThan(15);
    expect(bad).toEqual([]);
  });
});
