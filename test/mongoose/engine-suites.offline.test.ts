// The engine's own test files and the load test, run again with every fixture on a MongooseStore over the snapshot-isolation MongoDB stand-in.

import { importEngineSuites } from '../engine/engine-suites.js';
import { useStoreForFixtures } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Each fixture gets a fresh stand-in whose stamps follow that fixture's clock. Mapping, filters,
// compare-and-set, unique keys and the transaction path (connection.transaction and the driver's
// withTransaction retrying labelled WriteConflicts) are the adapter's and the driver's; isolation
// is MongoDB's snapshot isolation as the stand-in models it: a use case that decides on documents
// it does not write must take a lock, or these runs catch it.
useStoreForFixtures(
  (clock) => createFakeMongo({ clock }).store,
  'MongooseStore on the MongoDB stand-in (snapshot isolation)',
);

await importEngineSuites({ except: ['lifecycle'] });
