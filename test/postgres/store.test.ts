// PostgresStore's own behaviour: options, migrations and ready(), ids, host ids, hostile input, table prefixes, the embedded mode.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS, PostgresStore } from '../../src/adapters/postgres/index.js';
import { checksumOf, MIGRATIONS } from '../../src/adapters/postgres/migrations.js';
import { fillTemplate, tableNames } from '../../src/adapters/postgres/tables.js';
import { type Clock, isBookingError, type NewAvailabilityRecord, type StoreOperations } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { availabilityRecord } from '../conformance/availability-conformance.js';
import { outboxRecord } from '../conformance/outbox-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { rejectionOf } from '../support/engine-fixture.js';
import { DOCTOR_ID, ledgerEntry, newBookingOf, newSchedule, T0 } from '../support/records.js';
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
    expect(await store.migrate()).toEqual({ applied: [1, 2, 3, 4, 5], version: 5 });
    expect(await store.migrate()).toEqual({ applied: [], version: 5 });
    await expect(store.ready()).resolves.toBeUndefined();
    // A second store on the same schema (another process starting) finds it ready.
    await expect(new PostgresStore({ pglite: db, schema }).ready()).resolves.toBeUndefined();
    const { rows } = await db.query<{ version: number; checksum: string }>(
      `SELECT version, checksum FROM ${store.tables.migrations} ORDER BY version`,
    );
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version, checksum: m.checksum })));
    expect(POSTGRES_MIGRATIONS.map((m) => [m.version, m.name])).toEqual([
      [1, 'initial schema'],
      [2, 'outbox'],
      [3, 'availability'],
      [4, 'booking policy and reminders'],
      [5, 'wallet balances and slot paging'],
    ]);
    for (const m of POSTGRES_MIGRATIONS) expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('upgrades a schema at version 1 (an earlier careslot) to 5: the outbox table and its indexes, data kept', async () => {
    const schema = unusedSchema();
    const names = tableNames(schema, '');
    // The database an earlier careslot left: migration 1 only.
    await db.exec(`CREATE SCHEMA "${schema}";
      CREATE TABLE ${names.qualified.migrations} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    const [initial] = MIGRATIONS;
    if (!initial) throw new Error('no migration 1');
    await db.exec(fillTemplate(initial.sql, names));
    await db.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES (1, $1, $2)`, [
      initial.name,
      checksumOf(initial),
    ]);
    await db.query(
      `INSERT INTO ${names.qualified.events} (event_id, type, processed_at) VALUES ('evt_old', 't', now())`,
    );
    const store = new PostgresStore({ pglite: db, schema });
    expect((await rejectionOf(store.ready())).message).toMatch(
      /schema is at version 1, this careslot needs 5 \(missing 2 outbox, 3 availability, 4 booking policy and reminders, 5 wallet balances and slot paging\): run `await store.migrate\(\)`/,
    );
    expect(await store.migrate()).toEqual({ applied: [2, 3, 4, 5], version: 5 });
    await expect(store.ready()).resolves.toBeUndefined();
    expect(await store.hasProcessedEvent('evt_old')).toBe(true);
    expect(await autocommit(store).appendOutbox([outboxRecord('e1')])).toBe(1);
    const { rows } = await db.query<{ indexname: string }>(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname',
      [schema, 'outbox'],
    );
    expect(rows.map((r) => r.indexname)).toEqual([
      'outbox_booking',
      'outbox_claim',
      'outbox_delivered_key',
      'outbox_pkey',
      'outbox_status_created',
    ]);
  });

  it('upgrades a schema at version 2 to 5: availability and time-off tables, slots kept without a version', async () => {
    const schema = unusedSchema();
    const names = tableNames(schema, '');
    // The database the outbox release left: migrations 1 and 2.
    await db.exec(`CREATE SCHEMA "${schema}";
      CREATE TABLE ${names.qualified.migrations} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    for (const migration of MIGRATIONS.slice(0, 2)) {
      await db.exec(fillTemplate(migration.sql, names));
      await db.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES ($1, $2, $3)`, [
        migration.version,
        migration.name,
        checksumOf(migration),
      ]);
    }
    await db.query(
      `INSERT INTO ${names.qualified.schedules} (id, created_by, start_time, end_time, time_zone, fee_amount, fee_currency, status, created_at, updated_at)
       VALUES ('s_old', 'd1', now(), now() + interval '30 minutes', 'UTC', 100, 'usd', 'available', now(), now())`,
    );
    const store = new PostgresStore({ pglite: db, schema });
    expect((await rejectionOf(store.ready())).message).toMatch(
      /schema is at version 2, this careslot needs 5 \(missing 3 availability, 4 booking policy and reminders, 5 wallet balances and slot paging\): run `await store.migrate\(\)`/,
    );
    expect(await store.migrate()).toEqual({ applied: [3, 4, 5], version: 5 });
    const old = await store.getSchedule('s_old');
    expect(old?.doctorId).toBe('d1');
    expect(old?.availabilityId).toBeNull();
    const version = await autocommit(store).insertAvailability(availabilityRecord({ doctorId: 'd1' }));
    const computed = await autocommit(store).insertSchedule(
      newSchedule({ doctorId: 'd1', availabilityId: version.id }),
    );
    expect((await store.getSchedule(computed.id))?.availabilityId).toBe(version.id);
    const { rows } = await db.query<{ tablename: string; indexname: string }>(
      `SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('availability', 'time_off')
        ORDER BY tablename, indexname`,
      [schema],
    );
    expect(rows.map((r) => `${r.tablename}.${r.indexname}`)).toEqual([
      'availability.availability_doctor_from',
      'availability.availability_pkey',
      'time_off.time_off_doctor_end',
      'time_off.time_off_doctor_start',
      'time_off.time_off_pkey',
    ]);
  });

  // A 24-character prefix makes the bookings table name long enough that PostgreSQL cut its part
  // of the status CHECK's generated name short: migration 4 finds the constraint all the same.
  it.each([
    ['no prefix', ''],
    ['the longest prefix', 'clinic_north_wing_2031_x'],
  ])(
    'upgrades a schema at version 3 to 5 (%s): old bookings kept with no policy and no reminders, no_show allowed',
    async (_name, prefix) => {
      const schema = unusedSchema();
      const names = tableNames(schema, prefix);
      // The database the availability release left: migrations 1 to 3.
      await db.exec(`CREATE SCHEMA "${schema}";
      CREATE TABLE ${names.qualified.migrations} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
      for (const migration of MIGRATIONS.slice(0, 3)) {
        await db.exec(fillTemplate(migration.sql, names));
        await db.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          checksumOf(migration),
        ]);
      }
      const statusChecks = async () =>
        (
          await db.query<{ conname: string; def: string }>(
            `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
              WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`,
            [names.qualified.bookings],
          )
        ).rows.filter((c) => c.def.startsWith('CHECK ((status = ANY'));
      const table = `${prefix}doctor_patient_schedule_bookings`;
      expect((await statusChecks()).map((c) => c.conname)).toEqual([`${table.slice(0, 50)}_status_check`]);
      await db.query(
        `INSERT INTO ${names.qualified.bookings} (id, patient_id, doctor_id, doctor_schedule_id, slot_start, slot_end,
           time_zone, mode, plan, price_amount, price_currency, status, payment_status, created_at, updated_at)
         VALUES ('b_old', 'p1', 'd1', 's_old', $1, $2, 'UTC', 'paid', 'standard', 100, 'usd', 'scheduled', 'paid', now(), now())`,
        [T0, new Date(T0.getTime() + 1_800_000)],
      );
      const store = new PostgresStore({ pglite: db, schema, tablePrefix: prefix });
      expect((await rejectionOf(store.ready())).message).toMatch(
        /schema is at version 3, this careslot needs 5 \(missing 4 booking policy and reminders, 5 wallet balances and slot paging\): run `await store.migrate\(\)`/,
      );
      expect(await store.migrate()).toEqual({ applied: [4, 5], version: 5 });
      await expect(store.ready()).resolves.toBeUndefined();
      const old = await store.getBooking('b_old');
      expect(old).toMatchObject({ status: 'scheduled', policy: null, remindersSent: [] });
      expect(
        await autocommit(store).markReminderSent({ bookingId: 'b_old', key: '60:email', slotStart: T0 }),
      ).toMatchObject({ remindersSent: ['60:email'] });
      const noShow = await autocommit(store).updateBookingIf({
        id: 'b_old',
        expectedStatus: 'scheduled',
        set: { status: 'no_show' },
      });
      expect(noShow?.status).toBe('no_show');
      // The replaced CHECK still refuses a status careslot does not know.
      const checks = await statusChecks();
      expect(checks.map((c) => c.conname)).toEqual([`${prefix}bookings_status_known`]);
      expect(checks[0]?.def).toContain("'no_show'");
      const bogus = await rejectionOf(
        db.query(`UPDATE ${names.qualified.bookings} SET status = 'lost' WHERE id = 'b_old'`),
      );
      expect(String(bogus.message)).toMatch(/bookings_status_known/);
      const { rows } = await db.query<{ indexdef: string }>(
        'SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2',
        [schema, `${prefix}bookings_status_slot_start`],
      );
      expect(rows[0]?.indexdef).toMatch(/\(status, slot_start, created_at, id\)/);
    },
  );

  it('upgrades a schema at version 4 to 5: each doctor’s balance per currency is summed from the ledger lines there, and new lines add to it once', async () => {
    const schema = unusedSchema();
    const names = tableNames(schema, '');
    // The database the booking-policy release left: migrations 1 to 4, ledger lines but no totals.
    await db.exec(`CREATE SCHEMA "${schema}";
      CREATE TABLE ${names.qualified.migrations} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    for (const migration of MIGRATIONS.slice(0, 4)) {
      await db.exec(fillTemplate(migration.sql, names));
      await db.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES ($1, $2, $3)`, [
        migration.version,
        migration.name,
        checksumOf(migration),
      ]);
    }
    const lines: [string, string, 'credit' | 'debit', number, string][] = [
      ['credit:b1', 'd1', 'credit', 5000, 'eur'],
      ['credit:b2', 'd1', 'credit', 700, 'eur'],
      ['refund:r1', 'd1', 'debit', 1200, 'eur'],
      ['credit:b3', 'd1', 'credit', 300, 'usd'],
      ['credit:b4', 'd2', 'credit', 100, 'eur'],
      ['refund:r2', 'd2', 'debit', 100, 'eur'],
    ];
    for (const [i, [key, doctor, kind, amount, currency]] of lines.entries()) {
      await db.query(
        `INSERT INTO ${names.qualified.ledger} (id, key, doctor_id, booking_id, kind, amount, currency, created_at)
         VALUES ($1, $2, $3, 'b_old', $4, $5, $6, now())`,
        [`l${i}`, key, doctor, kind, amount, currency],
      );
    }
    const store = new PostgresStore({ pglite: db, schema });
    expect((await rejectionOf(store.ready())).message).toMatch(
      /schema is at version 4, this careslot needs 5 \(missing 5 wallet balances and slot paging\): run `await store.migrate\(\)`/,
    );
    expect(await store.migrate()).toEqual({ applied: [5], version: 5 });
    expect(await store.ledgerBalances({ doctorId: 'd1' })).toEqual({ eur: 4500, usd: 300 });
    // Lines that cancel out leave a total of 0: the currency is there, at 0.
    expect(await store.ledgerBalances({ doctorId: 'd2' })).toEqual({ eur: 0 });
    expect(await store.ledgerBalances({ doctorId: 'd3' })).toEqual({});
    const credit = { key: 'credit:b5', doctorId: 'd1', bookingId: 'b5', kind: 'credit' as const, amount: 250 };
    expect(await autocommit(store).appendLedgerEntry({ ...credit, currency: 'eur', createdAt: T0 })).toBe(true);
    expect(await autocommit(store).appendLedgerEntry({ ...credit, currency: 'eur', createdAt: T0 })).toBe(false);
    expect(await store.ledgerBalances({ doctorId: 'd1' })).toEqual({ eur: 4750, usd: 300 });
    // The totals and the lines agree, per doctor and currency.
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${names.qualified.walletBalances} w FULL JOIN (
         SELECT doctor_id, currency, SUM(CASE WHEN kind = 'credit' THEN amount ELSE -amount END) AS s
           FROM ${names.qualified.ledger} GROUP BY doctor_id, currency) l USING (doctor_id, currency)
        WHERE w.balance IS DISTINCT FROM l.s`,
    );
    expect(rows).toEqual([{ n: 0 }]);
    const indexes = await db.query<{ tablename: string; indexdef: string }>(
      `SELECT tablename, regexp_replace(indexdef, '^.* INDEX (\\S+) ON \\S+ USING btree ', '\\1 ') AS indexdef
         FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('doctor_appointment_schedules', 'wallet_balances')
        ORDER BY tablename, indexname`,
      [schema],
    );
    expect(indexes.rows.map((r) => `${r.tablename}: ${r.indexdef}`)).toEqual([
      'doctor_appointment_schedules: doctor_appointment_schedules_pkey (id)',
      "doctor_appointment_schedules: schedules_available_start (start_time, id) WHERE (status = 'available'::text)",
      "doctor_appointment_schedules: schedules_booked_start (start_time, id) WHERE (status = 'booked'::text)",
      'doctor_appointment_schedules: schedules_doctor_start_id (created_by, start_time, id)',
      "doctor_appointment_schedules: schedules_expired_start (start_time, id) WHERE (status = 'expired'::text)",
      "doctor_appointment_schedules: schedules_pending_start (start_time, id) WHERE (status = 'pending'::text)",
      'doctor_appointment_schedules: schedules_start (start_time, id)',
      'wallet_balances: wallet_balances_pkey (doctor_id, currency)',
    ]);
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
    await db.query(`INSERT INTO ${store.tables.migrations} (version, name, checksum) VALUES (6, 'future', 'abc')`);
    const fresh = new PostgresStore({ pglite: db, schema: store.schema });
    expect((await rejectionOf(fresh.ready())).message).toMatch(
      /has careslot migration 6, newer than this careslot knows \(up to 5\): upgrade careslot/,
    );
    expect((await rejectionOf(fresh.migrate())).message).toMatch(/newer than this careslot knows/);
  });

  it('says which migrations are missing when the schema is behind', async () => {
    const store = new PostgresStore({ pglite: db, schema: unusedSchema() });
    await store.migrate();
    await db.query(`DELETE FROM ${store.tables.migrations}`);
    const fresh = new PostgresStore({ pglite: db, schema: store.schema });
    expect((await rejectionOf(fresh.ready())).message).toMatch(
      /schema is at version 0, this careslot needs 5 \(missing 1 initial schema, 2 outbox, 3 availability, 4 booking policy and reminders, 5 wallet balances and slot paging\): run `await store.migrate\(\)`/,
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
    expect(await second.migrate()).toEqual({ applied: [], version: 5 });
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

describe('wallet balances', () => {
  let store: PostgresStore;
  beforeEach(async () => {
    store = await target.store();
  });

  it('leaves the balance as it was when the transaction that appended a line throws', async () => {
    expect(await autocommit(store).appendLedgerEntry(ledgerEntry({ bookingId: '64b0000000000000000000b1' }))).toBe(
      true,
    );
    const error = await rejectionOf(
      store.transaction(async (tx) => {
        await tx.appendLedgerEntry(ledgerEntry({ bookingId: '64b0000000000000000000b2', amount: 700 }));
        expect(await tx.ledgerBalances({ doctorId: DOCTOR_ID })).toEqual({ eur: 5700 });
        throw new Error('after the append');
      }),
    );
    expect(error.message).toBe('after the append');
    expect(await store.ledgerBalances({ doctorId: DOCTOR_ID })).toEqual({ eur: 5000 });
    expect((await store.findLedgerEntries({ doctorId: DOCTOR_ID })).map((e) => e.amount)).toEqual([5000]);
  });

  it('adds a debit as a negative amount, keeps currencies apart, and changes nothing for a key already there', async () => {
    const ops = autocommit(store);
    const booking = '64b0000000000000000000b1';
    expect(await ops.appendLedgerEntry(ledgerEntry({ bookingId: booking }))).toBe(true);
    expect(
      await ops.appendLedgerEntry(ledgerEntry({ key: 'refund:r1', kind: 'debit', bookingId: booking, amount: 7000 })),
    ).toBe(true);
    expect(
      await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:usd', bookingId: booking, currency: 'usd', amount: 9 })),
    ).toBe(true);
    expect(
      await ops.appendLedgerEntry(ledgerEntry({ key: 'refund:r1', kind: 'debit', bookingId: booking, amount: 1 })),
    ).toBe(false);
    expect(await store.ledgerBalances({ doctorId: DOCTOR_ID })).toEqual({ eur: -2000, usd: 9 });
  });
});

describe('booking policy and reminders', () => {
  let store: PostgresStore;
  beforeEach(async () => {
    store = await target.store();
  });

  it.each([
    ['a policy that is not an object', { policy: 'strict' as never }],
    ['a policy with a NUL', { policy: { note: 'a\u0000b' } as never }],
    ['reminder keys that are not an array', { remindersSent: '60:email' as never }],
    ['an empty reminder key', { remindersSent: [''] }],
  ])('answers a booking with %s with INVALID_INPUT, writing nothing', async (_name, overrides) => {
    const slot = await autocommit(store).insertSchedule(newSchedule());
    const error = await rejectionOf(store.transaction((tx) => tx.insertBooking(newBookingOf(slot, overrides))));
    expect(error.code).toBe('INVALID_INPUT');
    expect(await store.findBookings({})).toEqual([]);
  });

  it('answers a bad reminder mark or booking listing with INVALID_INPUT', async () => {
    const mark = (args: object) =>
      rejectionOf(
        store.transaction((tx) => tx.markReminderSent(args as Parameters<StoreOperations['markReminderSent']>[0])),
      );
    expect((await mark({ bookingId: { $gt: '' }, key: 'k', slotStart: T0 })).code).toBe('INVALID_INPUT');
    expect((await mark({ bookingId: 'b1', key: 'a\u0000b', slotStart: T0 })).code).toBe('INVALID_INPUT');
    expect((await mark({ bookingId: 'b1', key: 'k', slotStart: 'soon' })).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findBookings({ after: { createdAt: T0 } as never }))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.countBookings({ slotStartFrom: 'today' as never }))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findBookings({ slotStartBefore: new Date('x') }))).code).toBe('INVALID_INPUT');
  });

  it('keeps reminder keys with commas, quotes and spaces as given', async () => {
    const slot = await autocommit(store).insertSchedule(newSchedule({ status: 'booked' }));
    const booking = await autocommit(store).insertBooking(
      newBookingOf(slot, { status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null }),
    );
    const key = `60:"sms, whatsapp" \\ {x}@${slot.startTime.toISOString()}`;
    const marked = await autocommit(store).markReminderSent({
      bookingId: booking?.id ?? '',
      key,
      slotStart: slot.startTime,
    });
    expect(marked?.remindersSent).toEqual([key]);
    expect((await store.getBooking(booking?.id ?? ''))?.remindersSent).toEqual([key]);
  });
});

describe('outbox', () => {
  let store: PostgresStore;
  beforeEach(async () => {
    store = await target.store();
  });

  const claim = { consumer: 'notifier', owner: 'A', now: T0, leaseUntil: new Date(T0.getTime() + 60_000), limit: 10 };

  it.each([
    ['a non-array', (tx: StoreOperations) => tx.appendOutbox({} as never)],
    ['a record without a key', (tx: StoreOperations) => tx.appendOutbox([{ ...outboxRecord('e1'), key: '' }])],
    [
      'a NUL in the payload',
      (tx: StoreOperations) => tx.appendOutbox([{ ...outboxRecord('e1'), payload: { note: 'a\u0000b' } }]),
    ],
    ['a fractional version', (tx: StoreOperations) => tx.appendOutbox([{ ...outboxRecord('e1'), version: 1.5 }])],
    ['an array payload', (tx: StoreOperations) => tx.appendOutbox([{ ...outboxRecord('e1'), payload: [] as never }])],
    ['a claim without a limit', (tx: StoreOperations) => tx.claimOutbox({ ...claim, limit: undefined as never })],
    ['a claim with keys not an array', (tx: StoreOperations) => tx.claimOutbox({ ...claim, keys: 'k' as never })],
    ['a claim with an invalid now', (tx: StoreOperations) => tx.claimOutbox({ ...claim, now: new Date('x') })],
    [
      'a failure without an error text',
      (tx: StoreOperations) => tx.failOutbox({ key: 'k', owner: 'A', error: 42 as never, retryAt: null }),
    ],
    [
      'a retention without a limit',
      (tx: StoreOperations) => tx.deleteDeliveredOutbox({ deliveredBefore: T0, limit: undefined as never }),
    ],
  ])('answers %s with INVALID_INPUT, writing nothing', async (_name, write) => {
    expect((await rejectionOf(store.transaction(write as (tx: StoreOperations) => Promise<unknown>))).code).toBe(
      'INVALID_INPUT',
    );
    expect(await store.findOutbox({})).toEqual([]);
  });

  it('answers a bad listing with INVALID_INPUT', async () => {
    expect((await rejectionOf(store.findOutbox({ status: 'sent' as never }))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findOutbox({ after: { createdAt: T0 } as never }))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findOutbox({ limit: -1 }))).code).toBe('INVALID_INPUT');
  });

  it('appends thousands of records in one statement, and claims them in (createdAt, key) order', async () => {
    const records = Array.from({ length: 5000 }, (_, i) =>
      outboxRecord(`e${String(i).padStart(5, '0')}`, 'notifier', i / 1000),
    );
    expect(await autocommit(store).appendOutbox([...records].reverse())).toBe(5000);
    const claimed = await autocommit(store).claimOutbox({
      ...claim,
      now: new Date(T0.getTime() + 3_600_000),
      limit: 3,
    });
    expect(claimed.map((r) => r.key)).toEqual(['e00000/notifier', 'e00001/notifier', 'e00002/notifier']);
    expect((await store.findOutbox({ status: 'pending', limit: 10_000 })).length).toBe(5000);
  });

  it("stores host ids and keys as given and keeps the payload's JSON types", async () => {
    const record = {
      ...outboxRecord("x'); DROP TABLE outbox; --", 'hooks'),
      bookingId: 'auth0|b 🩺',
      scheduleId: 'S1',
    };
    await autocommit(store).appendOutbox([record]);
    const [found] = await store.findOutbox({ bookingId: 'auth0|b 🩺' });
    expect(found).toMatchObject({ ...record, status: 'pending' });
    expect(found?.payload).toEqual(record.payload);
  });
});

describe('availability and time off', () => {
  let store: PostgresStore;
  beforeEach(async () => {
    store = await target.store();
  });

  /** A version of the doctor these tests look at. */
  const version = (overrides: Partial<NewAvailabilityRecord> = {}) =>
    availabilityRecord({ doctorId: 'd1', ...overrides });
  const timeOff = { doctorId: 'd1', start: T0, end: new Date(T0.getTime() + 3_600_000), reason: null };

  it.each([
    ['rules that are not an object', (tx: StoreOperations) => tx.insertAvailability(version({ rules: 'x' as never }))],
    [
      'a NUL in the rules',
      (tx: StoreOperations) =>
        tx.insertAvailability(version({ rules: { ...availabilityRecord().rules, timeZone: 'Europe/\u0000Berlin' } })),
    ],
    [
      'an invalid effectiveFrom',
      (tx: StoreOperations) => tx.insertAvailability(version({ effectiveFrom: new Date('x') })),
    ],
    [
      'an effectiveUntil that is not a Date',
      (tx: StoreOperations) => tx.insertAvailability(version({ effectiveUntil: 'soon' as never })),
    ],
    [
      'ending without an instant',
      (tx: StoreOperations) => tx.endAvailability({ doctorId: 'd1', at: undefined as never }),
    ],
    ['time off ending at its start', (tx: StoreOperations) => tx.insertTimeOff({ ...timeOff, end: T0 })],
    [
      'time off ending before its start',
      (tx: StoreOperations) => tx.insertTimeOff({ ...timeOff, end: new Date(T0.getTime() - 1) }),
    ],
    ['time off without a doctor', (tx: StoreOperations) => tx.insertTimeOff({ ...timeOff, doctorId: '' })],
    ['a NUL in the reason', (tx: StoreOperations) => tx.insertTimeOff({ ...timeOff, reason: 'a\u0000b' })],
    ['deleting an id that is not text', (tx: StoreOperations) => tx.deleteTimeOff(42 as never)],
  ])('answers %s with INVALID_INPUT, writing nothing', async (_name, write) => {
    expect((await rejectionOf(store.transaction(write as (tx: StoreOperations) => Promise<unknown>))).code).toBe(
      'INVALID_INPUT',
    );
    expect(
      await store.findAvailability({ doctorId: 'd1', from: new Date(0), to: new Date('2200-01-01T00:00:00Z') }),
    ).toEqual([]);
    expect(await store.findTimeOff({ doctorId: 'd1' })).toEqual([]);
  });

  it('answers a bad read with INVALID_INPUT, and an unknown time-off id with null', async () => {
    expect((await rejectionOf(store.getTimeOff({ $gt: '' } as never))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.getTimeOff('x'.repeat(201)))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findTimeOff({ doctorId: 'd1', limit: -1 }))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findTimeOff({} as never))).code).toBe('INVALID_INPUT');
    expect((await rejectionOf(store.findAvailability({ doctorId: 'd1', from: T0 } as never))).code).toBe(
      'INVALID_INPUT',
    );
    expect(await store.getTimeOff('64b0000000000000000000f1')).toBeNull();
    expect(await autocommit(store).deleteTimeOff('64b0000000000000000000f1')).toBe(false);
  });

  it('answers ranges reaching the ends of JavaScript time, which PostgreSQL cannot read, as open ranges', async () => {
    const [first, last] = [new Date(-8.64e15), new Date(8.64e15)];
    const created = await autocommit(store).insertAvailability(version());
    const off = await autocommit(store).insertTimeOff(timeOff);
    const slot = await autocommit(store).insertSchedule(newSchedule({ doctorId: 'd1' }));
    expect(await store.findAvailability({ doctorId: 'd1', from: first, to: last })).toEqual([created]);
    expect(await store.findAvailability({ doctorId: 'd1', from: last, to: last })).toEqual([created]);
    expect(await store.findAvailability({ doctorId: 'd1', from: first, to: first })).toEqual([]);
    expect(await store.findTimeOff({ doctorId: 'd1', startBefore: last, endAfter: first })).toEqual([off]);
    expect(await store.findTimeOff({ doctorId: 'd1', endAfter: last })).toEqual([]);
    expect(await store.findSchedules({ doctorId: 'd1', startFrom: first, startBefore: last })).toEqual([slot]);
    expect(await store.findSchedules({ doctorId: 'd1', endBefore: first })).toEqual([]);
    expect(await store.countBookings({ createdBefore: last })).toBe(0);
  });

  it('keeps the rules exactly as JSON (numbers, lists, fee) and host ids as given', async () => {
    const doctorId = "auth0|doctor'); DROP TABLE availability; --";
    const record = availabilityRecord({ doctorId, effectiveUntil: new Date(T0.getTime() + 1) });
    const created = await autocommit(store).insertAvailability(record);
    const [read] = await store.findAvailability({ doctorId, from: T0, to: new Date(T0.getTime() + 1) });
    expect(read).toEqual(created);
    expect(read?.rules).toStrictEqual(record.rules);
    expect(typeof read?.rules.fee.amount).toBe('number');
    const { rows } = await target.db.query<{ t: string }>(
      `SELECT jsonb_typeof(rules->'weekly') AS t FROM ${store.tables.availability} WHERE id = $1`,
      [created.id],
    );
    expect(rows).toEqual([{ t: 'array' }]);
  });
});
