// The wallet: balances summed by the store, the ledger in pages, and the refund sweep reading in bounded pages.
import { describe, expect, it } from 'vitest';
import { BookingError, type BookingStore, type LedgerEntry, MemoryStore } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS, rejectionOf } from '../support/engine-fixture.js';
import { interceptOperation } from '../support/intercept.js';

/** `count` paid bookings of the standard patient, one slot an hour apart. */
async function paidBookings(f: Fixture, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const slot = await f.slot(24 * 60 + i * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    ids.push(booking.id);
    f.clock.advanceMinutes(1);
  }
  return ids;
}

/** A view of `store` that records every query the engine sends to the two list reads, in and out of transactions. */
function recordListReads(store: BookingStore): { store: BookingStore; ledger: unknown[]; payments: unknown[] } {
  const ledger: unknown[] = [];
  const payments: unknown[] = [];
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, key) {
        const value = Reflect.get(obj, key);
        if (typeof value !== 'function') return value;
        if (key === 'findLedgerEntries') {
          return (q: unknown) => {
            ledger.push(q);
            return value.call(obj, q);
          };
        }
        if (key === 'findPaymentTransactions') {
          return (q: unknown) => {
            payments.push(q);
            return value.call(obj, q);
          };
        }
        if (key === 'transaction') {
          return (work: (tx: object) => unknown, options?: unknown) =>
            value.call(obj, (tx: object) => work(wrap(tx)), options);
        }
        return value.bind(obj);
      },
    });
  return { store: wrap(store), ledger, payments };
}

describe('getWallet', () => {
  it('pages the ledger oldest first with an opaque cursor, while the balances cover the whole ledger', async () => {
    const f = createFixture();
    await paidBookings(f, 5);
    const first = await f.engine.getWallet(DOCTOR, { limit: 2 });
    expect(first.balances).toEqual({ eur: 25_000 });
    expect(first.entries).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const seen: LedgerEntry[] = [...first.entries];
    let cursor = first.nextCursor;
    while (cursor !== null) {
      const page = await f.engine.getWallet(DOCTOR, { limit: 2, cursor });
      expect(page.balances).toEqual({ eur: 25_000 });
      seen.push(...page.entries);
      cursor = page.nextCursor;
    }
    const all = await f.store.findLedgerEntries({ doctorId: DOCTOR });
    expect(seen.map((e) => e.key)).toEqual(all.map((e) => e.key));
    expect(seen).toHaveLength(5);
    expect((await f.engine.getWallet(DOCTOR)).nextCursor).toBeNull();
  });

  it('asks the store for a bounded page and for the balances, never for the whole ledger', async () => {
    const base = createFixture();
    const reads = recordListReads(base.store);
    const f = createFixture({ store: reads.store, clock: base.clock });
    await paidBookings(f, 3);
    reads.ledger.length = 0;
    await f.engine.getWallet(DOCTOR);
    await f.engine.getWallet(DOCTOR, { limit: 1 });
    expect(reads.ledger).toEqual([
      { doctorId: DOCTOR, limit: 100 },
      { doctorId: DOCTOR, limit: 1 },
    ]);
  });

  it('refuses a cursor it did not hand out and a limit out of range, naming the field', async () => {
    const f = createFixture();
    await paidBookings(f, 1);
    for (const cursor of ['nope', 'bm9wZQ', Buffer.from('12.').toString('base64url'), '']) {
      const error = await rejectionOf(f.engine.getWallet(DOCTOR, { cursor }));
      expect(error).toBeInstanceOf(BookingError);
      expect(error).toMatchObject({ code: 'INVALID_INPUT' });
      expect((error as Error).message).toMatch(/cursor/);
    }
    for (const limit of [0, 1001, 1.5]) {
      expect(await rejectionOf(f.engine.getWallet(DOCTOR, { limit }))).toMatchObject({ code: 'INVALID_INPUT' });
    }
    await expect(f.engine.getWallet('')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('reads the balances and the page in one snapshot: a credit committed in between shows in neither', async () => {
    const clock = new ManualClock('2030-03-01T08:00:00Z');
    const store = new MemoryStore({ isolation: 'snapshot', clock });
    const f = createFixture({ store, clock });
    f.skipInvariantCheck('the interleaved credit stands for another booking, which this test does not create');
    await paidBookings(f, 1);
    const balances = store.ledgerBalances.bind(store);
    let interleaved = false;
    const transaction = store.transaction.bind(store);
    const restore = interceptOperation(store, 'ledgerBalances', async (original, args) => {
      const read = await original(args);
      if (!interleaved) {
        interleaved = true;
        await transaction((other) =>
          other.appendLedgerEntry({
            key: 'credit:between',
            doctorId: DOCTOR,
            bookingId: '64b0000000000000000000b9',
            kind: 'credit',
            amount: 700,
            currency: 'eur',
            createdAt: clock.now(),
          }),
        );
      }
      return read;
    });
    const wallet = await f.engine.getWallet(DOCTOR);
    expect(interleaved).toBe(true);
    expect(wallet.balances).toEqual({ eur: 5000 });
    expect(wallet.entries.map((e) => e.key)).not.toContain('credit:between');
    restore();
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual(await balances({ doctorId: DOCTOR }));
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5700 });
  });
});

describe('the refund sweep', () => {
  it('pages through every payment with a failed refund, batchSize at a time, retrying each once', async () => {
    const base = createFixture();
    const reads = recordListReads(base.store);
    const f = createFixture({
      store: reads.store,
      clock: base.clock,
      batchSize: 2,
      reconcileGraceMs: 60_000,
    });
    const bookings = await paidBookings(f, 5);
    for (const bookingId of bookings) {
      f.gateway.failNext('refund');
      await rejectionOf(f.engine.refund({ bookingId, amount: 1000 }));
    }
    expect(await f.store.findPaymentTransactions({ refundStatus: 'failed' })).toHaveLength(5);
    f.clock.advanceMinutes(2);
    reads.payments.length = 0;
    expect((await f.engine.reconcile()).refundsRetried).toBe(5);
    const sweepReads = [...reads.payments];
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(await f.store.findPaymentTransactions({ refundStatus: 'failed' })).toEqual([]);
    // Every read of the sweep was bounded by batchSize; the failed ones took three pages.
    const failedPages = sweepReads.filter((q) => (q as { refundStatus?: string }).refundStatus === 'failed');
    expect(failedPages).toHaveLength(3);
    for (const query of sweepReads) expect(query).toMatchObject({ limit: 2 });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 20_000 });
  });
});
