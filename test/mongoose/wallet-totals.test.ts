// The wallet's running totals on MongooseStore, offline: kept in the ledger line's transaction, exact under the stand-in's snapshot isolation, and backfilled once for a ledger written before them.
import mongoose from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
import type { HostIdMode } from '../../src/adapters/mongoose/index.js';
import { WALLET_BALANCES_MIGRATION } from '../../src/adapters/mongoose/queries.js';
import type { NewLedgerEntry } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { ledgerEntry } from '../support/records.js';
import { BOOKING, DOC, oid, T0 } from './samples.js';
import { createFakeMongo, type FakeMongoOptions } from './support/fake-mongo.js';
import type { Doc } from './support/snapshot-db.js';

const DOC2 = '64b0000000000000000000d2';
const DOC3 = '64b0000000000000000000d3';

/** Credits minus debits per (doctor, currency), from the committed ledger lines. */
function sumsOf(lines: Doc[]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of lines) {
    const key = `${String(line.doctorId)}/${String(line.currency)}`;
    sums[key] = (sums[key] ?? 0) + (line.kind === 'credit' ? 1 : -1) * Number(line.amount);
  }
  return sums;
}

/** The committed totals per (doctor, currency). */
function totalsOf(rows: Doc[]): Record<string, number> {
  return Object.fromEntries(
    rows.map((row) => [`${String(row.doctorId)}/${String(row.currency)}`, Number(row.balance)]),
  );
}

/** Ledger lines as an older careslot wrote them: no running total beside them. */
function legacyLines(hostIds: HostIdMode, lines: Partial<NewLedgerEntry>[]): Doc[] {
  const id = (hex: string) => (hostIds === 'objectId' ? oid(hex) : hex);
  return lines.map((line, i) => ({
    key: line.key ?? `legacy:${i}`,
    doctorId: id(line.doctorId ?? DOC),
    bookingId: oid(BOOKING),
    kind: line.kind ?? 'credit',
    amount: line.amount ?? 1000,
    currency: line.currency ?? 'eur',
    createdAt: T0,
    __v: 0,
  }));
}

function upgraded(options: FakeMongoOptions = {}) {
  const onWarning = vi.fn();
  const fake = createFakeMongo({
    walletTotalsBackfilled: false,
    ...options,
    storeOptions: { onWarning, ...options.storeOptions },
  });
  return { fake, onWarning };
}

describe('the running total of each ledger line', () => {
  it("changes the doctor's total in the transaction that appends the line: a rolled-back append leaves neither", async () => {
    const fake = createFakeMongo();
    await autocommit(fake.store).appendLedgerEntry(ledgerEntry({ key: 'credit:1', amount: 5000 }));
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({ [`${DOC}/eur`]: 5000 });
    const error = new Error('rolled back');
    await expect(
      fake.store.transaction(async (tx) => {
        await tx.appendLedgerEntry(ledgerEntry({ key: 'refund:1', kind: 'debit', amount: 1200 }));
        // Inside the transaction the total already counts the line.
        expect(await tx.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 3800 });
        throw error;
      }),
    ).rejects.toBe(error);
    expect(fake.rows('ledger')).toHaveLength(1);
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({ [`${DOC}/eur`]: 5000 });
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 5000 });
  });

  it('leaves the total alone when the key is already there (false, no second line)', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    expect(await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', amount: 5000 }))).toBe(true);
    const before = fake.rows('walletBalance');
    expect(await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', amount: 5000 }))).toBe(false);
    expect(await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', amount: 9999, currency: 'usd' }))).toBe(false);
    expect(fake.rows('ledger')).toHaveLength(1);
    expect(fake.rows('walletBalance')).toEqual(before);
  });

  it('keeps one total per doctor and currency, credits minus debits, going below zero when debits exceed credits', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:1', amount: 5000 }));
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:2', amount: 700, currency: 'usd' }));
    await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:3', amount: 300, doctorId: DOC2 }));
    await ops.appendLedgerEntry(ledgerEntry({ key: 'refund:1', kind: 'debit', amount: 1000, currency: 'usd' }));
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({
      [`${DOC}/eur`]: 5000,
      [`${DOC}/usd`]: -300,
      [`${DOC2}/eur`]: 300,
    });
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 5000, usd: -300 });
    expect(await fake.store.ledgerBalances({ doctorId: DOC3 })).toEqual({});
  });

  it('stays the sum of the lines when 30 transactions append to one wallet at once (write conflicts on the total, retried)', async () => {
    const fake = createFakeMongo();
    const commit = vi.spyOn(fake.db, 'commit');
    let attempts = 0;
    const appends = Array.from({ length: 30 }, (_, i) =>
      fake.store.transaction(async (tx) => {
        attempts++;
        return tx.appendLedgerEntry(
          ledgerEntry({
            key: `line:${i}`,
            kind: i % 4 === 3 ? 'debit' : 'credit',
            amount: 100 + i,
            currency: i % 5 === 0 ? 'usd' : 'eur',
          }),
        );
      }),
    );
    expect(await Promise.all(appends)).toEqual(Array(30).fill(true));
    // They ran concurrently: some attempts lost the race on the total and ran again.
    expect(attempts).toBeGreaterThan(30);
    expect(commit.mock.results.filter((r) => r.type === 'return')).toHaveLength(30);
    const sums = sumsOf(fake.rows('ledger'));
    expect(Object.keys(sums)).toHaveLength(2);
    expect(totalsOf(fake.rows('walletBalance'))).toEqual(sums);
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({
      eur: sums[`${DOC}/eur`],
      usd: sums[`${DOC}/usd`],
    });
  });

  it('makes one total of two first lines of one doctor and currency committed at once (the unique index makes one run again)', async () => {
    const fake = createFakeMongo();
    let attempts = 0;
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let waiting = 0;
    const append = (key: string, amount: number) =>
      fake.store.transaction(async (tx) => {
        attempts++;
        // Both read "no total" on their snapshots before either writes one.
        expect(await tx.ledgerBalances({ doctorId: DOC })).toBeTypeOf('object');
        if (++waiting === 2) open();
        await gate;
        return tx.appendLedgerEntry(ledgerEntry({ key, amount }));
      });
    expect(await Promise.all([append('credit:a', 100), append('credit:b', 250)])).toEqual([true, true]);
    expect(attempts).toBeGreaterThan(2);
    expect(fake.rows('walletBalance')).toEqual([expect.objectContaining({ currency: 'eur', balance: 350 })]);
  });

  it('starts a missing total from the lines already there, so a doctor with lines from before the totals is counted whole', async () => {
    const fake = createFakeMongo();
    fake.seed(
      'ledger',
      legacyLines('objectId', [{ amount: 4000 }, { amount: 500, kind: 'debit' }, { currency: 'usd' }]),
    );
    await autocommit(fake.store).appendLedgerEntry(ledgerEntry({ key: 'credit:new', amount: 100 }));
    // Only the line's currency got a total; the other is the backfill's.
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({ [`${DOC}/eur`]: 3600 });
    await autocommit(fake.store).appendLedgerEntry(ledgerEntry({ key: 'credit:new2', amount: 1 }));
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({ [`${DOC}/eur`]: 3601 });
  });
});

describe('backfillWalletBalances()', () => {
  for (const hostIds of ['objectId', 'string'] as const) {
    it(`fills every doctor's totals from the ledger, writes the marker, and from then on balances read the totals (hostIds: ${hostIds})`, async () => {
      const { fake, onWarning } = upgraded({ hostIds });
      fake.seed(
        'ledger',
        legacyLines(hostIds, [
          { doctorId: DOC2, amount: 700 },
          { amount: 5000 },
          { amount: 1200, kind: 'debit' },
          { amount: 900, currency: 'usd' },
          { doctorId: DOC3, amount: 10, currency: 'gbp' },
          { doctorId: DOC2, amount: 300 },
        ]),
      );
      // Before it: no totals for these lines, so balances are summed from the ledger, with a warning once.
      expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 3800, usd: 900 });
      expect(await fake.store.ledgerBalances({ doctorId: DOC2 })).toEqual({ eur: 1000 });
      expect(onWarning.mock.calls.map(([, code]) => code)).toEqual(['CARESLOT_WALLET_TOTALS_NOT_BACKFILLED']);
      expect(onWarning.mock.calls[0]?.[0]).toMatch(/await store\.backfillWalletBalances\(\)/);

      expect(await fake.store.backfillWalletBalances()).toEqual({ ran: true, doctors: 3, totals: 4 });
      expect(totalsOf(fake.rows('walletBalance'))).toEqual(sumsOf(fake.rows('ledger')));
      expect(fake.rows('migration')).toEqual([
        expect.objectContaining({ _id: WALLET_BALANCES_MIGRATION, state: 'done', processed: 3 }),
      ]);
      fake.queries.length = 0;
      expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 3800, usd: 900 });
      expect(await fake.store.ledgerBalances({ doctorId: DOC3 })).toEqual({ gbp: 10 });
      expect(fake.queries.map((q) => q.collection)).toEqual(['walletBalance', 'walletBalance']);
      expect(onWarning).toHaveBeenCalledTimes(1);
    });
  }

  it('runs once: a second call finds the marker and does nothing; recompute: true sets every total to its lines again', async () => {
    const { fake } = upgraded();
    fake.seed('ledger', legacyLines('objectId', [{ amount: 5000 }]));
    await fake.store.backfillWalletBalances();
    const calls = fake.calls.length;
    expect(await fake.store.backfillWalletBalances()).toEqual({ ran: false, doctors: 0, totals: 0 });
    expect(fake.calls.slice(calls).filter((c) => !c.startsWith('migration.'))).toEqual([]);
    // A line an older careslot appended beside the totals (a rolling deploy): only a recompute counts it.
    fake.seed('ledger', legacyLines('objectId', [{ key: 'legacy:late', amount: 11 }]));
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 5000 });
    expect(await fake.store.backfillWalletBalances({ recompute: true })).toEqual({ ran: true, doctors: 1, totals: 1 });
    expect(await fake.store.ledgerBalances({ doctorId: DOC })).toEqual({ eur: 5011 });
    await expect(fake.store.backfillWalletBalances({ recompute: 'yes' as never })).rejects.toThrow(TypeError);
  });

  it('stays exact when appends to the same doctors race it (each doctor is one transaction that conflicts with them)', async () => {
    const { fake } = upgraded();
    const doctors = [DOC, DOC2, DOC3];
    fake.seed(
      'ledger',
      legacyLines(
        'objectId',
        Array.from({ length: 30 }, (_, i) => ({
          doctorId: doctors[i % 3],
          amount: 10 + i,
          currency: i % 2 ? 'eur' : 'usd',
        })),
      ),
    );
    const appends = Array.from({ length: 24 }, (_, i) =>
      autocommit(fake.store).appendLedgerEntry(
        ledgerEntry({ key: `live:${i}`, doctorId: doctors[i % 3], amount: 1000 + i, currency: i % 3 ? 'eur' : 'usd' }),
      ),
    );
    const [backfill] = await Promise.all([fake.store.backfillWalletBalances(), ...appends]);
    expect(backfill).toMatchObject({ ran: true, doctors: 3 });
    expect(totalsOf(fake.rows('walletBalance'))).toEqual(sumsOf(fake.rows('ledger')));
    for (const doctor of doctors) {
      const lines = fake.rows('ledger').filter((l) => String(l.doctorId) === doctor);
      const eur = lines.filter((l) => l.currency === 'eur').reduce((n, l) => n + Number(l.amount), 0);
      expect((await fake.store.ledgerBalances({ doctorId: doctor })).eur).toBe(eur);
    }
  });

  it('leaves no marker when it fails half-way, so balances keep being summed from the ledger until it runs again', async () => {
    const { fake } = upgraded();
    fake.seed('ledger', legacyLines('objectId', [{ amount: 5000 }, { doctorId: DOC2, amount: 7 }]));
    const collection = fake.deps.collections.walletBalance;
    const updateOne = collection.updateOne.bind(collection);
    let writes = 0;
    const failing = vi.spyOn(collection, 'updateOne').mockImplementation(async (...args) => {
      if (++writes === 2) throw new mongoose.mongo.MongoServerError({ ok: 0, errmsg: 'disk full', code: 14031 });
      return updateOne(...args);
    });
    await expect(fake.store.backfillWalletBalances()).rejects.toMatchObject({ code: 'STORE_ERROR' });
    expect(fake.rows('migration')).toEqual([]);
    expect(await fake.store.ledgerBalances({ doctorId: DOC2 })).toEqual({ eur: 7 });
    failing.mockRestore();
    expect(await fake.store.backfillWalletBalances()).toMatchObject({ ran: true, doctors: 2 });
    expect(await fake.store.ledgerBalances({ doctorId: DOC2 })).toEqual({ eur: 7 });
    expect(totalsOf(fake.rows('walletBalance'))).toEqual(sumsOf(fake.rows('ledger')));
  });

  it('is run by createIndexes() once the indexes are built: an upgraded ledger gets its totals, a fresh one just the marker', async () => {
    const { fake } = upgraded({ indexes: { except: ['careslot_wallet_balance_doctor_currency'] } });
    fake.seed('ledger', legacyLines('objectId', [{ amount: 5000 }]));
    // The totals' unique index is missing: ready() refuses, naming it.
    await expect(fake.store.ledgerBalances({ doctorId: DOC })).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/careslot_wallet_balances\.careslot_wallet_balance_doctor_currency/),
    });
    await fake.store.createIndexes();
    expect(totalsOf(fake.rows('walletBalance'))).toEqual({ [`${DOC}/eur`]: 5000 });
    expect(fake.rows('migration')).toHaveLength(1);

    const fresh = upgraded().fake;
    await fresh.store.createIndexes();
    expect(fresh.rows('migration')).toEqual([expect.objectContaining({ processed: 0 })]);
    expect(fresh.rows('walletBalance')).toEqual([]);
  });
});
