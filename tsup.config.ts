import { defineConfig } from 'tsup';

// One entry per public subpath; adapters stay separate so hosts load only what they use.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    mongoose: 'src/adapters/mongoose/index.ts',
    postgres: 'src/adapters/postgres/index.ts',
    stripe: 'src/adapters/stripe/index.ts',
    bullmq: 'src/adapters/bullmq/index.ts',
    express: 'src/http/express.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: true,
  treeshake: true,
  external: ['mongoose', 'pg', '@electric-sql/pglite', 'stripe', 'bullmq', 'ioredis', 'express'],
});
