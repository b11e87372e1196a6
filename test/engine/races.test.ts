// The race suite on the memory store in its default mode (serializable: one transaction at a time).
import { createFixture } from '../support/engine-fixture.js';
import { describeRaces } from './race-suite.js';

describeRaces('races on MemoryStore (serializable)', async (options) => createFixture(options));
