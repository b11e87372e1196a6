// The race suite on PostgresStore over a real PostgreSQL server: concurrent transactions on real connections.
import { afterAll } from 'vitest';
import { ManualClock } from '../../src/testing/index.js';
import { describeRaces } from '../engine/race-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { reuseSchemasBetweenTests, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL server race suite (test/postgres/races.server.test.ts)');

if (serverAvailable) {
  // The suite starts each race's calls in one tick and expects every call's first read (what it
  // saw) to come before any call's commit: true in one process, not on a server, where a
  // CPU-starved backend may serve a caller's first read after another caller committed (then
  // reschedule rightly moves the booking on from where it went, and the reschedule race counts
  // a chain of moves). Single reads therefore go in order through one connection, transactions
  // through the pool: every race still runs its transactions concurrently on real connections.
  const target = await serverTarget({ serialReads: true });
  reuseSchemasBetweenTests([target]);
  afterAll(() => target.close());
  describeRaces('races on PostgresStore (PostgreSQL server)', async (options = {}) => {
    const clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
    return createFixture({ ...options, clock, store: await target.store({ clock }) });
  });
} else {
  skippedWithoutServer('race suite');
}
