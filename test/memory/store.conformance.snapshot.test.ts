// The store conformance suite on a snapshot-isolated MemoryStore (the isolation MongoDB transactions run under).
import { MemoryStore } from '../../src/index.js';
import { describeOutboxConformance } from '../conformance/outbox-conformance.js';
import { describeStoreConformance } from '../conformance/store-conformance.js';

describeStoreConformance('MemoryStore (isolation: snapshot)', {
  fresh: async () => new MemoryStore({ isolation: 'snapshot' }),
  dropsDelivered: true,
});

// The outbox as the database stores keep it: delivered records stay for the retention clean-up.
describeOutboxConformance('MemoryStore (isolation: snapshot, keepDeliveredOutbox: true)', {
  fresh: async () => new MemoryStore({ isolation: 'snapshot', keepDeliveredOutbox: true }),
});
