// PostgresStore on a real server: concurrent migrations, the host's pool, bind parameters only, and faults (killed connection, restart, statement timeout).
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createCareslot } from '../../examples/express/careslot.js';
import { DEMO_DOCTORS } from '../../examples/express/demo-users.js';
import type { PgPoolClientLike, PgPoolLike } from '../../src/adapters/postgres/index.js';
import { PostgresStore } from '../../src/adapters/postgres/index.js';
import { type BookingStore, isBookingError, type Schedule, type StoreOperations } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { POLICY } from '../conformance/booking-policy-conformance.js';
import { outboxRecord } from '../conformance/outbox-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { createFixture, DOCTOR, rejectionOf } from '../support/engine-fixture.js';
import { findViolations } from '../support/invariants.js';
import { newBookingOf, newSchedule, T0 } from '../support/records.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { type ServerTarget, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL server tests (test/postgres/server.test.ts)');

/** A store whose transactions stop once after `method` ran, until `during` is done. */
function pausingAfter(store: BookingStore, method: keyof StoreOperations, during: () => Promise<void>): BookingStore {
  let paused = false;
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'transaction') {
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return <T>(fn: (tx: StoreOperations) => Promise<T>) =>
        target.transaction((tx) =>
          fn(
            new Proxy(tx, {
              get(inner, name, r) {
                const original = Reflect.get(inner, name, r);
                if (name !== method || typeof original !== 'function') return original;
                return async (...args: unknown[]) => {
                  const result = await (original as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
                  if (!paused) {
                    paused = true;
                    await during();
                  }
                  return result;
                };
              },
            }),
          ),
        );
    },
  });
}

const patientIds = (count: number, from: number) =>
  Array.from({ length: count }, (_, i) => `64c1${(from + i).toString(16).padStart(20, '0')}`);

if (serverAvailable) {
  const t: ServerTarget = await serverTarget();
  afterAll(() => t.close());
  /** A session of its own, as another client of the database (a DBA's, another app's). */
  const adminSession = async () => {
    const client = new pg.Client(t.server.config(t.database));
    client.on('error', () => {});
    await client.connect();
    return client;
  };

  const activeSlots = async (store: PostgresStore) =>
    (
      await t.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM (SELECT doctor_schedule_id FROM ${store.tables.bookings}
           WHERE status IN ('pending', 'scheduled') GROUP BY doctor_schedule_id HAVING count(*) > 1) AS doubled`,
      )
    ).rows[0]?.n;

  describe('migrate() on a real server', () => {
    it('applies the migrations exactly once when 6 processes start at once (advisory lock)', async () => {
      const stores = Array.from(
        { length: 6 },
        () => new PostgresStore({ pool: t.pool, schema: 'careslot_concurrent' }),
      );
      const results = await Promise.all(stores.map((s) => s.migrate()));
      expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], [], [], [1, 2, 3, 4, 5]]);
      const { rows } = await t.pool.query(`SELECT version FROM ${stores[0]?.tables.migrations} ORDER BY version`);
      expect(rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }]);
    });
  });

  describe("the host's pool", () => {
    it('is never ended by careslot: close() leaves it open and in use', async () => {
      const store = await t.store();
      await store.close();
      expect(t.pool.ended).toBe(false);
      expect((await t.pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(await store.findSchedules({})).toEqual([]);
    });

    it('receives every value as a bind parameter: no id, key or amount appears in any SQL text', async () => {
      const texts: string[] = [];
      const record = (text: string) => texts.push(text);
      const wrapClient = (client: pg.PoolClient): PgPoolClientLike => ({
        query: (text: string, values?: unknown[]) => {
          record(text);
          return client.query(text, values);
        },
        release: (error) => client.release(error),
        on: (event, listener) => client.on(event, listener),
        removeListener: (event, listener) => client.removeListener(event, listener),
      });
      const recording: PgPoolLike = {
        get totalCount() {
          return t.pool.totalCount;
        },
        query: (text: string, values?: unknown[]) => {
          record(text);
          return t.pool.query(text, values);
        },
        connect: async () => wrapClient(await t.pool.connect()),
      };
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const store = new PostgresStore({ pool: recording, schema: 'careslot_recorded', clock });
      await store.migrate();
      texts.length = 0;
      const f = createFixture({ clock, store });
      const patientId = 'patient-marker-7f3a';
      f.patients.addPatient({ id: patientId, name: 'Marker', plan: 'standard' });
      const slot = await f.slot(48 * 60, { amount: 4321 });
      const { booking } = await f.engine.book({ patientId, scheduleId: slot.id, idempotencyKey: 'key-marker-9c1e' });
      await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
      await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: patientId } });
      expect(texts.length).toBeGreaterThan(20);
      const leaked = texts.filter((text) =>
        ['patient-marker-7f3a', 'key-marker-9c1e', '4321', slot.id, booking.id, DOCTOR].some((v) => text.includes(v)),
      );
      expect(leaked).toEqual([]);
    });
  });

  describe('the example host on DATABASE_URL', () => {
    it('migrates the database, says it runs on PostgreSQL with the password hidden, and books there', async () => {
      const url = t.server.url(t.database).replace('careslot@', 'careslot:secret@');
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const example = await createCareslot({ DATABASE_URL: url }, { clock, timers: false });
      try {
        expect(example.mode).toBe('embedded');
        expect(example.parts.store).toBe(
          `PostgresStore (postgres://***@127.0.0.1:${t.server.port}/${t.database}, schema careslot)`,
        );
        const slot = await example.engine.createSchedule({
          doctorId: DEMO_DOCTORS[0].id,
          startTime: '2030-03-03T09:00:00Z',
          endTime: '2030-03-03T09:30:00Z',
          fee: { amount: 5000, currency: 'eur' },
          timeZone: 'Europe/Berlin',
        });
        const { rows } = await t.pool.query('SELECT id FROM careslot.doctor_appointment_schedules');
        expect(rows).toEqual([{ id: slot.id }]);
      } finally {
        await example.close();
      }
    });
  });

  describe('faults', () => {
    /** The host's pool, except that the answer to the next COMMIT after `lose()` never arrives (it still commits). */
    const losingCommitAnswers = () => {
      let armed = false;
      const pool: PgPoolLike = {
        get totalCount() {
          return t.pool.totalCount;
        },
        query: (text: string, values?: unknown[]) => t.pool.query(text, values),
        connect: async () => {
          const client = await t.pool.connect();
          return {
            query: async (text: string, values?: unknown[]) => {
              const result = await client.query(text, values);
              if (text === 'COMMIT' && armed) {
                armed = false;
                throw new Error('Connection terminated unexpectedly');
              }
              return result;
            },
            release: (error?: Error | boolean) => client.release(error),
            on: (event: 'error', listener: (error: Error) => void) => client.on(event, listener),
            removeListener: (event: 'error', listener: (error: Error) => void) =>
              client.removeListener(event, listener),
          };
        },
      };
      return {
        pool,
        lose: () => {
          armed = true;
        },
      };
    };

    it("reports a COMMIT whose answer was lost as STORE_ERROR with commitOutcome 'unknown' (it did commit)", async () => {
      const { pool, lose } = losingCommitAnswers();
      const store = new PostgresStore({ pool, schema: 'careslot_lost_commit' });
      await store.migrate();
      lose();
      const error = await rejectionOf(store.transaction((tx) => tx.insertSchedule(newSchedule())));
      expect(error).toMatchObject({ code: 'STORE_ERROR', details: { commitOutcome: 'unknown' } });
      expect(error.message).toMatch(/the commit's outcome is unknown \(it may have committed\)/);
      expect(await store.findSchedules({})).toHaveLength(1);
    });

    it('confirms a payment whose commit answer was lost: the engine finds it stored and finishes the after-commit work', async () => {
      const { pool, lose } = losingCommitAnswers();
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const store = new PostgresStore({ pool, schema: 'careslot_lost_confirm', clock });
      await store.migrate();
      const f = createFixture({ clock, store });
      const [patientId = ''] = patientIds(1, 3);
      f.patients.addPatient({ id: patientId, name: 'Lost', plan: 'standard' });
      const slot = await f.slot();
      const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
      const paid = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
      lose();
      const result = await f.engine.handlePaymentEvent(paid);
      expect(result.outcome).toBe('confirmed');
      expect(await store.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
      expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
      expect(f.notifications.map((n) => n.type)).toContain('appointmentBooking');
      // The provider's retry changes nothing.
      expect((await f.engine.handlePaymentEvent(paid)).outcome).toBe('duplicate');
      expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    });

    it('rolls back a booking whose connection is killed mid-transaction: STORE_ERROR with the cause, nothing written, the next call books', async () => {
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const store = await t.store({ clock });
      const admin = await adminSession();
      const killed: number[] = [];
      const faulty = pausingAfter(store, 'updateScheduleIf', async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction' AND pid <> pg_backend_pid()`,
          [t.database],
        );
        for (const { pid } of rows) {
          await admin.query('SELECT pg_terminate_backend($1)', [pid]);
          killed.push(pid);
        }
      });
      const f = createFixture({ clock, store: faulty });
      const [patientId = ''] = patientIds(1, 1);
      f.patients.addPatient({ id: patientId, name: 'Killed', plan: 'standard' });
      const slot = await f.slot();
      const error = await rejectionOf(f.engine.book({ patientId, scheduleId: slot.id }));
      await admin.end();
      expect(killed).toHaveLength(1);
      expect(error).toMatchObject({ code: 'STORE_ERROR', status: 500, details: { commitOutcome: 'not_committed' } });
      expect(error.message).toMatch(/PostgresStore: transaction failed/);
      expect(error.cause).toBeInstanceOf(Error);
      // The slot claim died with the connection; the pool hands out a working one next.
      expect(await store.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
      expect(await store.findBookings({})).toEqual([]);
      const retry = await f.engine.book({ patientId, scheduleId: slot.id });
      expect(retry.booking.status).toBe('pending');
      expect(await store.countBookings({})).toBe(1);
    });

    it('stops a statement over statementTimeoutMs: STORE_ERROR with the 57014 cause, nothing written, and books once the lock is gone', async () => {
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const store = await t.store({ clock, transactionOptions: { statementTimeoutMs: 300 } });
      const f = createFixture({ clock, store });
      const [patientId = ''] = patientIds(1, 2);
      f.patients.addPatient({ id: patientId, name: 'Waiting', plan: 'standard' });
      const slot = await f.slot();
      const admin = await adminSession();
      // Another session holds the slot's row lock, so the booking's compare-and-set waits on it.
      await admin.query('BEGIN');
      await admin.query(`SELECT 1 FROM ${store.tables.schedules} WHERE id = $1 FOR UPDATE`, [slot.id]);
      const started = Date.now();
      const error = await rejectionOf(f.engine.book({ patientId, scheduleId: slot.id }));
      await admin.query('ROLLBACK');
      await admin.end();
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(error).toMatchObject({ code: 'STORE_ERROR' });
      expect(error.message).toMatch(/\[57014\].*statement timeout/);
      expect((error.cause as { code?: string }).code).toBe('57014');
      expect(await store.getSchedule(slot.id)).toMatchObject({ status: 'available' });
      expect(await store.countBookings({})).toBe(0);
      await expect(f.engine.book({ patientId, scheduleId: slot.id })).resolves.toBeDefined();
    });

    it('loses and doubles nothing when the server restarts during a stream of bookings; retries and reconcile finish the rest', async () => {
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const store = await t.store({ clock });
      const f = createFixture({ clock, store });
      const COUNT = 40;
      const patients = patientIds(COUNT, 100);
      for (const id of patients) f.patients.addPatient({ id, name: id, plan: 'standard' });
      const slots: Schedule[] = [];
      for (let i = 0; i < COUNT; i++) slots.push(await f.slot(48 * 60 + i * 60));

      type Outcome = { ok: true; bookingId: string } | { ok: false; code: string; cause: unknown };
      const outcomes: Outcome[] = [];
      let next = 0;
      let restarted: Promise<void> | null = null;
      const worker = async () => {
        while (next < COUNT) {
          const i = next++;
          if (i === 12) restarted ??= t.server.stop('immediate').then(() => t.server.restart());
          try {
            const { booking } = await f.engine.book({
              patientId: patients[i] ?? '',
              scheduleId: slots[i]?.id ?? '',
              idempotencyKey: `stream-${i}`,
            });
            outcomes[i] = { ok: true, bookingId: booking.id };
          } catch (error) {
            outcomes[i] = {
              ok: false,
              code: isBookingError(error) ? error.code : String(error),
              cause: (error as Error).cause,
            };
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      await restarted;

      const failed = outcomes.flatMap((o, i) => (o.ok ? [] : [{ i, o }]));
      // The outage was seen, and only as STORE_ERROR with the driver's error as cause.
      expect(failed.length).toBeGreaterThan(0);
      for (const { o } of failed) {
        expect(o).toMatchObject({ code: 'STORE_ERROR' });
        if (!o.ok) expect(o.cause).toBeDefined();
      }
      // Nothing acknowledged was lost.
      for (const o of outcomes) if (o.ok) expect(await store.getBooking(o.bookingId)).not.toBeNull();
      // The callers retry with their idempotency keys: each gets one booking, none twice.
      for (const { i } of failed) {
        const { booking } = await f.engine.book({
          patientId: patients[i] ?? '',
          scheduleId: slots[i]?.id ?? '',
          idempotencyKey: `stream-${i}`,
        });
        expect(booking.scheduleId).toBe(slots[i]?.id);
      }
      for (const id of patients) expect(await store.countBookings({ patientId: id })).toBe(1);
      expect(await activeSlots(store)).toBe(0);

      // Pay the bookings whose checkout opened; holds the outage left without one time out.
      let paid = 0;
      for (const booking of await store.findBookings({ status: 'pending' })) {
        const session = f.gateway.sessionForBooking(booking.id);
        if (session?.status !== 'open') continue;
        await f.engine.handlePaymentEvent(f.gateway.pay(session.id));
        paid++;
      }
      expect(paid).toBeGreaterThan(COUNT / 2);
      await f.advance(30);
      await f.engine.reconcile();
      expect(await store.countBookings({ status: 'pending' })).toBe(0);
      expect(await store.countBookings({ status: 'scheduled' })).toBe(paid);
      expect(await findViolations(store, { now: clock.now() })).toEqual([]);
    }, 60_000);
  });

  describe('the outbox on a real server', () => {
    const leaseOf = (owner: string, now: Date, limit: number) => ({
      consumer: 'notifier',
      owner,
      now,
      leaseUntil: new Date(now.getTime() + 600_000),
      limit,
    });

    it('delivers every record exactly once with 4 dispatchers claiming batches of 25 at once', async () => {
      const store = await t.store();
      const COUNT = 1000;
      await store.transaction((tx) =>
        tx.appendOutbox(Array.from({ length: COUNT }, (_, i) => outboxRecord(`e${i}`, 'notifier', i / 1000))),
      );
      const now = new Date(T0.getTime() + 3_600_000);
      const delivered: string[] = [];
      const started = performance.now();
      let claims = 0;
      await Promise.all(
        ['A', 'B', 'C', 'D'].map(async (owner) => {
          for (;;) {
            const batch = await store.transaction((tx) => tx.claimOutbox(leaseOf(owner, now, 25)));
            claims++;
            if (batch.length === 0) return;
            for (const record of batch) {
              expect(record.leaseOwner).toBe(owner);
              const done = await store.transaction((tx) => tx.completeOutbox({ key: record.key, owner, at: now }));
              expect(done).toBe(true);
              delivered.push(record.key);
            }
          }
        }),
      );
      const ms = performance.now() - started;
      console.log(`outbox: ${COUNT} records delivered by 4 dispatchers in ${Math.round(ms)} ms (${claims} claims)`);
      expect(delivered).toHaveLength(COUNT);
      expect(new Set(delivered).size).toBe(COUNT);
      expect((await store.findOutbox({ status: 'delivered', limit: COUNT + 1 })).length).toBe(COUNT);
    }, 60_000);

    it('passes over a record another session holds locked instead of waiting for it (SKIP LOCKED)', async () => {
      const store = await t.store();
      await store.transaction((tx) =>
        tx.appendOutbox([outboxRecord('e0', 'notifier', 0), outboxRecord('e1', 'notifier', 1)]),
      );
      const admin = await adminSession();
      try {
        await admin.query('BEGIN');
        await admin.query(`SELECT 1 FROM ${store.tables.outbox} WHERE key = $1 FOR UPDATE`, ['e0/notifier']);
        const claimed = await store.transaction((tx) =>
          tx.claimOutbox(leaseOf('A', new Date(T0.getTime() + 3_600_000), 10)),
        );
        expect(claimed.map((r) => r.key)).toEqual(['e1/notifier']);
        await admin.query('ROLLBACK');
        const rest = await store.transaction((tx) =>
          tx.claimOutbox(leaseOf('B', new Date(T0.getTime() + 3_600_000), 10)),
        );
        expect(rest.map((r) => r.key)).toEqual(['e0/notifier']);
      } finally {
        await admin.end();
      }
    });
  });

  describe("the host's type parsers", () => {
    it('reads bookings whole when every column arrives as text: reminder keys, policy and times', async () => {
      const raw = new pg.Pool({
        ...t.server.config(t.database),
        max: 2,
        types: { getTypeParser: () => (value: string) => value },
      });
      // As a host's pool must: idle connections may be terminated when the test server stops.
      raw.on('error', () => {});
      try {
        const store = new PostgresStore({ pool: raw, schema: 'careslot_text_parsers' });
        await store.migrate();
        const ops = autocommit(store);
        const slot = await ops.insertSchedule(newSchedule({ status: 'booked' }));
        const odd = 'a "b", {c} \\ d';
        const booking = await ops.insertBooking(
          newBookingOf(slot, { status: 'scheduled', policy: POLICY, remindersSent: ['1440:email', odd] }),
        );
        const key = `60:sms@${slot.startTime.toISOString()}`;
        const marked = await ops.markReminderSent({ bookingId: booking?.id ?? '', key, slotStart: slot.startTime });
        expect(marked).toMatchObject({
          remindersSent: ['1440:email', odd, key],
          policy: POLICY,
          slotStart: slot.startTime,
        });
        expect(await store.getBooking(booking?.id ?? '')).toEqual(marked);
      } finally {
        await raw.end();
      }
    });
  });
} else {
  skippedWithoutServer('PostgresStore server tests');
}
