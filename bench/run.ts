// `npm run bench [-- --quick] [-- --full] [-- --only <name>]`: runs the benchmarks, prints one table, writes bench/results.json, exits 1 if a check fails or a goal is missed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { redisAvailability } from '../test/support/services.js';
import { availability } from './availability.js';
import { contention } from './contention.js';
import { type BenchContext, type Benchmark, createStores } from './fixtures.js';
import { jobs } from './jobs.js';
import { memory } from './memory.js';
import { outbox } from './outbox.js';
import { scale } from './scale.js';
import { type BenchReport, failedChecks, renderTable } from './table.js';
import { throughput } from './throughput.js';
import { webhooks } from './webhooks.js';

const BENCHMARKS: readonly Benchmark[] = [contention, throughput, webhooks, jobs, memory, outbox, availability, scale];
const RESULTS = new URL('./results.json', import.meta.url);

const USAGE = `Usage: npm run bench -- [--quick] [--full] [--only <name>[,<name>...]]

  --quick        smaller counts (about 1/10; scale: 1k and 10k bookings, its goal on 10k/1k)
  --full         the largest sizes too (scale: 1,000,000 bookings; give node a bigger heap:
                 NODE_OPTIONS=--max-old-space-size=16384)
  --only <name>  run only these: ${BENCHMARKS.map((b) => b.name).join(', ')}

MongoDB runs where a mongod binary is available (MONGOMS_SYSTEM_BINARY=/path/to/mongod);
the jobs benchmark needs redis-server on the PATH (or REDIS_SERVER_BIN).`;

function quiet(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function machine(mongoVersion: string | null) {
  const cpus = os.cpus();
  const redis = redisAvailability();
  const redisVersion = redis.available ? quiet(redis.detail, ['--version'])?.match(/v=(\S+)/)?.[1] : undefined;
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: redisVersion ?? null,
    mongodb: mongoVersion,
    commit: quiet('git', ['rev-parse', '--short', 'HEAD']),
    // `npm run bench` measures the built package (what hosts run); `bench:src` the TypeScript sources through tsx.
    code: process.env.CARESLOT_BENCH_TARGET === 'dist' ? 'built package (dist)' : 'sources through tsx',
    date: new Date().toISOString(),
  };
}

/**
 * Biome checks every JSON file under bench/ (its config does not read .gitignore), so the
 * results are written in its format: `npm test` after `npm run bench` stays clean.
 */
function formatResults(): void {
  try {
    const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
    execFileSync(process.execPath, [biome, 'format', '--write', fileURLToPath(RESULTS)], { stdio: 'ignore' });
  } catch {
    // Formatting is a courtesy to the linter; the results are written either way.
  }
}

function selected(only: string[] | undefined): readonly Benchmark[] {
  if (!only || only.length === 0) return BENCHMARKS;
  const names = only
    .flatMap((o) => o.split(','))
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`Unknown benchmark: ${unknown.join(', ')}\n\n${USAGE}`);
    process.exit(2);
  }
  return BENCHMARKS.filter((b) => names.includes(b.name));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const benchmarks = selected(values.only);
  const stores = createStores();
  const ctx: BenchContext = {
    quick: values.quick,
    full: values.full,
    stores,
    log: (message) => console.error(`  … ${message}`),
  };
  const began = performance.now();
  const reports: BenchReport[] = [];
  const seconds: Record<string, number> = {};
  try {
    for (const benchmark of benchmarks) {
      console.error(`▶ ${benchmark.name}${ctx.quick ? ' (quick)' : ''}`);
      const started = performance.now();
      try {
        reports.push(...(await benchmark.run(ctx)));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        console.error(error);
        reports.push({ benchmark: benchmark.name, store: '', params: {}, metrics: [], checks: [], error: message });
      }
      seconds[benchmark.name] = Math.round((performance.now() - started) / 100) / 10;
      console.error(`  done in ${seconds[benchmark.name]} s`);
    }
  } finally {
    await stores.stop().catch((error: unknown) => console.error('could not stop MongoDB:', error));
  }
  const durationMs = performance.now() - began;
  const info = machine(stores.mongoVersion());
  const failed = failedChecks(reports);

  console.log(
    `\ncareslot benchmarks (${ctx.quick ? 'quick' : 'full'} run${ctx.full ? ' with --full' : ''}, ${(durationMs / 1000).toFixed(0)} s)`,
  );
  console.log(
    `machine: ${info.os}, ${info.cpu}, ${info.cores} cores, ${info.memoryGiB} GiB, Node ${info.node}` +
      `${info.redis ? `, redis ${info.redis}` : ''}${info.mongodb ? `, mongod ${info.mongodb}` : ''}` +
      `${info.commit ? `, commit ${info.commit}` : ''}; code: ${info.code}\n`,
  );
  console.log(renderTable(reports));
  const all = reports.flatMap((r) => r.checks);
  const goals = all.filter((c) => c.goal);
  const missed = goals.filter((c) => !c.ok).length;
  console.log(
    failed.length === 0
      ? `\nAll ${all.length - goals.length} correctness checks passed; all ${goals.length} goals met.`
      : `\n${failed.length} FAILED (${all.filter((c) => !c.goal && !c.ok).length} checks failed, ${missed} of ${goals.length} goals missed${reports.some((r) => r.error) ? ', errors' : ''}):\n${failed.map((f) => `  - ${f}`).join('\n')}`,
  );
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ machine: info, mode: ctx.quick ? 'quick' : 'full', largestSizes: ctx.full, durationMs, seconds, failed, reports }, null, 2)}\n`,
  );
  formatResults();
  console.log(`Results: bench/results.json`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  // Exit explicitly: a client a library keeps alive must not hold the run open after the table.
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
