// The engine's own test files, run again with every fixture on MongooseStore's operations over the MongoDB stand-in.
import { useStoreForFixtures } from '../support/engine-fixture.js';
import { createFakeMongo } from './support/fake-mongo.js';

// Each fixture gets a fresh stand-in whose stamps follow that fixture's clock. Mapping, filters,
// compare-and-set and unique keys are the adapter's; transaction isolation is the stand-in's.
useStoreForFixtures((clock) => createFakeMongo({ clock }).store);

await import('../engine/booking-flow.test.js');
await import('../engine/payments.test.js');
await import('../engine/slots.test.js');
await import('../engine/resilience.test.js');
await import('../reliability/bad-input.test.js');
