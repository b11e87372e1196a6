// The lifecycle suite on a MongooseStore over the snapshot-isolation MongoDB stand-in (runs everywhere).
import { ManualClock } from '../../src/testing/index.js';
import { describeLifecycle } from '../engine/lifecycle-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Mapping, filters, compare-and-set, unique keys and the transaction retry are the adapter's and the
// driver's; isolation is MongoDB's snapshot isolation as the stand-in models it. The same suite runs
// on a real replica set in lifecycle.mongo.test.ts.
let clock = new ManualClock('2030-03-01T08:00:00Z');
const fake = createFakeMongo({ clock: { now: () => clock.now() } });

describeLifecycle('lifecycle on MongooseStore over the MongoDB stand-in (snapshot isolation)', async (options = {}) => {
  clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  fake.reset();
  return createFixture({ ...options, clock, store: fake.store });
});
