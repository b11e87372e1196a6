// The store conformance suite on a snapshot-isolated MemoryStore (the isolation MongoDB transactions run under).
import { MemoryStore } from '../../src/index.js';
import { describeStoreConformance } from '../conformance/store-conformance.js';

describeStoreConformance('MemoryStore (isolation: snapshot)', {
  fresh: async () => new MemoryStore({ isolation: 'snapshot' }),
});
