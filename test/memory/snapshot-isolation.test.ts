// MemoryStore's snapshot-isolation mode: what each transaction sees, who wins a conflict, and what SI still allows.
import { describe, expect, it } from 'vitest';
import { type BookingStore, MemoryStore, type StoreOperations } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { newBookingOf, newPaymentTransaction, newSchedule } from '../support/records.js';

const clock = new ManualClock('2030-03-01T08:00:00Z');
const snapshotStore = () => new MemoryStore({ clock, isolation: 'snapshot' });

/** A promise and the function that resolves it: lets a test hold a transaction open at a chosen point. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

async function slotIn(store: BookingStore, overrides: Parameters<typeof newSchedule>[0] = {}) {
  return store.transaction((tx) => tx.insertSchedule(newSchedule(overrides)));
}

describe('MemoryStore isolation option', () => {
  it('defaults to serializable and refuses an unknown mode with a message saying which exist', () => {
    expect(new MemoryStore().isolation).toBe('serializable');
    expect(snapshotStore().isolation).toBe('snapshot');
    expect(() => new MemoryStore({ isolation: 'read committed' as never })).toThrow(
      /isolation must be 'serializable' or 'snapshot'/,
    );
  });
});

describe('MemoryStore snapshot isolation', () => {
  it('reads the snapshot taken when the transaction began, plus its own writes only', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store);
    const reading = gate();
    const written = gate();
    const seen: string[] = [];
    const reader = store.transaction(async (tx) => {
      seen.push((await tx.getSchedule(slot.id))?.status ?? 'missing');
      reading.open();
      await written.wait;
      // Another transaction committed 'pending' meanwhile: still invisible here.
      seen.push((await tx.getSchedule(slot.id))?.status ?? 'missing');
      seen.push(String((await tx.findSchedules({ doctorId: slot.doctorId })).length));
    });
    await reading.wait;
    await store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      await tx.insertSchedule(newSchedule({ startTime: new Date('2030-03-05T10:00:00Z') }));
    });
    expect((await store.getSchedule(slot.id))?.status).toBe('pending');
    written.open();
    await reader;
    expect(seen).toEqual(['available', 'available', '1']);
  });

  it('does not show a transaction its own writes until it commits, and drops them when it throws', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store);
    const inside = gate();
    const check = gate();
    const failing = store.transaction(async (tx) => {
      await tx.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'booked' } });
      inside.open();
      await check.wait;
      throw new Error('abort');
    });
    await inside.wait;
    expect((await store.getSchedule(slot.id))?.status).toBe('available');
    check.open();
    await expect(failing).rejects.toThrow('abort');
    expect((await store.getSchedule(slot.id))?.status).toBe('available');
  });

  it('lets the first committer win a write-write conflict and runs the loser again on the new state', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store);
    const both = gate();
    let started = 0;
    const attempts = { a: 0, b: 0 };
    const claim = (name: 'a' | 'b') =>
      store.transaction(async (tx) => {
        attempts[name]++;
        const current = await tx.getSchedule(slot.id);
        if (++started === 2) both.open();
        await both.wait;
        if (current?.status !== 'available') return `${name} saw ${current?.status}`;
        await tx.updateScheduleIf({
          id: slot.id,
          expectedStatus: 'available',
          set: { status: 'booked', bookedBy: name },
        });
        return `${name} booked`;
      });
    const results = await Promise.all([claim('a'), claim('b')]);
    expect(results).toEqual(['a booked', 'b saw booked']);
    expect(attempts).toEqual({ a: 1, b: 2 });
    expect((await store.getSchedule(slot.id))?.bookedBy).toBe('a');
  });

  it('commits write skew between disjoint rows, as snapshot isolation allows, unless both take the same lock', async () => {
    const run = async (lock: boolean) => {
      const store = snapshotStore();
      const both = gate();
      let started = 0;
      const publish = (hour: number) =>
        store.transaction(async (tx: StoreOperations) => {
          if (lock) await tx.lockDoctor('d1');
          const live = await tx.findSchedules({ doctorId: 'd1', status: 'available' });
          if (++started === 2) both.open();
          await both.wait;
          if (live.length > 0) return 'refused';
          await tx.insertSchedule(newSchedule({ doctorId: 'd1', startTime: new Date(`2030-03-05T${hour}:00:00Z`) }));
          return 'published';
        });
      const results = await Promise.all([publish(10), publish(11)]);
      return { results, slots: (await store.findSchedules({ doctorId: 'd1' })).length };
    };
    expect(await run(false)).toEqual({ results: ['published', 'published'], slots: 2 });
    expect(await run(true)).toEqual({ results: ['published', 'refused'], slots: 1 });
  });

  it('makes lockPatient conflict the same way', async () => {
    const store = snapshotStore();
    const both = gate();
    let started = 0;
    let attempts = 0;
    const hold = () =>
      store.transaction(async (tx) => {
        attempts++;
        await tx.lockPatient('p1');
        if (++started === 2) both.open();
        await both.wait;
      });
    await Promise.all([hold(), hold()]);
    expect(attempts).toBe(3);
  });

  it('enforces one active booking per slot at commit: of 20 concurrent inserts exactly one lands', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.transaction((tx) => tx.insertBooking(newBookingOf(slot, { patientId: `p${i}` }))),
      ),
    );
    expect(results.filter((b) => b !== null)).toHaveLength(1);
    expect(await store.countBookings({ scheduleId: slot.id })).toBe(1);
  });

  /** One transaction per provider, each reading the id before any writes it, then all inserting it at once. */
  const insertTogether = (store: BookingStore, providers: readonly string[], providerPaymentId: string) => {
    const all = gate();
    let started = 0;
    return Promise.all(
      providers.map((provider) =>
        store.transaction(async (tx) => {
          await tx.findPaymentTransaction({ provider, providerPaymentId });
          if (++started === providers.length) all.open();
          await all.wait;
          return tx.insertPaymentTransaction(newPaymentTransaction({ provider, providerPaymentId }));
        }),
      ),
    );
  };

  it('keeps one payment per (provider, provider payment id) at commit, also for a second provider using the id', async () => {
    const store = snapshotStore();
    const first = await insertTogether(store, Array(5).fill('test'), 'pi_race');
    expect(first.filter((p) => p !== null)).toHaveLength(1);
    // The id is taken by 'test' now: 'other' is keyed by the pair, and is still unique there.
    const second = await insertTogether(store, Array(5).fill('other'), 'pi_race');
    expect(second.filter((p) => p !== null)).toHaveLength(1);
    const [mine, theirs] = [first.find((p) => p !== null), second.find((p) => p !== null)];
    expect((await store.findPaymentTransaction({ provider: 'test', providerPaymentId: 'pi_race' }))?.id).toBe(mine?.id);
    expect((await store.findPaymentTransaction({ provider: 'other', providerPaymentId: 'pi_race' }))?.id).toBe(
      theirs?.id,
    );
    expect(await store.findPaymentTransactions({})).toHaveLength(2);
  });

  it('lets two providers record the same provider payment id at once: one keyed by the id, one by the pair', async () => {
    const store = snapshotStore();
    const [a, b] = await insertTogether(store, ['test', 'other'], 'pi_both');
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect((await store.findPaymentTransaction({ provider: 'test', providerPaymentId: 'pi_both' }))?.id).toBe(a?.id);
    expect((await store.findPaymentTransaction({ provider: 'other', providerPaymentId: 'pi_both' }))?.id).toBe(b?.id);
  });

  it('merges concurrent additions to one doctor’s slot index instead of losing one', async () => {
    const store = snapshotStore();
    const both = gate();
    let started = 0;
    const add = (hour: number) =>
      store.transaction(async (tx) => {
        await tx.findSchedules({ doctorId: 'd1' });
        if (++started === 2) both.open();
        await both.wait;
        return tx.insertSchedule(newSchedule({ doctorId: 'd1', startTime: new Date(`2030-03-05T${hour}:00:00Z`) }));
      });
    const [a, b] = await Promise.all([add(10), add(11)]);
    const ids = (await store.findSchedules({ doctorId: 'd1' })).map((s) => s.id);
    expect(ids.sort()).toEqual([a.id, b.id].sort());
  });

  it('keeps a deleted row visible to a transaction that began before the delete', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store, { status: 'expired' });
    const reading = gate();
    const deleted = gate();
    const reader = store.transaction(async (tx) => {
      reading.open();
      await deleted.wait;
      return tx.getSchedule(slot.id);
    });
    await reading.wait;
    expect(await store.transaction((tx) => tx.deleteSchedulesIf({ ids: [slot.id], expectedStatus: 'expired' }))).toBe(
      1,
    );
    deleted.open();
    expect((await reader)?.id).toBe(slot.id);
    expect(await store.getSchedule(slot.id)).toBeNull();
  });

  it('gives up with STORE_ERROR after 500 lost conflicts in a row', async () => {
    const store = snapshotStore();
    const slot = await slotIn(store);
    let attempts = 0;
    const error = await store
      .transaction(async (tx) => {
        attempts++;
        await tx.getSchedule(slot.id);
        // Someone else always commits to the same row first.
        await store.transaction((other) =>
          other.updateScheduleIf({
            id: slot.id,
            expectedStatus: ['available', 'pending'],
            set: { bookedBy: `x${attempts}` },
          }),
        );
        await tx.updateScheduleIf({
          id: slot.id,
          expectedStatus: ['available', 'pending'],
          set: { status: 'pending' },
        });
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR' });
    expect(attempts).toBe(500);
  });
});
