// The engine suites and the load test again, with every fixture on a snapshot-isolated MemoryStore.
import { MemoryStore } from '../../src/index.js';
import { importEngineSuites } from '../engine/engine-suites.js';
import { useStoreForFixtures } from '../support/engine-fixture.js';

// Each transaction reads its start snapshot plus its own writes and the first committer wins, as in
// MongoDB: a use case whose decision rests on rows it does not write must lock (per patient, per
// doctor) or this run catches it. Every fixture's invariants are checked after each test.
useStoreForFixtures(
  (clock, { keepDeliveredOutbox }) => new MemoryStore({ clock, isolation: 'snapshot', keepDeliveredOutbox }),
  'MemoryStore (isolation: snapshot)',
);

await importEngineSuites();
