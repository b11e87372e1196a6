// For `npm run mutation` only: a test file that fails to load counts as one failed test, so Stryker scores a mutant that breaks a module's import as killed.
import type { RunnerTask, RunnerTestCase, RunnerTestFile } from 'vitest';
import type { Reporter, Vitest } from 'vitest/node';

// Stryker's vitest runner (9.6, also 10.x: stryker-js#6150) builds a mutant's result from the tests
// it collected; a file whose import throws collects none, so a mutant the suite does catch (e.g. a
// zod schema that no longer builds) would be reported as survived.
const hasTests = (task: RunnerTask): boolean =>
  task.type === 'test' || (task.type === 'suite' && task.tasks.some(hasTests));

export default class UnloadableFileReporter implements Reporter {
  private vitest: Vitest | null = null;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(): void {
    // The files Stryker reads its results from, after this run.
    const files: RunnerTestFile[] = this.vitest?.state.getFiles() ?? [];
    for (const file of files) {
      if (file.result?.state !== 'fail' || file.tasks.some(hasTests)) continue;
      const loads = {
        type: 'test',
        id: `${file.id}_loads`,
        name: 'the test file loads',
        mode: 'run',
        file,
        suite: file,
        meta: {},
        annotations: [],
        artifacts: [],
        timeout: 0,
        result: { state: 'fail', errors: file.result.errors ?? [] },
      } as unknown as RunnerTestCase;
      file.tasks.push(loads);
    }
  }
}
