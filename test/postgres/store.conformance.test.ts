// The store conformance suite on PostgresStore: a real PostgreSQL server started here, and PGlite.
import { afterAll } from 'vitest';
import { describeStoreConformance } from '../conformance/store-conformance.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import {
  pgliteTarget,
  reuseSchemasBetweenTests,
  type StoreTarget,
  serverAvailable,
  serverTarget,
  skippedWithoutServer,
} from './support/targets.js';

announcePostgresSkip('PostgreSQL server store conformance (test/postgres/store.conformance.test.ts)');

const targets: StoreTarget[] = [await pgliteTarget()];
if (serverAvailable) targets.unshift(await serverTarget());
reuseSchemasBetweenTests(targets);
afterAll(async () => {
  for (const t of targets) await t.close();
});

for (const t of targets) describeStoreConformance(`PostgresStore on ${t.name}`, { fresh: () => t.store() });
if (!serverAvailable) skippedWithoutServer('store conformance');
