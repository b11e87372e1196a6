// The lifecycle suite on the fixtures' store (MemoryStore here; the runner files swap it).
import { createFixture, fixtureStoreName } from '../support/engine-fixture.js';
import { describeLifecycle } from './lifecycle-suite.js';

describeLifecycle(`lifecycle on ${fixtureStoreName()}`, async (options) => createFixture(options));
