// The lifecycle suite (cancellation, refunds, rescheduling, quotas) on MongooseStore over a real replica set.
import type mongoose from 'mongoose';
import { afterAll, beforeAll, describe } from 'vitest';
import { MongooseStore } from '../../src/adapters/mongoose/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { describeLifecycle } from '../engine/lifecycle-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { announceSkip, clearCollections, mongod, openConnection, sharedReplSet } from './support/mongo-server.js';

announceSkip('MongoDB lifecycle suite (test/mongoose/lifecycle.mongo.test.ts)');
const replSet = sharedReplSet();

describe.skipIf(!mongod.available)('MongooseStore', () => {
  let connection: mongoose.Connection;
  let store: MongooseStore;
  // One store for the file; its timestamps follow the clock of the test running now.
  let clock = new ManualClock('2030-03-01T08:00:00Z');

  beforeAll(async () => {
    connection = await openConnection(await replSet.uri(), 'careslot_lifecycle');
    store = new MongooseStore({ connection, clock: { now: () => clock.now() } });
    await store.ready();
    await store.createIndexes();
  }, 120_000);
  afterAll(async () => {
    await connection?.close();
    await replSet.stop();
  });

  describeLifecycle('lifecycle on MongooseStore', async (options = {}) => {
    clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
    await clearCollections(store);
    return createFixture({ ...options, clock, store });
  });
});
