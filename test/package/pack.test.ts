// The published package: npm pack, install the tarball elsewhere, import and require every entry with types.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const entries = [
  'careslot',
  'careslot/testing',
  'careslot/mongoose',
  'careslot/postgres',
  'careslot/stripe',
  'careslot/bullmq',
  'careslot/express',
];
let work = '';
let tarball = '';

const run = (command: string, args: string[], cwd: string) =>
  execFileSync(command, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_loglevel: 'error' },
  });

describe('the packed package', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'careslot-pack-'));
    run('npm', ['run', 'build', '--silent'], root);
    run('npm', ['pack', '--silent', '--pack-destination', work], root);
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) ?? '');
    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'host-app', version: '1.0.0', private: true }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], app);
  }, 180_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships only dist, README, CHANGELOG and package.json', () => {
    const files = run('tar', ['-tzf', tarball], work).trim().split('\n');
    expect(files.every((f) => /^package\/(dist\/|README\.md$|CHANGELOG\.md$|package\.json$|LICENSE$)/.test(f))).toBe(
      true,
    );
    expect(files).toContain('package/dist/index.js');
    expect(files).toContain('package/dist/index.cjs');
    expect(files).toContain('package/dist/index.d.ts');
    expect(files).toContain('package/dist/index.d.cts');
  });

  it('can be imported (ESM) and required (CJS), and both copies agree on errors', () => {
    const app = join(work, 'app');
    const esm = `
      import { BookingEngine, BookingError, MemoryStore, createWebhookHandler } from 'careslot';
      import { TestPaymentGateway, MemoryPatientDirectory } from 'careslot/testing';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('careslot');
      const engine = new BookingEngine({ store: new MemoryStore(), payments: new TestPaymentGateway(), patients: new MemoryPatientDirectory() });
      const error = new BookingError('NOT_ALLOWED', 'x');
      console.log(JSON.stringify({
        engine: typeof engine.book, handler: typeof createWebhookHandler,
        crossCopy: cjs.isBookingError(error), instanceofCrossCopy: error instanceof cjs.BookingError,
      }));`;
    writeFileSync(join(app, 'check.mjs'), esm);
    expect(JSON.parse(run('node', ['check.mjs'], app))).toEqual({
      engine: 'function',
      handler: 'function',
      crossCopy: true,
      instanceofCrossCopy: false,
    });
    const cjs = `
      const { BookingEngine } = require('careslot');
      const { TestPaymentGateway } = require('careslot/testing');
      console.log(typeof BookingEngine, typeof TestPaymentGateway);`;
    writeFileSync(join(app, 'check.cjs'), cjs);
    expect(run('node', ['check.cjs'], app).trim()).toBe('function function');
  });

  it('resolves every subpath entry from both module systems', () => {
    const app = join(work, 'app');
    for (const entry of entries) {
      writeFileSync(join(app, 'entry.cjs'), `require.resolve(${JSON.stringify(entry)}); console.log('ok')`);
      expect(run('node', ['entry.cjs'], app).trim()).toBe('ok');
      writeFileSync(
        join(app, 'entry.mjs'),
        `console.log(import.meta.resolve(${JSON.stringify(entry)}).endsWith('.js'))`,
      );
      expect(run('node', ['entry.mjs'], app).trim()).toBe('true');
    }
  });

  it('type-checks a host file importing careslot from ESM and CJS with node16 resolution', () => {
    const app = join(work, 'app');
    const source = `
      import { BookingEngine, MemoryStore, type BookResult, type BookingError } from 'careslot';
      import { TestPaymentGateway, MemoryPatientDirectory } from 'careslot/testing';
      const engine = new BookingEngine({ store: new MemoryStore(), payments: new TestPaymentGateway(), patients: new MemoryPatientDirectory() });
      export const pending: Promise<BookResult> = engine.book({ patientId: 'p', scheduleId: 's' });
      export type E = BookingError['code'];
    `;
    writeFileSync(join(app, 'host.mts'), source);
    writeFileSync(join(app, 'host.cts'), source);
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'node16',
      '--moduleResolution',
      'node16',
      '--target',
      'es2022',
      '--skipLibCheck',
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules/@types'),
    ];
    expect(() => run('node', [tsc, ...args, 'host.mts', 'host.cts'], app)).not.toThrow();
    // And a wrong call is caught by the shipped types.
    writeFileSync(
      join(app, 'bad.mts'),
      `import { BookingEngine } from 'careslot';\ndeclare const e: BookingEngine;\ne.book({ patient: 'p' });\n`,
    );
    expect(() => run('node', [tsc, ...args, 'bad.mts'], app)).toThrow();
  });

  it("types the default notifier, so a strict host's engine.notifier.on('notification', …) compiles", () => {
    const app = join(work, 'app');
    const source = `
      import { BookingEngine, MemoryStore, type Notification, type Notifier } from 'careslot';
      import { TestPaymentGateway, MemoryPatientDirectory } from 'careslot/testing';
      const ports = { store: new MemoryStore(), payments: new TestPaymentGateway(), patients: new MemoryPatientDirectory() };
      const engine = new BookingEngine(ports);
      engine.notifier.on('notification', (n: Notification) => n.title.toUpperCase());
      class Mailer implements Notifier { sent = 0; notify(): void { this.sent++; } }
      const mailed = new BookingEngine({ ...ports, notifier: new Mailer() });
      export const sent: number = mailed.notifier.sent;
      // Either engine fits where a host asks for "a BookingEngine".
      export const both: BookingEngine[] = [engine, mailed];
    `;
    writeFileSync(join(app, 'notifier.mts'), source);
    writeFileSync(join(app, 'notifier.cts'), source);
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022'];
    const types = ['--skipLibCheck', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types')];
    expect(() => run('node', [tsc, ...args, ...types, 'notifier.mts', 'notifier.cts'], app)).not.toThrow();
    // The typing is precise, not any: a host notifier without .on does not get one.
    writeFileSync(
      join(app, 'notifier-bad.mts'),
      `import { BookingEngine, MemoryStore } from 'careslot';
       import { TestPaymentGateway, MemoryPatientDirectory } from 'careslot/testing';
       const engine = new BookingEngine({ store: new MemoryStore(), payments: new TestPaymentGateway(),
         patients: new MemoryPatientDirectory(), notifier: { notify() {} } });
       engine.notifier.on('notification', () => {});\n`,
    );
    let output = '';
    try {
      run('node', [tsc, ...args, ...types, 'notifier-bad.mts'], app);
    } catch (error) {
      output = String((error as { stdout?: unknown }).stdout);
    }
    expect(output).toMatch(/Property 'on' does not exist/);
  });

  it('passes arethetypeswrong for node16 (ESM and CJS) and bundlers', () => {
    const attw = join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    expect(() => run('node', [attw, tarball, '--profile', 'node16', '--format', 'ascii'], work)).not.toThrow();
  });

  it('passes publint', () => {
    const out = run('node', [join(root, 'node_modules/publint/src/cli.js'), '--strict'], root);
    expect(out).not.toMatch(/error/i);
  });
});
