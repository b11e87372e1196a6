import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  // The examples import the package by name, as a host would; tests run them against the sources.
  resolve: {
    alias: [
      { find: /^careslot$/, replacement: src('index.ts') },
      { find: /^careslot\/testing$/, replacement: src('testing/index.ts') },
      { find: /^careslot\/mongoose$/, replacement: src('adapters/mongoose/index.ts') },
      { find: /^careslot\/postgres$/, replacement: src('adapters/postgres/index.ts') },
      { find: /^careslot\/stripe$/, replacement: src('adapters/stripe/index.ts') },
      { find: /^careslot\/bullmq$/, replacement: src('adapters/bullmq/index.ts') },
      { find: /^careslot\/express$/, replacement: src('http/express.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
