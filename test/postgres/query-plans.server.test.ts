// Every statement PostgresStore sends for the engine's use cases, explained on a real server holding a clinic's worth of rows: each is served by an index, and each read touches a bounded number of rows.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgPoolClientLike, PgPoolLike, PostgresStore } from '../../src/adapters/postgres/index.js';
import type { PostgresTableKey } from '../../src/adapters/postgres/tables.js';
import { ManualClock } from '../../src/testing/index.js';
import { createFixture } from '../support/engine-fixture.js';
import { runQueryWorkload, WORKLOAD_PLANS } from '../support/query-workload.js';
import { SEED, seedStatements } from './support/plan-seed.js';
import { announcePostgresSkip } from './support/postgres-server.js';
import { type ServerTarget, serverAvailable, serverTarget, skippedWithoutServer } from './support/targets.js';

announcePostgresSkip('PostgreSQL query-plan test (test/postgres/query-plans.server.test.ts)');

const START = '2030-03-01T08:00:00Z';
/** A seeded doctor with 200 slots and a long ledger. */
const SEEDED_DOCTOR = `5ed0${(7).toString(16).padStart(20, '0')}`;
/** The most rows one read may touch (heap rows returned or filtered out, summed over its scans). */
const MAX_ROWS_TOUCHED = 1000;

/** The tables that grow with the clinic: none of them may be read by a sequential scan. */
const BIG_TABLES: readonly PostgresTableKey[] = [
  'schedules',
  'bookings',
  'payments',
  'ledger',
  'walletBalances',
  'outbox',
  'timeOff',
  'availability',
  'events',
  'customers',
];

interface Sent {
  text: string;
  values: unknown[] | undefined;
}

/** A pool that notes every statement the store sends, on its own reads and on its transactions' connections. */
function recordingPool(pool: pg.Pool, sent: Sent[]): PgPoolLike {
  return {
    get totalCount() {
      return pool.totalCount;
    },
    query: (text, values) => {
      sent.push({ text, values });
      return pool.query(text, values);
    },
    async connect(): Promise<PgPoolClientLike> {
      const client = await pool.connect();
      return {
        query: (text, values) => {
          sent.push({ text, values });
          return client.query(text, values);
        },
        release: (error) => client.release(error),
        on: (event, listener) => client.on(event, listener),
        removeListener: (event, listener) => client.removeListener(event, listener),
      };
    },
  };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}

const HEAP_SCANS = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);

/** Heap rows a plan run by EXPLAIN ANALYZE returned or threw away, over all its scans and loops. */
function rowsTouched(nodes: readonly PlanNode[]): number {
  return nodes
    .filter((n) => HEAP_SCANS.has(n['Node Type']))
    .reduce(
      (sum, n) =>
        sum +
        ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) *
          (n['Actual Loops'] ?? 1),
      0,
    );
}

interface Explained {
  /** The statement with the schema left out, for messages. */
  shape: string;
  text: string;
  values: unknown[] | undefined;
  nodes: PlanNode[];
  /** SELECTs only (run by EXPLAIN ANALYZE inside a rolled-back transaction). */
  touched: number | null;
}

const CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET\b)/i;

if (serverAvailable) {
  const t: ServerTarget = await serverTarget();
  afterAll(() => t.close());

  describe(`query plans on a PostgreSQL server with ${SEED.slots} slots and ${SEED.bookings} bookings of ${SEED.doctors} doctors`, () => {
    const sent: Sent[] = [];
    let store: PostgresStore;
    const explained: Explained[] = [];
    const relation = new Map<string, PostgresTableKey>();

    beforeAll(async () => {
      // The workload runs on a schema of its own, as the engine tests do (and keeps every
      // invariant); its statements are explained on a seeded schema it never touched, so a
      // clean-up or sweep that already ran still has its rows to show its plan on.
      const clock = new ManualClock(START);
      const workload = await t.store({ clock, pool: recordingPool(t.pool, sent) });
      store = await t.store({ clock, pool: recordingPool(t.pool, sent) });
      for (const [key, table] of Object.entries(store.tables)) {
        relation.set(table.split('.')[1]?.replaceAll('"', '') ?? table, key as PostgresTableKey);
      }
      const seeding = Date.now();
      for (const sql of seedStatements(store, new Date(START))) await t.pool.query(sql);
      const seeded = Date.now() - seeding;
      sent.length = 0;

      await runQueryWorkload(createFixture({ store: workload, plans: WORKLOAD_PLANS, clock }), workload);
      // The port's keyset pages of slots, as a host or a paging sweep asks for them.
      const [first] = await store.findSchedules({ doctorId: SEEDED_DOCTOR, startFrom: new Date(START), limit: 1 });
      if (!first) throw new Error('no seeded slot');
      const after = { startTime: first.startTime, id: first.id };
      await store.findSchedules({ doctorId: SEEDED_DOCTOR, after, limit: 50 });
      await store.findSchedules({ doctorId: SEEDED_DOCTOR, status: 'available', after, limit: 50 });
      await store.findSchedules({ status: 'available', after, limit: 50 });
      await store.findSchedules({ after, limit: 50 });
      await store.findSchedules({ status: 'expired', endBefore: new Date(START), after, limit: 100 });
      await store.findSchedules({ status: ['available', 'pending'], endBefore: new Date(START), limit: 100 });
      await store.findSchedules({ status: 'booked', endBefore: new Date(START), limit: 100 });
      // A seeded doctor's listings, over months of history.
      await store.findSchedules({ doctorId: SEEDED_DOCTOR, status: 'available', limit: 100 });
      await store.findTimeOff({ doctorId: SEEDED_DOCTOR, endAfter: new Date(START), limit: 100 });
      await store.findBookings({ doctorId: SEEDED_DOCTOR, status: 'scheduled', limit: 100 });
      // A long ledger: the wallet of a seeded doctor, and its second page.
      await store.ledgerBalances({ doctorId: SEEDED_DOCTOR });
      const page = await store.findLedgerEntries({ doctorId: SEEDED_DOCTOR, limit: 5 });
      const last = page.at(-1);
      if (last) await store.findLedgerEntries({ doctorId: SEEDED_DOCTOR, limit: 5, after: last });
      const recorded = sent
        .splice(0)
        .map((x) => ({ ...x, text: x.text.replaceAll(`"${workload.schema}".`, `"${store.schema}".`) }));

      const seen = new Map<string, number>();
      const schema = `"${store.schema}".`;
      for (const { text, values } of recorded) {
        if (CONTROL.test(text) || text.includes('to_regclass') || text.includes('pg_advisory')) continue;
        // Each statement text with at most 3 sets of values: enough to see the plans values change.
        const n = seen.get(text) ?? 0;
        if (n >= 3) continue;
        seen.set(text, n + 1);
        const read = /^\s*SELECT\b/i.test(text);
        const client = await t.pool.connect();
        try {
          let plan: PlanNode;
          if (read) {
            await client.query('BEGIN');
            const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
            await client.query('ROLLBACK');
            plan = (rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]?.Plan as PlanNode;
          } else {
            const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${text}`, values);
            plan = (rows[0] as { 'QUERY PLAN': { Plan: PlanNode }[] })['QUERY PLAN'][0]?.Plan as PlanNode;
          }
          const nodes = flatten(plan);
          explained.push({
            shape: text.replaceAll(schema, '').replaceAll('"', '').replace(/\s+/g, ' ').trim(),
            text,
            values,
            nodes,
            touched: read ? rowsTouched(nodes) : null,
          });
        } finally {
          client.release();
        }
      }
      console.log(`query plans: seeded in ${seeded} ms, ${explained.length} statements explained`);
      const lines = explained.map((e) => {
        const scans = e.nodes
          .filter((n) => n['Relation Name'] !== undefined || n['Index Name'] !== undefined)
          .map((n) => `${n['Node Type']}${n['Index Name'] ? ` ${n['Index Name']}` : ` ${n['Relation Name']}`}`);
        // The columns read are the same for every statement of a table: its WHERE and ORDER BY say more.
        const shape = e.shape.replace(/^SELECT .*? FROM /, 'SELECT … FROM ');
        return `${String(e.touched ?? '-').padStart(5)}  ${[...new Set(scans)].join(', ')}\n       ${shape.slice(0, 300)}`;
      });
      // CARESLOT_PRINT_PLANS=1 prints every statement with its scans and the rows it touched.
      if (process.env.CARESLOT_PRINT_PLANS === '1') {
        console.log(`query plans (rows touched, scans, statement):\n${[...new Set(lines)].join('\n')}`);
      }
    }, 120_000);

    const bigTable = (n: PlanNode) => {
      const key = n['Relation Name'] === undefined ? undefined : relation.get(n['Relation Name']);
      return key !== undefined && BIG_TABLES.includes(key);
    };

    it('explained the statements the listings, booking, webhooks, sweep, clean-up, wallet, outbox and availability send', () => {
      const sql = explained.map((e) => e.shape);
      const sends = (pattern: RegExp) => sql.some((s) => pattern.test(s));
      expect(explained.length).toBeGreaterThan(40);
      expect(sends(/FROM doctor_appointment_schedules WHERE created_by = \$1 AND status = ANY/)).toBe(true); // overlap check
      expect(
        sends(/FROM doctor_appointment_schedules WHERE status = \$1 AND end_time <= \$2 AND start_time <= \$2/),
      ).toBe(true); // clean-up
      expect(sends(/WHERE end_time <= \$1 AND start_time <= \$1 AND status = \$3 .* UNION ALL/)).toBe(true); // sweep
      expect(sends(/\(start_time, id\) > /)).toBe(true); // slot pages
      expect(sends(/FROM doctor_patient_schedule_bookings WHERE status = \$1 AND hold_expires_at <=/)).toBe(true); // holds
      expect(sends(/WHERE status = \$1 AND slot_start >= .* OFFSET 0/)).toBe(true); // reminders
      expect(sends(/checkout_session_id = \$1/)).toBe(true);
      expect(sends(/count\(\*\)::int AS n FROM doctor_patient_schedule_bookings WHERE patient_id = \$1/)).toBe(true);
      expect(sends(/FROM payment_transactions WHERE refunds @>/)).toBe(true);
      expect(sends(/FROM wallet_balances WHERE doctor_id = \$1/)).toBe(true);
      expect(sends(/FROM doctor_wallet_ledger WHERE doctor_id = \$1/)).toBe(true);
      expect(sends(/FROM outbox WHERE status = \$1 AND booking_id = \$2/)).toBe(true);
      expect(sends(/UPDATE outbox SET lease_owner/)).toBe(true); // claims
      expect(sends(/FROM availability WHERE doctor_id = \$1/)).toBe(true);
      expect(sends(/FROM time_off WHERE doctor_id = \$1 AND start_time </)).toBe(true);
    });

    it(`reads none of the big tables (${BIG_TABLES.join(', ')}) with a sequential scan`, () => {
      const scans = explained
        .filter((e) => e.nodes.some((n) => n['Node Type'] === 'Seq Scan' && bigTable(n)))
        .map((e) => ({ shape: e.shape, values: e.values }));
      expect(scans).toEqual([]);
    });

    it(`touches at most ${MAX_ROWS_TOUCHED} rows in any read, whatever the size of the tables`, () => {
      const heavy = explained
        .filter((e) => e.touched !== null && e.touched > MAX_ROWS_TOUCHED)
        .map((e) => ({ shape: e.shape, values: e.values, touched: e.touched }));
      expect(heavy).toEqual([]);
    });

    it('reads a wallet from the running totals by primary key, never from the ledger', () => {
      const wallet = explained.filter((e) => e.shape.includes('FROM wallet_balances WHERE doctor_id'));
      expect(wallet.length).toBeGreaterThan(0);
      for (const e of wallet) {
        const relations = e.nodes.flatMap((n) => (n['Relation Name'] === undefined ? [] : [n['Relation Name']]));
        const indexes = e.nodes.flatMap((n) => (n['Index Name'] === undefined ? [] : [n['Index Name']]));
        expect(new Set(relations)).toEqual(new Set([`${store.tablePrefix}wallet_balances`]));
        expect(new Set(indexes)).toEqual(new Set([`${store.tablePrefix}wallet_balances_pkey`]));
        expect(e.touched).toBeLessThanOrEqual(2);
      }
    });
  });
} else {
  skippedWithoutServer('query-plan test');
}
