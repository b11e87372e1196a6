// The engine suites, the lifecycle suite, bad input and the load test, with every fixture on PostgresStore over a real PostgreSQL server.
import { afterAll } from 'vitest';
import { importEngineSuites } from '../engine/engine-suites.js';
import { useStoreForFixtures } from '../support/engine-fixture.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { reuseSchemasBetweenTests, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL server engine suites (test/postgres/engine-suites.server.test.ts)');

if (serverAvailable) {
  const target = await serverTarget();
  reuseSchemasBetweenTests([target]);
  afterAll(() => target.close());
  // Each fixture gets an empty schema of its own, its stamps following that fixture's clock; the
  // invariant checker runs over it after every test.
  useStoreForFixtures((clock) => target.storeNow({ clock }), 'PostgresStore (PostgreSQL server)');

  await importEngineSuites();
} else {
  skippedWithoutServer('engine suites');
}
