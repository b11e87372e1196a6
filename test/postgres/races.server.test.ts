// The race suite on PostgresStore over a real PostgreSQL server: concurrent transactions on real connections.
import { afterAll } from 'vitest';
import { ManualClock } from '../../src/testing/index.js';
import { describeRaces } from '../engine/race-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { reuseSchemasBetweenTests, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL server race suite (test/postgres/races.server.test.ts)');

if (serverAvailable) {
  const target = await serverTarget();
  reuseSchemasBetweenTests([target]);
  afterAll(() => target.close());
  describeRaces('races on PostgresStore (PostgreSQL server)', async (options = {}) => {
    const clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
    return createFixture({ ...options, clock, store: await target.store({ clock }) });
  });
} else {
  skippedWithoutServer('race suite');
}
