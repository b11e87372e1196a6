// Sorted (number, id) indexes for the memory store: a limit is applied while walking, never after sorting all rows.

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Ids sorted by (key, id), in two parallel arrays: a binary search finds a position, a splice
 * inserts or removes (a memmove of pointers: microseconds at 100k entries). Walking from a
 * lower bound visits only the entries a range query can match.
 */
export class SortedIndex {
  private readonly keys: number[] = [];
  private readonly ids: string[] = [];

  get size(): number {
    return this.ids.length;
  }

  /** The first position whose (key, id) is not below (key, id). */
  private lowerBound(key: number, id: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.keys[mid] as number;
      if (k < key || (k === key && compareIds(this.ids[mid] as string, id) < 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(key: number, id: string): void {
    const at = this.lowerBound(key, id);
    if (this.keys[at] === key && this.ids[at] === id) return;
    this.keys.splice(at, 0, key);
    this.ids.splice(at, 0, id);
  }

  delete(key: number, id: string): void {
    const at = this.lowerBound(key, id);
    if (this.keys[at] !== key || this.ids[at] !== id) return;
    this.keys.splice(at, 1);
    this.ids.splice(at, 1);
  }

  /**
   * Ids in (key, id) order from the first entry at or after `from` (or strictly after
   * `(from, afterId)`), while the key stays below `before`.
   */
  *range(from = Number.NEGATIVE_INFINITY, before = Number.POSITIVE_INFINITY, afterId?: string): Generator<string> {
    let at: number;
    if (afterId === undefined) at = this.lowerBound(from, '');
    else {
      at = this.lowerBound(from, afterId);
      if (this.keys[at] === from && this.ids[at] === afterId) at++;
    }
    for (; at < this.keys.length; at++) {
      if ((this.keys[at] as number) >= before) return;
      yield this.ids[at] as string;
    }
  }
}

/** The walk both index shapes offer. */
export interface SortedIds {
  readonly size: number;
  range(from?: number, before?: number, afterId?: string): Iterable<string>;
}

/**
 * A partition holding one entry (most do: a booking's payments, a slot's bookings, a checkout
 * session's booking): one small object instead of a SortedIndex and its two arrays.
 */
class SingleEntry implements SortedIds {
  readonly size = 1;
  constructor(
    readonly key: number,
    readonly id: string,
  ) {}

  *range(from = Number.NEGATIVE_INFINITY, before = Number.POSITIVE_INFINITY, afterId?: string): Generator<string> {
    if (this.key >= before) return;
    if (afterId === undefined ? this.key >= from : this.key > from || (this.key === from && this.id > afterId)) {
      yield this.id;
    }
  }
}

/** One sorted index per partition (a doctor, a status): `partition → (key, id)`. */
export class PartitionedIndex {
  private readonly parts = new Map<string, SortedIndex | SingleEntry>();

  add(partition: string, key: number, id: string): void {
    const part = this.parts.get(partition);
    if (part === undefined) {
      this.parts.set(partition, new SingleEntry(key, id));
      return;
    }
    if (part instanceof SingleEntry) {
      if (part.key === key && part.id === id) return;
      const index = new SortedIndex();
      index.add(part.key, part.id);
      index.add(key, id);
      this.parts.set(partition, index);
      return;
    }
    part.add(key, id);
  }

  delete(partition: string, key: number, id: string): void {
    const part = this.parts.get(partition);
    if (part === undefined) return;
    if (part instanceof SingleEntry) {
      if (part.key === key && part.id === id) this.parts.delete(partition);
      return;
    }
    part.delete(key, id);
    if (part.size === 0) this.parts.delete(partition);
  }

  /** Moves an entry: a no-op when neither the partition nor the key changed. */
  move(from: { partition: string; key: number } | null, to: { partition: string; key: number } | null, id: string) {
    if (from && to && from.partition === to.partition && from.key === to.key) return;
    if (from) this.delete(from.partition, from.key, id);
    if (to) this.add(to.partition, to.key, id);
  }

  get(partition: string): SortedIds | undefined {
    return this.parts.get(partition);
  }
}

/**
 * Merges several ascending id streams into one, ascending by `order` (the same order every stream
 * is sorted in), so a query over several partitions (statuses) still stops after `limit` rows.
 */
export function* mergeSorted<T>(streams: Iterable<T>[], order: (a: T, b: T) => number): Generator<T> {
  const heads: { it: Iterator<T>; value: T }[] = [];
  for (const stream of streams) {
    const it = stream[Symbol.iterator]();
    const first = it.next();
    if (!first.done) heads.push({ it, value: first.value });
  }
  while (heads.length > 0) {
    let min = 0;
    for (let i = 1; i < heads.length; i++) {
      if (order((heads[i] as { value: T }).value, (heads[min] as { value: T }).value) < 0) min = i;
    }
    const head = heads[min] as { it: Iterator<T>; value: T };
    yield head.value;
    const next = head.it.next();
    if (next.done) heads.splice(min, 1);
    else head.value = next.value;
  }
}
