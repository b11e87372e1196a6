// StrykerJS config for `npm run mutation`: mutation testing of the pure domain and the engine use cases.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['src/domain/**/*.ts', 'src/engine/**/*.ts', '!src/domain/index.ts', '!src/engine/index.ts'],
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  // The machine is shared: two test processes at most.
  concurrency: 2,
  // Results of the last run are reused for unchanged code and tests, so a rerun only tests what changed.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: 'reports/.stryker-tmp',
  reporters: ['clear-text', 'html', 'json', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  // biome.json stays out of the sandbox, so a Biome run never finds a second root config under
  // reports/.stryker-tmp (Biome also skips git-ignored paths).
  ignorePatterns: ['dist', 'coverage', '.tmp', 'bench/results.json', 'reports', 'biome.json'],
  thresholds: { high: 85, low: 70, break: null },
  // A mutant that loops forever (a `while` that never ends) is cut off after its tests' normal time plus this.
  timeoutMS: 5_000,
};
