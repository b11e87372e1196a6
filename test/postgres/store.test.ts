// PostgresStore's own behaviour: options, migrations and ready(), ids, host ids, hostile input, table prefixes, the embedded mode.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS, PostgresStore } from '../../src/adapters/postgres/index.js';
import { type Clock, isBookingError } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { autocommit } from '../support/autocommit.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { newBookingOf, newSchedule } from '../support/records.js';
import { pgliteTemplate } from './support/pglite.js';
import { pgliteTarget, reuseSchemasBetweenTests } from './support/targets.js';

const target = await pgliteTarget();
const { db } = target;
reuseSchemasBetweenTests([target]);
afterAll(() => target.close());

let schemaCount = 0;
const unusedSchema = () => `careslot_own_${++schemaCount}`;

describe('PostgresStore options', () => {
  const pool = new pg.Pool({ max: 1 });
  afterAll(() => pool.end());

  it.each([
    [
      'neither a pool nor a PGlite',
      {},
      /pass options.pool \(your pg.Pool: new pg.Pool\(\{ connectionString \}\)\) or options.pglite .*PostgresStore.embedded/,
    ],
    ['both a pool and a PGlite', { pool, pglite: db }, /pass options.pool or options.pglite, not both/],
    [
      'a connection string as the pool',
      { pool: 'postgres://localhost/clinic' },
      /options.pool must be a pg.Pool, not a connection string; careslot never opens connections itself/,
    ],
    [
      'a single pg.Client as the pool',
      { pool: new pg.Client() },
      /options.pool must be a pg.Pool, not a single pg.Client: concurrent transactions each need a connection/,
    ],
    ['something else as the pool', { pool: {} }, /options.pool must be a pg.Pool \(new pg.Pool/],
    ['something else as the PGlite', { pglite: { query() {} } }, /options.pglite must be a PGlite instance/],
    [
      'a schema with a capital letter',
      { pool, schema: 'Careslot' },
      /options.schema must be a lowercase SQL identifier/,
    ],
    ['a schema with a quote in it', { pool, schema: 'x"; DROP SCHEMA public; --' }, /options.schema must be/],
    ['a pg_ schema', { pool, schema: 'pg_careslot' }, /options.schema must be/],
    [
      'a table prefix with a dash',
      { pool, tablePrefix: 'care-slot_' },
      /options.tablePrefix must be '' or a lowercase/,
    ],
    [
      'read committed',
      { pool, transactionOptions: { isolation: 'read committed' } },
      /isolation must be 'repeatable read' or 'serializable'/,
    ],
    ['no attempts', { pool, transactionOptions: { maxAttempts: 0 } }, /maxAttempts must be at least 1/],
    [
      'a fractional timeout',
      { pool, transactionOptions: { statementTimeoutMs: 1.5 } },
      /statementTimeoutMs must be a whole number from 0 to/,
    ],
    [
      'clock and now together',
      { pool, clock: new ManualClock(), now: () => new Date() },
      /PostgresStore: pass clock or now, not both; keep clock/,
    ],
    ['a clock without now()', { pool, clock: {} as Clock }, /PostgresStore: options.clock must be a Clock/],
  ])('refuses %s with a TypeError saying what to pass', (_name, options, message) => {
    const attempt = () => new PostgresStore(options as never);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(message);
  });

  it('takes a pg.Pool and a PGlite, and names its tables in the schema with the prefix, quoted', () => {
    const onPool = new PostgresStore({ pool, schema: 'clinic', tablePrefix: 'careslot_' });
    expect(onPool.driver).toBe('pool');
    expect(onPool.tables.bookings).toBe('"clinic"."careslot_doctor_patient_schedule_bookings"');
    const onPGlite = new PostgresStore({ pglite: db });
    expect(onPGlite.driver).toBe('pglite');
    expect(onPGlite.schema).toBe('careslot');
    expect(onPGlite.tables.schedules).toBe('"careslot"."doctor_appointment_schedules"');
  });
});

describe('migrations and ready()', () => {
  it('fails ready() and every call on a database without the schema, saying to run migrate()', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    const error = await rejectionOf(store.ready());
    expect(error).toMatchObject({ code: 'STORE_ERROR' });
    expect(error.message).toMatch(/careslot's tables are missing .*run `await store.migrate\(\)`/);
    expect((await rejectionOf(store.getBooking('64b0000000000000000000b1'))).message).toMatch(/store.migrate\(\)/);
    expect((await rejectionOf(store.transaction(async () => 1))).code).toBe('STORE_ERROR');
  });

  it('applies the shipped migrations once: a second migrate() applies nothing, and the checksums are recorded', async () => {
    const schema = unusedSchema();
    const store = new PostgresStore({ pglite: db, schema });
    expect(await store.migrate()).toEqual({ applied: [1], version: 1 });
    expect(await store.migrate()).toEqual({ applied: [], version: 1 });
    await expect(store.ready()).resolves.toBeUndefined();
    // A second store on the same schema (another process starting) finds it ready.
    await expect(new PostgresStore({ pglite: db, schema }).ready()).resolves.toBeUndefined();
    const { rows } = await db.query<{ version: number; checksum: string }>(
      `SELECT version, checksum FROM ${store.tables.migrations} ORDER BY version`,
    );
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, checksum: m.checksum })));
    expect(POSTGRES_MIGRATIONS[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a schema whose applied migration was changed, in ready() and migrate(), touching nothing', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    await store.migrate();
    await db.query(`UPDATE ${store.tables.migrations} SET checksum = 'f00d' WHERE version = 1`);
    const fresh = new PostgresStore({ pglite: db, schema: store.schema });
    expect((await rejectionOf(fresh.ready())).message).toMatch(/migration 1 \(initial schema\) .* has checksum f00d/);
    expect((await rejectionOf(fresh.migrate())).message).toMatch(/checksum f00d/);
  });

  it('refuses a schema with a migration newer than this careslot, saying to upgrade', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    await store.migrate();
    await db.query(`INSERT INTO ${store.tables.migrations} (version, name, checksum) VALUES (2, 'future', 'abc')`);
    const fresh = new PostgresStore({ pglite: db, schema: store.schema });
    expect((await rejectionOf(fresh.ready())).message).toMatch(
      /has careslot migration 2, newer than this careslot knows \(up to 1\): upgrade careslot/,
    );
    expect((await rejectionOf(fresh.migrate())).message).toMatch(/newer than this careslot knows/);
  });

  it('says which migrations are missing when the schema is behind', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    await store.migrate();
    await db.query(`DELETE FROM ${store.tables.migrations}`);
    const fresh = new PostgresStore({ pglite: db, schema: store.schema });
    expect((await rejectionOf(fresh.ready())).message).toMatch(
      /schema is at version 0, this careslot needs 1 \(missing 1 initial schema\): run `await store.migrate\(\)`/,
    );
  });
});

describe('records', () => {
  let store: PostgresStore;
  const clock = new ManualClock('2031-01-01T00:00:00Z');
  beforeEach(async () => {
    store = await target.store({ clock });
  });

  it('gives records 24-hex ids that sort in creation order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await autocommit(store).insertSchedule(newSchedule())).id);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(30);
  });

  it('stores host ids as given, whatever their shape, and stamps records from the clock', async () => {
    const doctorId = 'auth0|doctor:Ünïcode 🩺';
    const slot = await autocommit(store).insertSchedule(newSchedule({ doctorId }));
    expect(slot.createdAt).toEqual(new Date('2031-01-01T00:00:00Z'));
    const booking = await autocommit(store).insertBooking(newBookingOf(slot, { patientId: 'user_42' }));
    expect(await store.findSchedules({ doctorId })).toEqual([slot]);
    expect(await store.findBookings({ patientId: 'user_42' })).toEqual([booking]);
  });

  it('keeps SQL in values as plain text: a hostile id is stored and found, and every table is still there', async () => {
    const hostile = `x'); DROP TABLE ${store.tables.schedules}; --`;
    const slot = await autocommit(store).insertSchedule(newSchedule({ doctorId: hostile }));
    expect((await store.findSchedules({ doctorId: hostile })).map((s) => s.id)).toEqual([slot.id]);
    expect(await store.getBooking(hostile)).toBeNull();
    expect(await store.findSchedules({})).toHaveLength(1);
  });

  it.each([
    ['an operator object', { $gt: '' }],
    ['an empty string', ''],
    ['a NUL character', 'a\u0000b'],
    ['201 characters', 'x'.repeat(201)],
    ['a number', 42],
  ])('answers an id that is %s with INVALID_INPUT before any SQL', async (_name, id) => {
    const error = await rejectionOf(store.getBooking(id as never));
    expect(isBookingError(error) && error.code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findBookings({ patientId: id as never }))).code).toBe('INVALID_INPUT');
  });

  it('refuses a NUL inside a history entry as INVALID_INPUT, not a database error, writing nothing', async () => {
    const slot = await autocommit(store).insertSchedule(newSchedule());
    const booking = await autocommit(store).insertBooking(newBookingOf(slot));
    const error = await rejectionOf(
      store.transaction((tx) =>
        tx.updateBookingIf({
          id: booking?.id ?? '',
          expectedStatus: 'pending',
          set: { status: 'cancelled' },
          history: {
            at: new Date(),
            from: 'pending',
            to: 'cancelled',
            paymentStatus: 'unpaid',
            actor: { role: 'patient', id: 'p' },
            reason: 'bad\u0000reason',
          },
        }),
      ),
    );
    expect(error.code).toBe('INVALID_INPUT');
    expect((await store.getBooking(booking?.id ?? ''))?.status).toBe('pending');
  });

  it('keeps stores on different table prefixes in one schema apart', async () => {
    const a = new PostgresStore({ pglite: db, schema: unusedSchema(), tablePrefix: 'a_' });
    const b = new PostgresStore({ pglite: db, schema: a.schema, tablePrefix: 'b_' });
    await a.migrate();
    await b.migrate();
    await autocommit(a).insertSchedule(newSchedule());
    expect(await a.findSchedules({})).toHaveLength(1);
    expect(await b.findSchedules({})).toEqual([]);
  });
});

describe('PostgresStore.embedded', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('persists to a data directory: a reopened store finds the records, and close() releases the directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'careslot-embedded-'));
    dirs.push(dir);
    // Start from a ready-made PGlite cluster, as a data directory left by an earlier run (saves initdb).
    execFileSync('tar', ['-xf', await pgliteTemplate(), '-C', dir]);
    const first = await PostgresStore.embedded({ dataDir: dir });
    expect(first.driver).toBe('pglite');
    const slot = await autocommit(first).insertSchedule(newSchedule());
    await first.close();
    expect((await rejectionOf(first.getSchedule(slot.id))).code).toBe('STORE_ERROR');

    const second = await PostgresStore.embedded({ dataDir: dir });
    expect(await second.getSchedule(slot.id)).toEqual(slot);
    expect(await second.migrate()).toEqual({ applied: [], version: 1 });
    await second.close();
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
  });

  it('leaves a PGlite it was given open on close()', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    await store.migrate();
    await store.close();
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('refuses a pool or a PGlite, which embedded() would not open itself', async () => {
    await expect(PostgresStore.embedded({ pglite: db } as never)).rejects.toThrow(
      /embedded\(\) opens its own database; pass options.pglite to new PostgresStore\(\) instead/,
    );
  });
});
