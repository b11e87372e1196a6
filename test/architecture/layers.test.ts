// The layers DESIGN.md draws, checked on the sources: who may import whom, and no import cycles.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

type Sources = Map<string, string>;

function readSources(dir: string, out: Sources = new Map()): Sources {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readSources(path, out);
    else if (entry.name.endsWith('.ts')) out.set(relative(root, path), readFileSync(path, 'utf8'));
  }
  return out;
}

/** Every module specifier a file imports or re-exports (static, type-only and dynamic). */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g))
    found.push(match[1] as string);
  for (const match of source.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.push(match[1] as string);
  for (const match of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(match[1] as string);
  return found;
}

/** file → the project files it imports (relative specifiers resolved, `.js` mapped to `.ts`). */
function importGraph(sources: Sources): { local: Map<string, string[]>; packages: Map<string, string[]> } {
  const local = new Map<string, string[]>();
  const packages = new Map<string, string[]>();
  for (const [file, source] of sources) {
    const targets: string[] = [];
    const external: string[] = [];
    for (const spec of specifiers(source)) {
      if (spec.startsWith('.')) targets.push(join(dirname(file), spec).replace(/\.js$/, '.ts'));
      else external.push(spec);
    }
    local.set(file, targets);
    packages.set(file, external);
  }
  return { local, packages };
}

const ADAPTER_PACKAGES = [
  'mongoose',
  'mongodb',
  'pg',
  '@electric-sql/pglite',
  'stripe',
  'bullmq',
  'ioredis',
  'express',
];

/** Imports that cross a layer the wrong way. */
function layerViolations(sources: Sources): string[] {
  const { local, packages } = importGraph(sources);
  const violations: string[] = [];
  const layer = (file: string) => file.split('/')[1] ?? '';
  for (const [file, targets] of local) {
    const from = layer(file);
    for (const target of targets) {
      const to = layer(target);
      const inner = from === 'engine' || from === 'domain' || from === 'ports';
      if (inner && ['adapters', 'http', 'testing'].includes(to)) violations.push(`${file} imports ${target}`);
      if (from === 'domain' && to !== 'domain') violations.push(`${file} imports ${target} (domain is pure)`);
      if (from === 'ports' && !['ports', 'domain'].includes(to)) violations.push(`${file} imports ${target}`);
      // An adapter never reaches into another adapter (src/adapters/*.ts are helpers they share).
      const otherAdapter = target.split('/').length > 3 && file.split('/')[2] !== target.split('/')[2];
      if (from === 'adapters' && to === 'adapters' && otherAdapter) violations.push(`${file} reaches into ${target}`);
    }
    if (['engine', 'domain', 'ports'].includes(from)) {
      for (const spec of packages.get(file) ?? []) {
        if (ADAPTER_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`)))
          violations.push(`${file} imports the adapter package ${spec}`);
      }
    }
  }
  return violations;
}

/** Each import cycle once, as the files in order. */
function cycles(sources: Sources): string[][] {
  const { local } = importGraph(sources);
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of local.get(file) ?? []) {
      if (!local.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...local.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('the layers of src/', () => {
  const sources = readSources(join(root, 'src'));

  it('reads the sources it checks (engine, domain, ports, adapters)', () => {
    const files = [...sources.keys()];
    for (const layer of ['engine', 'domain', 'ports', 'adapters', 'http'])
      expect(files.some((f) => f.startsWith(`src/${layer}/`))).toBe(true);
    expect(importGraph(sources).local.get('src/engine/booking-engine.ts')).toContain('src/engine/book.ts');
  });

  it('never imports an adapter, the HTTP layer or the test kit from src/engine, src/domain or src/ports', () => {
    expect(layerViolations(sources)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(sources)).toEqual([]);
  });

  it('would catch an engine file importing the memory adapter, a domain file importing a port, and a cycle', () => {
    const bad: Sources = new Map([
      [
        'src/engine/a.ts',
        "import { MemoryStore } from '../adapters/memory/memory-store.js';\nimport { b } from './b.js';",
      ],
      ['src/engine/b.ts', "import type { A } from './a.js';\nexport const b = 1;"],
      ['src/domain/c.ts', "import type { Clock } from '../ports/clock.js';"],
      ['src/ports/d.ts', "export type { Stripe } from 'stripe';"],
      ['src/adapters/memory/memory-store.ts', "import { x } from '../stripe/index.js';"],
    ]);
    expect(layerViolations(bad)).toEqual([
      'src/engine/a.ts imports src/adapters/memory/memory-store.ts',
      'src/domain/c.ts imports src/ports/clock.ts (domain is pure)',
      'src/ports/d.ts imports the adapter package stripe',
      'src/adapters/memory/memory-store.ts reaches into src/adapters/stripe/index.ts',
    ]);
    expect(cycles(bad)).toEqual([['src/engine/a.ts', 'src/engine/b.ts', 'src/engine/a.ts']]);
  });
});
