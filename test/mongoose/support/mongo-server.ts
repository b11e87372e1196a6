// Starts a throwaway MongoDB replica set for the tests that need a real server, or says why they skip.
import { existsSync } from 'node:fs';
import { MongoMemoryReplSet, MongoMemoryServer } from 'mongodb-memory-server';
import mongoose from 'mongoose';
import { MODEL_KEYS } from '../../../src/adapters/mongoose/documents.js';
import type { MongooseStore } from '../../../src/adapters/mongoose/index.js';
import { mongodAvailability } from '../../support/services.js';

export const mongod = mongodAvailability();

/** One line, once per test file, saying which suite skips and how to run it. */
export function announceSkip(suite: string): void {
  if (!mongod.available) {
    console.log(`careslot: ${suite} skipped: ${mongod.detail}; run: MONGOMS_SYSTEM_BINARY=/path/to/mongod npm test`);
  }
}

// MONGOMS_SYSTEM_BINARY is read by mongodb-memory-server itself too; a mongod found on the
// PATH is passed explicitly, so that no download is attempted.
function binary(): { binary?: { systemBinary: string } } {
  const path = process.env.MONGOMS_SYSTEM_BINARY || mongod.detail;
  return mongod.available && existsSync(path) ? { binary: { systemBinary: path } } : {};
}

export function startReplSet(): Promise<MongoMemoryReplSet> {
  return MongoMemoryReplSet.create({ ...binary(), replSet: { count: 1, storageEngine: 'wiredTiger' } });
}

export function startStandalone(): Promise<MongoMemoryServer> {
  return MongoMemoryServer.create({ ...binary() });
}

/** A connection of the kind a host owns: made with createConnection, never the global default. */
export function openConnection(uri: string, dbName: string): Promise<mongoose.Connection> {
  return mongoose.createConnection(uri, { dbName }).asPromise();
}

/**
 * Empties careslot's collections, keeping their indexes and the migration markers (an empty
 * ledger is as backfilled as `createIndexes()` left it, so balances read the running totals).
 */
export async function clearCollections(store: MongooseStore): Promise<void> {
  const emptied = MODEL_KEYS.filter((key) => key !== 'migration');
  await Promise.all(emptied.map((key) => store.models[key].collection.deleteMany({})));
}

/** A replica set shared by the suites of one test file, started on first use. */
export function sharedReplSet(): { uri(): Promise<string>; stop(): Promise<void> } {
  let server: Promise<MongoMemoryReplSet> | null = null;
  return {
    uri: async () => {
      server ??= startReplSet();
      return (await server).getUri();
    },
    stop: async () => {
      if (server) await (await server).stop();
      server = null;
    },
  };
}
