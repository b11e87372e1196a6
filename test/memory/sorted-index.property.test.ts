// The memory store's chunked SortedIndex: after any mix of adds and deletes (enough to split and merge chunks), every range walk equals a sorted reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionedIndex, SortedIndex } from '../../src/adapters/memory/sorted-index.js';

type Entry = { key: number; id: string };

const byKeyThenId = (a: Entry, b: Entry) => a.key - b.key || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The reference: every entry kept, sorted, and filtered the way `range` promises. */
function expectedRange(entries: Map<string, Entry>, from: number, before: number, afterId?: string): string[] {
  return [...entries.values()]
    .sort(byKeyThenId)
    .filter((e) => e.key < before)
    .filter((e) =>
      afterId === undefined ? e.key >= from : e.key > from || (e.key === from && e.id > (afterId as string)),
    )
    .map((e) => e.id);
}

// Few distinct keys (many ties, ordered by id) and ids from a small pool (repeated adds and deletes).
const key = fc.integer({ min: 0, max: 40 });
const id = fc.integer({ min: 0, max: 1_500 }).map((n) => `id${n.toString().padStart(5, '0')}`);
const op = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), key, id }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key, id }) },
  // Deletes a run of the oldest entries, the clean-up's pattern (empties and merges chunks).
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('dropOldest' as const), count: fc.integer({ min: 1, max: 400 }) }),
  },
);

describe('SortedIndex', () => {
  it('walks exactly the sorted entries in range after random adds and deletes across chunk splits and merges', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 2_500 }),
        fc.array(fc.tuple(key, key, fc.option(id, { nil: undefined })), { minLength: 1, maxLength: 12 }),
        (ops, queries) => {
          const index = new SortedIndex();
          const reference = new Map<string, Entry>();
          const keyOf = (e: Entry) => `${e.key}|${e.id}`;
          for (const o of ops) {
            if (o.kind === 'add') {
              index.add(o.key, o.id);
              reference.set(keyOf(o), { key: o.key, id: o.id });
            } else if (o.kind === 'delete') {
              index.delete(o.key, o.id);
              reference.delete(keyOf(o));
            } else {
              for (const e of [...reference.values()].sort(byKeyThenId).slice(0, o.count)) {
                index.delete(e.key, e.id);
                reference.delete(keyOf(e));
              }
            }
          }
          expect(index.size).toBe(reference.size);
          expect([...index.range()]).toEqual(
            expectedRange(reference, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY),
          );
          for (const [a, b, afterId] of queries) {
            const from = Math.min(a, b);
            const before = Math.max(a, b) + 1;
            expect([...index.range(from, before, afterId)]).toEqual(expectedRange(reference, from, before, afterId));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('holding rows: walks the latest row put at each (key, id), by identity, after random adds, replacements and deletes', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 2_500 }), (ops) => {
        type Row = { id: string; version: number };
        const index = new SortedIndex<Row>();
        const reference = new Map<string, Entry & { row: Row }>();
        const keyOf = (e: Entry) => `${e.key}|${e.id}`;
        let version = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            // An add at a (key, id) already there is a newer row of it: it must replace the older.
            const row = { id: o.id, version: version++ };
            index.add(o.key, row);
            reference.set(keyOf(o), { key: o.key, id: o.id, row });
          } else if (o.kind === 'delete') {
            // Deleted by id: the row object handed in need not be the one held.
            index.delete(o.key, { id: o.id, version: -1 });
            reference.delete(keyOf(o));
          } else {
            for (const e of [...reference.values()].sort(byKeyThenId).slice(0, o.count)) {
              index.delete(e.key, e.row);
              reference.delete(keyOf(e));
            }
          }
        }
        const walked = [...index.range()];
        const expected = [...reference.values()].sort(byKeyThenId).map((e) => e.row);
        expect(walked).toHaveLength(expected.length);
        for (let i = 0; i < walked.length; i++) expect(walked[i]).toBe(expected[i]);
      }),
      { numRuns: 40 },
    );
  });

  it('keeps ties in id order and resumes after a cursor that sits on a chunk boundary', () => {
    const index = new SortedIndex();
    // 2,000 entries at one key (one millisecond's records): eight chunks' worth, inserted out of order.
    const ids = Array.from({ length: 2_000 }, (_, i) => `k${String((i * 7919) % 2_000).padStart(4, '0')}`);
    for (const i of ids) index.add(5, i);
    const sorted = [...ids].sort();
    expect([...index.range()]).toEqual(sorted);
    // Resume after every 256th id: the page boundaries a keyset walk makes.
    for (let at = 0; at < sorted.length; at += 256) {
      expect([...index.range(5, 6, sorted[at])]).toEqual(sorted.slice(at + 1));
    }
    // Drop the first 1,990 (a clean-up): the rest walk in order and the size follows.
    for (const i of sorted.slice(0, 1_990)) index.delete(5, i);
    expect(index.size).toBe(10);
    expect([...index.range()]).toEqual(sorted.slice(1_990));
  });

  it('ignores a repeated add and a delete of an entry it does not hold', () => {
    const index = new SortedIndex();
    index.add(1, 'a');
    index.add(1, 'a');
    index.delete(1, 'b');
    index.delete(2, 'a');
    expect(index.size).toBe(1);
    expect([...index.range()]).toEqual(['a']);
  });
});

describe('PartitionedIndex', () => {
  it('grows a one-entry partition into a sorted index and drops a partition when it empties', () => {
    // The rows the index follows: a one-entry partition reads its key from here.
    const rows = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const index = new PartitionedIndex((id) => rows.get(id));
    index.add('doc', 2, 'b');
    expect([...(index.get('doc')?.range() ?? [])]).toEqual(['b']);
    index.add('doc', 1, 'a');
    index.move({ partition: 'doc', key: 2 }, { partition: 'other', key: 3 }, 'b');
    rows.set('b', 3);
    expect([...(index.get('doc')?.range() ?? [])]).toEqual(['a']);
    expect([...(index.get('other')?.range() ?? [])]).toEqual(['b']);
    index.delete('doc', 1, 'a');
    expect(index.get('doc')).toBeUndefined();
  });

  it('ranges a one-entry partition by the key of its row, and orders it by that key once a second entry comes', () => {
    const rows = new Map([
      ['late', 50],
      ['early', 10],
    ]);
    const index = new PartitionedIndex((id) => rows.get(id));
    index.add('slot', 50, 'late');
    expect([...(index.get('slot')?.range(0, 50) ?? [])]).toEqual([]);
    expect([...(index.get('slot')?.range(50, 51) ?? [])]).toEqual(['late']);
    expect([...(index.get('slot')?.range(50, 51, 'late') ?? [])]).toEqual([]);
    expect([...(index.get('slot')?.range(50, 51, 'a') ?? [])]).toEqual(['late']);
    index.add('slot', 10, 'early');
    expect([...(index.get('slot')?.range() ?? [])]).toEqual(['early', 'late']);
    expect(index.get('slot')?.size).toBe(2);
  });

  it('refuses to read an entry whose row is gone (the index and the rows out of step)', () => {
    const index = new PartitionedIndex(() => undefined);
    index.add('slot', 5, 'ghost');
    expect(() => index.get('slot')).toThrow('PartitionedIndex: no row for the indexed id ghost');
  });
});

// The ledger's indexes hold the rows themselves (a line is never replaced), not their ids.
describe('PartitionedIndex of rows', () => {
  const line = (id: string, at: number) => ({ id, at });

  it('yields the rows it holds, ordered by key then id, whether one or many per partition', () => {
    const index = new PartitionedIndex<{ id: string; at: number }>((row) => row.at);
    const [a, b, c] = [line('a', 20), line('b', 10), line('c', 10)];
    index.add('doc', a.at, a);
    expect([...(index.get('doc')?.range() ?? [])][0]).toBe(a);
    expect([...(index.get('doc')?.range(20, 21, 'a') ?? [])]).toEqual([]);
    index.add('doc', c.at, c);
    index.add('doc', b.at, b);
    const walked = [...(index.get('doc')?.range() ?? [])];
    expect(walked).toEqual([b, c, a]);
    expect(walked[0]).toBe(b);
    // A keyset page after (10, 'b').
    expect([...(index.get('doc')?.range(10, Number.POSITIVE_INFINITY, 'b') ?? [])]).toEqual([c, a]);
  });

  it('replaces a row by a new one of the same id, and deletes by id, in a one-entry partition and a sorted one', () => {
    const index = new PartitionedIndex<{ id: string; at: number; v?: number }>((row) => row.at);
    const first = { id: 'a', at: 5, v: 1 };
    const second = { id: 'a', at: 5, v: 2 };
    index.add('one', 5, first);
    index.move({ partition: 'one', key: 5 }, { partition: 'one', key: 5 }, second);
    expect([...(index.get('one')?.range() ?? [])][0]).toBe(second);
    index.add('many', 5, first);
    index.add('many', 7, { id: 'z', at: 7 });
    index.add('many', 5, second);
    const rows = [...(index.get('many')?.range() ?? [])];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toBe(second);
    index.delete('many', 5, { id: 'a', at: 5 });
    expect([...(index.get('many')?.range() ?? [])].map((r) => r.id)).toEqual(['z']);
    index.delete('one', 5, first);
    expect(index.get('one')).toBeUndefined();
  });
});
