// Every query careslot sends has an index that serves it (ESR), checked offline against a model of the planner's rules; query-plans.mongo.test.ts asks a real server's explain().
import { describe, expect, it } from 'vitest';
import { MONGOOSE_STORE_INDEXES } from '../../src/adapters/mongoose/index.js';
import { READ_BATCH_SIZE } from '../../src/adapters/mongoose/mongoose-operations.js';
import { ledgerBalancesPipeline } from '../../src/adapters/mongoose/queries.js';
import { autocommit } from '../support/autocommit.js';
import { runQueryWorkload, workloadFixture } from '../support/query-workload.js';
import { at, ledgerEntry, newSchedule } from '../support/records.js';
import { DOC, oid } from './samples.js';
import { createFakeMongo, type RecordedQuery } from './support/fake-mongo.js';
import { classify, supportingIndexes, whyNot } from './support/index-support.js';
import { planProblem, recordQueries } from './support/query-log.js';

const q = (collection: RecordedQuery['collection'], filter: Record<string, unknown>, sort?: Record<string, 1 | -1>) =>
  ({ collection, method: 'find', filter, ...(sort ? { sort } : {}), inTransaction: false }) as RecordedQuery;

describe('the planner model the offline check uses', () => {
  it('takes plain values, $eq and one-value $in as equalities, longer $in as merged equalities, comparisons as ranges', () => {
    expect(
      ['a', { $eq: 'a', $type: 'string' }, { $in: ['a'] }, { $in: ['a', 'b'] }, { $lt: 1 }, { $ne: 1 }].map(classify),
    ).toEqual(['eq', 'eq', 'eq', 'in', 'range', 'other']);
  });

  it('refuses a $type partial index to a plain equality, and accepts it for { $eq, $type }', () => {
    const index = {
      fields: { checkoutSessionId: 1 as const },
      options: { name: 'i', partialFilterExpression: { checkoutSessionId: { $type: 'string' } } },
    };
    expect(whyNot(index, q('booking', { checkoutSessionId: 'cs_1' }))).toMatch(/partial filter/);
    expect(whyNot(index, q('booking', { checkoutSessionId: { $eq: 'cs_1', $type: 'string' } }))).toBeNull();
  });

  it('refuses an index whose fields do not end in the sort, or put a range before it (a blocking SORT)', () => {
    const doctorStart = { fields: { createdBy: 1 as const, startTime: 1 as const }, options: { name: 'old' } };
    const sort = { startTime: 1, _id: 1 } as const;
    expect(whyNot(doctorStart, q('schedule', { createdBy: 'd' }, sort))).toMatch(/sort on _id/);
    const statusEnd = {
      fields: { status: 1 as const, endTime: 1 as const, startTime: 1 as const, _id: 1 as const },
      options: { name: 'x' },
    };
    expect(whyNot(statusEnd, q('schedule', { status: 'expired', endTime: { $lte: 1 } }, sort))).toMatch(
      /sort on startTime/,
    );
  });

  it('refuses an index that leaves a filtered field to be checked after fetching', () => {
    const index = { fields: { patientId: 1 as const, createdAt: 1 as const, _id: 1 as const }, options: { name: 'p' } };
    expect(
      whyNot(index, q('booking', { patientId: 'p', status: { $in: ['pending'] } }, { createdAt: 1, _id: 1 })),
    ).toMatch(/status is not in the index/);
  });
});

describe("every query the engine sends is served by one of careslot's indexes", () => {
  it('finds a supporting index for each query of the whole workload (sweep, listings, wallet, overlap check, booking, webhooks)', async () => {
    const fake = createFakeMongo();
    await runQueryWorkload(workloadFixture(fake.store), fake.store);
    const unsupported = fake.queries
      .filter((query) => supportingIndexes(MONGOOSE_STORE_INDEXES[query.collection], query).length === 0)
      .map((query) => ({
        ...query,
        why: MONGOOSE_STORE_INDEXES[query.collection].map((i) => `${i.options.name}: ${whyNot(i, query)}`),
      }));
    expect(unsupported).toEqual([]);
    // The workload reached what it is for.
    const seen = (collection: string, method: string, field: string) =>
      fake.queries.some((x) => x.collection === collection && x.method === method && field in x.filter);
    expect(seen('schedule', 'find', 'endTime')).toBe(true); // the overlap check, the sweep, the clean-up
    expect(seen('booking', 'find', 'holdExpiresAt')).toBe(true); // the sweep
    expect(seen('booking', 'countDocuments', 'mode')).toBe(true); // the free quota
    expect(seen('booking', 'find', 'slotStart')).toBe(true); // the reminder sweep's window
    expect(seen('booking', 'findOneAndUpdate', 'remindersSent')).toBe(true); // a reminder marked once
    expect(seen('payment', 'find', 'refunds.status')).toBe(true); // the refund sweep
    expect(seen('booking', 'find', 'checkoutSessionId') || seen('booking', 'findOne', 'idempotencyKey')).toBe(true);
    expect(seen('ledger', 'aggregate', 'doctorId')).toBe(true); // a wallet total started from the lines
    expect(seen('walletBalance', 'find', 'doctorId')).toBe(true); // balances, from the running totals
    expect(seen('walletBalance', 'updateOne', 'currency')).toBe(true); // a line added to its total
    expect(seen('migration', 'findOne', '_id')).toBe(true); // the totals' backfill marker
    expect(seen('schedule', 'find', '$or')).toBe(true); // slot listings in keyset pages
    expect(seen('availability', 'find', 'effectiveFrom')).toBe(true); // computed slots, the version in force
    expect(seen('availability', 'findOneAndUpdate', 'effectiveUntil')).toBe(true); // a new version ends the old
    expect(seen('timeOff', 'find', 'end')).toBe(true); // time off around computed slots
    expect(fake.rows('schedule').some((row) => row.availabilityId !== undefined)).toBe(true); // a computed slot booked
  });

  it('sends partial-index equalities as { $eq, $type } (idempotency key, checkout session, provider payment)', async () => {
    const fake = createFakeMongo();
    await runQueryWorkload(workloadFixture(fake.store), fake.store);
    const typed = (value: unknown) =>
      classify(value) === 'eq' && typeof value === 'object' && (value as { $type?: unknown }).$type === 'string';
    // The customer mapping's { patientId, provider } index is not partial: only payments count here.
    const uses = (field: string) =>
      fake.queries.filter((x) => x.collection !== 'customer' && field in x.filter).map((x) => x.filter[field]);
    for (const field of ['idempotencyKey', 'checkoutSessionId', 'provider', 'providerPaymentId']) {
      expect(uses(field).length, field).toBeGreaterThan(0);
      expect(
        uses(field).filter((value) => !typed(value)),
        field,
      ).toEqual([]);
    }
  });
});

describe('the reminder sweep', () => {
  it('pages a slot-start window from the status index that ends in slotStart, filtered on its keys, never a blocking SORT', async () => {
    const fake = createFakeMongo();
    await fake.store.findBookings({
      status: 'scheduled',
      slotStartFrom: at(0),
      slotStartBefore: at(60),
      after: { createdAt: at(-10), id: '64b0000000000000000000b1' },
      limit: 50,
    });
    await fake.store.countBookings({ status: 'scheduled', slotStartBefore: at(60) });
    expect(fake.queries).toHaveLength(2);
    for (const query of fake.queries) {
      expect(supportingIndexes(MONGOOSE_STORE_INDEXES.booking, query)).toContain(
        'careslot_booking_status_created_slot',
      );
    }
    // slotStart before the sort would bound the scan but sort every booking of the window in memory.
    const rangeFirst = { fields: { status: 1, slotStart: 1, createdAt: 1, _id: 1 } as const, options: { name: 'x' } };
    expect(whyNot(rangeFirst, fake.queries[0] as RecordedQuery)).toMatch(/blocking SORT/);
  });

  it('marks a reminder by _id with the status, slot start and key in the filter, inside the transaction', async () => {
    const fake = createFakeMongo();
    await autocommit(fake.store).markReminderSent({
      bookingId: '64b0000000000000000000b1',
      key: '1440:email',
      slotStart: at(0),
    });
    const write = fake.queries.find((x) => x.method === 'findOneAndUpdate');
    expect(write).toMatchObject({
      collection: 'booking',
      filter: { status: 'scheduled', slotStart: at(0), remindersSent: { $ne: '1440:email' } },
      inTransaction: true,
    });
    expect(supportingIndexes(MONGOOSE_STORE_INDEXES.booking, write as RecordedQuery)).toContain('_id_');
  });
});

describe('bounded reads', () => {
  it('asks for every list in batches: the limit when there is one, else READ_BATCH_SIZE per reply', async () => {
    const fake = createFakeMongo();
    await runQueryWorkload(workloadFixture(fake.store), fake.store);
    const finds = fake.queries.filter((x) => x.method === 'find');
    expect(finds.filter((x) => x.batchSize === undefined || x.batchSize > READ_BATCH_SIZE)).toEqual([]);
    expect(finds.filter((x) => x.limit !== undefined && x.batchSize !== Math.min(x.limit, READ_BATCH_SIZE))).toEqual(
      [],
    );
  });

  it('bounds the start of "ended by" queries too (a slot never ends before it starts), so the sweep stops at now', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const ended = await ops.insertSchedule(newSchedule());
    await ops.insertSchedule(newSchedule({ startTime: at(60), endTime: at(90) }));
    fake.queries.length = 0;
    expect((await fake.store.findSchedules({ status: 'available', endBefore: at(30) })).map((s) => s.id)).toEqual([
      ended.id,
    ]);
    expect(fake.queries[0]?.filter).toMatchObject({ startTime: { $lte: at(30) }, endTime: { $lte: at(30) } });
    // A tighter startBefore stays as it is.
    await fake.store.findSchedules({ endBefore: at(30), startBefore: at(10) });
    expect(fake.queries[1]?.filter.startTime).toEqual({ $lt: at(10) });
  });

  it("reads a doctor's wallet from its running totals: one document per currency, from the (doctorId, currency) index, never the ledger", async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const booking = '64b0000000000000000000b9';
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', doctorId: DOC, bookingId: booking, amount: 5000 }));
    await ops.appendLedgerEntry(
      ledgerEntry({ key: 'credit:2', doctorId: DOC, bookingId: booking, amount: 700, currency: 'usd' }),
    );
    await ops.appendLedgerEntry(
      ledgerEntry({ key: 'refund:1', kind: 'debit', doctorId: DOC, bookingId: booking, amount: 1200 }),
    );
    fake.queries.length = 0;
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 3800, usd: 700 });
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 3800, usd: 700 });
    // The marker is read once; after it only the totals are, in currency order.
    expect(fake.queries.map((x) => [x.collection, x.method])).toEqual([
      ['migration', 'findOne'],
      ['walletBalance', 'find'],
      ['walletBalance', 'find'],
    ]);
    const read = fake.queries[1] as RecordedQuery;
    expect(read).toMatchObject({ filter: { doctorId: oid(DOC) }, sort: { currency: 1 } });
    expect(supportingIndexes(MONGOOSE_STORE_INDEXES.walletBalance, read)).toContain(
      'careslot_wallet_balance_doctor_currency',
    );
    expect(fake.queries.filter((x) => x.collection === 'ledger')).toEqual([]);
    await expect(fake.store.ledgerBalances({ doctorId: 'd1' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it("changes a total with one update by (doctorId, currency), and starts a missing one from the doctor's lines ($group on the ledger index)", async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const booking = '64b0000000000000000000b9';
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', doctorId: DOC, bookingId: booking, amount: 5000 }));
    const first = fake.queries.filter((x) => x.collection === 'walletBalance' || x.method === 'aggregate');
    expect(first.map((x) => [x.collection, x.method])).toEqual([
      ['walletBalance', 'updateOne'],
      ['ledger', 'aggregate'],
      ['walletBalance', 'updateOne'],
    ]);
    expect(first[1]?.filter).toEqual({ doctorId: oid(DOC) });
    expect(supportingIndexes(MONGOOSE_STORE_INDEXES.ledger, first[1] as RecordedQuery)).toContain(
      'careslot_ledger_doctor_created',
    );
    expect(ledgerBalancesPipeline(oid(DOC)).map((stage) => Object.keys(stage)[0])).toEqual([
      '$match',
      '$group',
      '$sort',
    ]);
    fake.queries.length = 0;
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:2', doctorId: DOC, bookingId: booking, amount: 1 }));
    const next = fake.queries.filter((x) => x.collection === 'walletBalance' || x.method === 'aggregate');
    expect(next).toEqual([
      expect.objectContaining({
        collection: 'walletBalance',
        method: 'updateOne',
        filter: { doctorId: oid(DOC), currency: 'eur' },
        inTransaction: true,
      }),
    ]);
    expect(supportingIndexes(MONGOOSE_STORE_INDEXES.walletBalance, next[0] as RecordedQuery)).toContain(
      'careslot_wallet_balance_doctor_currency',
    );
  });
});

describe("the real-server suite's tools, checked here", () => {
  it('records what a store sends to its collections, as the stand-in sees it', async () => {
    const fake = createFakeMongo();
    const log = recordQueries(fake.store);
    await fake.store.findSchedules({ doctorId: DOC, limit: 3 });
    await fake.store.countBookings({ status: 'pending' });
    await fake.store.ledgerBalances({ doctorId: DOC });
    const strip = ({ inTransaction: _, ...rest }: RecordedQuery) => rest;
    expect(log.map(strip)).toEqual(fake.queries.map(strip));
    // ledgerBalances: the backfill marker, then the totals.
    expect(log.map((x) => x.method)).toEqual(['find', 'countDocuments', 'findOne', 'find']);
  });

  it('reads explain() answers: an index scan passes; a collection scan, a blocking SORT or no plan fail', () => {
    const classic = (winningPlan: unknown) => ({
      queryPlanner: { winningPlan, rejectedPlans: [{ stage: 'COLLSCAN' }] },
    });
    expect(
      planProblem(classic({ stage: 'LIMIT', inputStage: { stage: 'FETCH', inputStage: { stage: 'IXSCAN' } } })),
    ).toBeNull();
    expect(
      planProblem(classic({ stage: 'SORT_MERGE', inputStages: [{ stage: 'IXSCAN' }, { stage: 'IXSCAN' }] })),
    ).toBeNull();
    expect(planProblem(classic({ stage: 'SORT', inputStage: { stage: 'IXSCAN' } }))).toMatch(/blocking SORT/);
    expect(planProblem(classic({ stage: 'COLLSCAN' }))).toMatch(/collection scan/);
    // An aggregate on the slot-based engine: the plan sits under queryPlan.
    const sbe = {
      stages: [
        {
          $cursor: {
            queryPlanner: { winningPlan: { queryPlan: { stage: 'GROUP', inputStage: { stage: 'IXSCAN' } } } },
          },
        },
      ],
    };
    expect(planProblem(sbe)).toBeNull();
    expect(planProblem({ ok: 1 })).toMatch(/no winning plan/);
  });
});
