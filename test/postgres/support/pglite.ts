// PGlite databases for the tests: a fresh one in memory in about a second, from a data-dir template made once per machine.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';

// Its package.json is not exported: read it beside the resolved entry (dist/index.cjs).
const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
const template = join(tmpdir(), 'careslot-pglite-template', `pglite-${version}.tar`);

/**
 * A new, empty in-memory PGlite. PGlite's first start runs initdb in WASM (10 s and more on a
 * busy machine); the data directory it makes is kept as a tarball in the OS temp folder and
 * every later database starts from it.
 */
/** The template tarball's path (made first when missing): a PGlite data directory, ready to extract. */
export async function pgliteTemplate(): Promise<string> {
  if (!existsSync(template)) await (await freshPGlite()).close();
  return template;
}

export async function freshPGlite(): Promise<PGlite> {
  if (existsSync(template)) {
    return PGlite.create({ loadDataDir: new Blob([readFileSync(template)]) });
  }
  const db = await PGlite.create();
  const dump = await db.dumpDataDir('none');
  mkdirSync(join(template, '..'), { recursive: true });
  // Written aside and renamed, so a test file starting meanwhile never reads half a template.
  const partial = `${template}.${process.pid}.partial`;
  writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
  renameSync(partial, template);
  return db;
}
