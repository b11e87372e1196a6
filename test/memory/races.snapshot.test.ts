// The race suite on the memory store in snapshot-isolation mode: each transaction reads its start snapshot, the first committer wins, the loser runs again.
import { MemoryStore } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { describeRaces } from '../engine/race-suite.js';
import { createFixture } from '../support/engine-fixture.js';

describeRaces('races on MemoryStore (snapshot isolation)', async (options = {}) => {
  const clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  return createFixture({ ...options, clock, store: new MemoryStore({ clock, isolation: 'snapshot' }) });
});
