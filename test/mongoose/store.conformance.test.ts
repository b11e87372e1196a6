// The store conformance suite on a real MongoDB replica set (skips, saying why, where no mongod can be had).
import type mongoose from 'mongoose';
import { afterAll, describe } from 'vitest';
import { MongooseStore } from '../../src/adapters/mongoose/index.js';
import { describeStoreConformance } from '../conformance/store-conformance.js';
import { announceSkip, clearCollections, mongod, openConnection, sharedReplSet } from './support/mongo-server.js';

announceSkip('MongoDB store conformance (test/mongoose/store.conformance.test.ts)');
const replSet = sharedReplSet();

describe.skipIf(!mongod.available)('MongooseStore on a MongoDB replica set', () => {
  afterAll(() => replSet.stop());

  for (const hostIds of ['objectId', 'string'] as const) {
    let connection: mongoose.Connection | null = null;
    let store: MongooseStore | null = null;
    describeStoreConformance(`MongooseStore (hostIds: ${hostIds})`, {
      fresh: async () => {
        if (!store) {
          connection = await openConnection(await replSet.uri(), `careslot_conformance_${hostIds}`);
          store = new MongooseStore({ connection, hostIds });
          await store.createIndexes();
        }
        await clearCollections(store);
        return store;
      },
      close: async () => {
        await connection?.close();
      },
    });
  }
});
