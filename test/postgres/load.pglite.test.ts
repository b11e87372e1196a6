// The reliability load test (10,000 mixed operations) on PostgresStore over PGlite: a file of its own, so it runs beside the other suites.
import { afterAll } from 'vitest';
import { useStoreForFixtures } from '../support/engine-fixture.js';
import { pgliteTarget, reuseSchemasBetweenTests } from './support/targets.js';

const target = await pgliteTarget();
reuseSchemasBetweenTests([target]);
afterAll(() => target.close());
useStoreForFixtures((clock) => target.storeNow({ clock }), 'PostgresStore (PGlite)');

await import('../reliability/load.test.js');
