// The race suite on PostgresStore over PGlite (one connection: its transactions queue, so this checks the SQL, not the isolation).
import { afterAll } from 'vitest';
import { ManualClock } from '../../src/testing/index.js';
import { describeRaces } from '../engine/race-suite.js';
import { createFixture } from '../support/engine-fixture.js';
import { pgliteTarget, reuseSchemasBetweenTests } from './support/targets.js';

const target = await pgliteTarget();
reuseSchemasBetweenTests([target]);
afterAll(() => target.close());
describeRaces('races on PostgresStore (PGlite)', async (options = {}) => {
  const clock = new ManualClock(options.start ?? '2030-03-01T08:00:00Z');
  return createFixture({ ...options, clock, store: await target.store({ clock }) });
});
