// The lifecycle suite on the memory store.
import { createFixture } from '../support/engine-fixture.js';
import { describeLifecycle } from './lifecycle-suite.js';

describeLifecycle('lifecycle on MemoryStore', async (options) => createFixture(options));
