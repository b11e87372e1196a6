// The engine suites, the lifecycle suite and bad input, with every fixture on PostgresStore over PGlite (the load test: load.pglite.test.ts).
import { afterAll } from 'vitest';
import { importEngineSuites } from '../engine/engine-suites.js';
import { useStoreForFixtures } from '../support/engine-fixture.js';
import { pgliteTarget, reuseSchemasBetweenTests } from './support/targets.js';

const target = await pgliteTarget();
reuseSchemasBetweenTests([target]);
afterAll(() => target.close());
// Each fixture gets an empty schema of its own in one in-memory PGlite, its stamps following that
// fixture's clock; the invariant checker runs over it after every test.
useStoreForFixtures((clock) => target.storeNow({ clock }), 'PostgresStore (PGlite)');

await importEngineSuites({ except: ['load'] });
