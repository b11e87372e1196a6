// Vitest config for `npm run mutation` (Stryker): only the fast, service-free suites that exercise src/domain and src/engine.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  // The same `careslot` path aliases as the main config, so tests import the package by name.
  resolve: base.resolve,
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/engine/**/*.test.ts',
      'test/memory/**/*.test.ts',
      'test/reliability/bad-input.test.ts',
      'test/webhook/**/*.test.ts',
      'test/architecture/**/*.test.ts',
    ],
    // A rerun of test/engine and the 10,000-operation load test on the snapshot store: a mutant it
    // could kill, test/engine kills on the serializable store, at many times the cost per mutant.
    exclude: ['test/memory/engine-suites.snapshot.test.ts'],
    // No globalSetup: these suites start no services, and a mutant run must not probe for any.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A test file that fails to load counts as a failed test (see the reporter for why).
    reporters: ['default', './test/mutation/unloadable-file-reporter.ts'],
  },
});
