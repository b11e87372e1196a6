// The doctors' running balances on a real PostgreSQL server: concurrent appends from many connections and processes, a rolled-back append, and migration 5 backfilling a ledger that is being written to.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/adapters/postgres/index.js';
import { checksumOf, MIGRATIONS } from '../../src/adapters/postgres/migrations.js';
import { fillTemplate, tableNames } from '../../src/adapters/postgres/tables.js';
import type { NewLedgerEntry } from '../../src/index.js';
import { rejectionOf } from '../support/engine-fixture.js';
import type { LedgerProcessConfig } from './support/ledger-process.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { type ServerTarget, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL wallet-balance test (test/postgres/wallet-balances.server.test.ts)');

const DOCTOR = '64b0000000000000000000d1';
const T0 = new Date('2030-03-01T08:00:00Z');
/**
 * Every append of these races writes the same total row, so each contended round commits one and
 * reruns the others (first updater wins): enough attempts for every one of the writers to get
 * through, where the default 50 bounds the writers of one row that all do.
 */
const MAX_ATTEMPTS = 400;

/** Line `i` of the race: credits and some debits, amounts all different, keys `race:<i>`. */
function line(i: number): NewLedgerEntry {
  return {
    key: `race:${i}`,
    doctorId: DOCTOR,
    bookingId: `64b0${i.toString(16).padStart(20, '0')}`,
    kind: i % 5 === 0 ? 'debit' : 'credit',
    amount: 100 + i,
    currency: 'eur',
    createdAt: new Date(T0.getTime() + i * 1000),
  };
}

const signed = (e: NewLedgerEntry) => (e.kind === 'credit' ? e.amount : -e.amount);

/** The doctor's total, the SUM of the lines, and how many lines, straight from the tables. */
async function stored(t: ServerTarget, store: PostgresStore, currency = 'eur') {
  const tb = store.tables;
  const { rows } = await t.pool.query<{ total: string | null; sum: string | null; lines: number }>(
    `SELECT (SELECT balance FROM ${tb.walletBalances} WHERE doctor_id = $1 AND currency = $2)::text AS total,
            (SELECT SUM(CASE WHEN kind = 'credit' THEN amount ELSE -amount END) FROM ${tb.ledger}
              WHERE doctor_id = $1 AND currency = $2)::text AS sum,
            (SELECT count(*)::int FROM ${tb.ledger} WHERE doctor_id = $1 AND currency = $2) AS lines`,
    [DOCTOR, currency],
  );
  const row = rows[0];
  return { total: Number(row?.total ?? 0), sum: Number(row?.sum ?? 0), lines: Number(row?.lines ?? 0) };
}

/** A ledger-process child, with its one-line JSON replies. */
function startProcess(config: LedgerProcessConfig) {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'support/ledger-process.ts')],
    { env: { ...process.env, CARESLOT_LEDGER_PROCESS: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const replies: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    const next = waiting.shift();
    if (next) next(message);
    else replies.push(message);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    async next(phase: string): Promise<Record<string, unknown>> {
      const message =
        replies.shift() ??
        (await Promise.race([
          new Promise<Record<string, unknown>>((resolve) => waiting.push(resolve)),
          exited.then((code) => ({ phase: 'exit', code })),
        ]));
      if (message.phase !== phase) throw new Error(`process answered ${JSON.stringify(message)}:\n${stderr}`);
      return message;
    },
    go: () => child.stdin?.write('go\n'),
    exited,
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

if (serverAvailable) {
  const t: ServerTarget = await serverTarget({ poolSize: 20 });
  afterAll(() => t.close());

  describe('wallet balances on a PostgreSQL server', () => {
    it('keeps the total equal to the sum of the lines when 300 transactions on 20 connections append to one doctor and currency at once, a third of them a key already taken', async () => {
      const store = await t.store({ transactionOptions: { maxAttempts: MAX_ATTEMPTS } });
      const entries = Array.from({ length: 300 }, (_, i) => line(i % 200));
      const results = await Promise.all(entries.map((entry) => store.transaction((tx) => tx.appendLedgerEntry(entry))));
      expect(results.filter(Boolean)).toHaveLength(200);
      const expected = Array.from({ length: 200 }, (_, i) => signed(line(i))).reduce((a, b) => a + b, 0);
      expect(await stored(t, store)).toEqual({ total: expected, sum: expected, lines: 200 });
      expect(await store.ledgerBalances({ doctorId: DOCTOR })).toEqual({ eur: expected });
    }, 120_000);

    it('keeps the total equal to the sum of the lines when 3 processes with pools of their own append 450 lines at once, overlapping keys included', async () => {
      const store = await t.store();
      // Process p appends lines [100p, 100p + 150): each neighbour shares 50 keys with it.
      const processes = [0, 1, 2].map((p) =>
        startProcess({
          pool: t.server.config(t.database),
          schema: store.schema,
          poolSize: 10,
          maxAttempts: MAX_ATTEMPTS,
          entries: Array.from({ length: 150 }, (_, i) => {
            const e = line(100 * p + i);
            return { ...e, createdAt: e.createdAt.toISOString() };
          }),
        }),
      );
      try {
        await Promise.all(processes.map((p) => p.next('ready')));
        for (const p of processes) p.go();
        const done = await Promise.all(processes.map((p) => p.next('done')));
        expect(done.flatMap((d) => d.errors as string[])).toEqual([]);
        const added = done.flatMap((d) => d.added as string[]);
        // Every key once, whichever process got it.
        expect(added).toHaveLength(350);
        expect(new Set(added).size).toBe(350);
        expect(await Promise.all(processes.map((p) => p.exited))).toEqual([0, 0, 0]);
      } finally {
        for (const p of processes) p.kill();
      }
      const expected = Array.from({ length: 350 }, (_, i) => signed(line(i))).reduce((a, b) => a + b, 0);
      expect(await stored(t, store)).toEqual({ total: expected, sum: expected, lines: 350 });
    }, 120_000);

    it('leaves the total as it was when a transaction that appended a line fails after it, even while others append', async () => {
      const store = await t.store({ transactionOptions: { maxAttempts: MAX_ATTEMPTS } });
      const failing = Array.from({ length: 20 }, (_, i) =>
        rejectionOf(
          store.transaction(async (tx) => {
            await tx.appendLedgerEntry(line(1000 + i));
            throw new Error('after the append');
          }),
        ),
      );
      const passing = Array.from({ length: 20 }, (_, i) => store.transaction((tx) => tx.appendLedgerEntry(line(i))));
      const [errors, added] = await Promise.all([Promise.all(failing), Promise.all(passing)]);
      expect(errors.map((e) => e.message)).toEqual(errors.map(() => 'after the append'));
      expect(added).toEqual(added.map(() => true));
      const expected = Array.from({ length: 20 }, (_, i) => signed(line(i))).reduce((a, b) => a + b, 0);
      expect(await stored(t, store)).toEqual({ total: expected, sum: expected, lines: 20 });
    }, 60_000);

    it('backfills the totals in migration 5 with a line an older careslot was committing meanwhile, applying 5 once for 4 processes migrating at once', async () => {
      const schema = 'careslot_wallet_upgrade';
      const names = tableNames(schema, '');
      // The schema at version 4, with lines an older careslot wrote.
      const setup = await t.pool.connect();
      try {
        await setup.query(`CREATE SCHEMA "${schema}"`);
        await setup.query(
          `CREATE TABLE ${names.qualified.migrations} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        for (const migration of MIGRATIONS.slice(0, 4)) {
          await setup.query(fillTemplate(migration.sql, names));
          await setup.query(`INSERT INTO ${names.qualified.migrations} (version, name, checksum) VALUES ($1, $2, $3)`, [
            migration.version,
            migration.name,
            checksumOf(migration),
          ]);
        }
      } finally {
        setup.release();
      }
      const insertLine = (client: { query: (text: string, values: unknown[]) => Promise<unknown> }, i: number) => {
        const e = line(i);
        return client.query(
          `INSERT INTO ${names.qualified.ledger} (id, key, doctor_id, booking_id, kind, amount, currency, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [`old${i}`, e.key, e.doctorId, e.bookingId, e.kind, e.amount, e.currency, e.createdAt],
        );
      };
      for (let i = 0; i < 10; i++) await insertLine(t.pool, i);

      // An older careslot process, mid-transaction on a line, when the new ones start migrating.
      const old = await t.pool.connect();
      const stores = Array.from({ length: 4 }, () => new PostgresStore({ pool: t.pool, schema }));
      try {
        await old.query('BEGIN');
        await insertLine(old, 10);
        const migrating = Promise.all(stores.map((s) => s.migrate()));
        // The migration waits for that transaction (the ledger's SHARE lock), the others for the migration.
        for (;;) {
          const { rows } = await t.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'relation' AND relation = $1::regclass`,
            [names.qualified.ledger],
          );
          if ((rows[0]?.n ?? 0) > 0) break;
          await new Promise((resolve) => setImmediate(resolve));
        }
        await old.query('COMMIT');
        const results = await migrating;
        expect(results.map((r) => r.applied).sort()).toEqual([[], [], [], [5]]);
      } finally {
        old.release();
      }
      const store = stores[0] as PostgresStore;
      const expected = Array.from({ length: 11 }, (_, i) => signed(line(i))).reduce((a, b) => a + b, 0);
      expect(await stored(t, store)).toEqual({ total: expected, sum: expected, lines: 11 });
      expect(await store.transaction((tx) => tx.appendLedgerEntry(line(11)))).toBe(true);
      expect(await store.ledgerBalances({ doctorId: DOCTOR })).toEqual({ eur: expected + signed(line(11)) });
    }, 60_000);
  });
} else {
  skippedWithoutServer('wallet-balance test');
}
