// The race suite through MongooseStore's own operations on the in-memory MongoDB stand-in (snapshot isolation, runs everywhere).
import { ManualClock } from '../../src/testing/index.js';
import { describeRaces } from '../engine/race-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Mapping, compare-and-set, unique keys and the transaction retry are the adapter's; isolation is the stand-in's.
describeRaces('races on MongooseOperations over the MongoDB stand-in', async (options = {}) => {
  const clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  return createFixture({ ...options, clock, store: createFakeMongo({ clock }).store });
});
