// The lifecycle suite through MongooseStore's own operations on the in-memory MongoDB stand-in (runs everywhere).
import { ManualClock } from '../../src/testing/index.js';
import { describeLifecycle } from '../engine/lifecycle-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Mapping, filters, compare-and-set and unique keys are the adapter's; transaction isolation is
// the stand-in's. The same suite runs on a real replica set in lifecycle.mongo.test.ts.
let clock = new ManualClock('2030-03-01T08:00:00Z');
const fake = createFakeMongo({ clock: { now: () => clock.now() } });

describeLifecycle('lifecycle on MongooseOperations over the MongoDB stand-in', async (options = {}) => {
  clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  fake.reset();
  return createFixture({ ...options, clock, store: fake.store });
});
