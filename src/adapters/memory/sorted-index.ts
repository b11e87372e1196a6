// Sorted (number, id) indexes for the memory store: a limit is applied while walking, never after sorting all rows.

const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * What an index holds per entry: the row's id, or the row itself (the ledger's indexes, whose rows
 * are never replaced, and the doctor's bookings, whose index takes each new row of a booking),
 * which a read then takes without looking its id up in the table. At 100k rows that lookup is the
 * larger part of a cold read: the table's hash bucket, its entry and the id's string are three
 * cache misses per row that the row alone does not have.
 */
export type Entry = string | { readonly id: string };

const idOf = (entry: Entry): string => (typeof entry === 'string' ? entry : entry.id);

/** One run of consecutive entries, in two parallel arrays. */
interface Chunk<E> {
  keys: number[];
  ids: E[];
}

/** Entries per chunk before it splits: a splice moves at most this many pointers. */
const CHUNK_MAX = 256;
/** A chunk this small merges with its neighbour when they fit in one. */
const CHUNK_MIN = CHUNK_MAX / 4;

/**
 * Ids sorted by (key, id), as a list of short sorted chunks (the layout of Python's
 * sortedcontainers): a binary search over the chunks' last entries finds the chunk, a second one
 * the position, and an insert or delete splices one chunk of at most 256 entries. A single sorted
 * array would move every entry behind the position: at 100k entries, deleting the oldest (the
 * clean-up) or inserting among equal times (records made in one millisecond) moves 100k pointers
 * per change. Walking from a lower bound visits only the entries a range query can match.
 */
export class SortedIndex<E extends Entry = string> {
  private readonly chunks: Chunk<E>[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The first chunk whose last entry is not below (key, id); `chunks.length` when none is. */
  private chunkFor(key: number, id: string): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid] as Chunk<E>;
      const last = chunk.keys.length - 1;
      const k = chunk.keys[last] as number;
      if (k < key || (k === key && compareIds(idOf(chunk.ids[last] as E), id) < 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds the entry at `key`; an entry of the same id already there is replaced by this one. */
  add(key: number, entry: E): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], ids: [entry] });
      this.count++;
      return;
    }
    const id = idOf(entry);
    // Past every entry: the last chunk takes it at its end.
    const c = Math.min(this.chunkFor(key, id), this.chunks.length - 1);
    const chunk = this.chunks[c] as Chunk<E>;
    const at = lowerBound(chunk, key, id);
    if (chunk.keys[at] === key && at < chunk.ids.length && idOf(chunk.ids[at] as E) === id) {
      chunk.ids[at] = entry;
      return;
    }
    if (at === chunk.keys.length) {
      chunk.keys.push(key);
      chunk.ids.push(entry);
    } else {
      chunk.keys.splice(at, 0, key);
      chunk.ids.splice(at, 0, entry);
    }
    this.count++;
    if (chunk.keys.length > CHUNK_MAX) {
      // Both halves as fresh arrays of their exact length: most indexes grow at their end, so a
      // left half is never added to again and would keep the spare room of the full chunk.
      const half = chunk.keys.length >>> 1;
      const right = { keys: chunk.keys.slice(half), ids: chunk.ids.slice(half) };
      this.chunks[c] = { keys: chunk.keys.slice(0, half), ids: chunk.ids.slice(0, half) };
      this.chunks.splice(c + 1, 0, right);
    }
  }

  /** Removes the entry of this id at `key`, if there is one. */
  delete(key: number, entry: E): void {
    const id = idOf(entry);
    const c = this.chunkFor(key, id);
    const chunk = this.chunks[c];
    if (chunk === undefined) return;
    const at = lowerBound(chunk, key, id);
    if (chunk.keys[at] !== key || idOf(chunk.ids[at] as E) !== id) return;
    chunk.keys.splice(at, 1);
    chunk.ids.splice(at, 1);
    this.count--;
    if (chunk.keys.length === 0) {
      this.chunks.splice(c, 1);
      return;
    }
    const next = this.chunks[c + 1];
    if (chunk.keys.length < CHUNK_MIN && next !== undefined && chunk.keys.length + next.keys.length <= CHUNK_MAX) {
      chunk.keys.push(...next.keys);
      chunk.ids.push(...next.ids);
      this.chunks.splice(c + 1, 1);
    }
  }

  /**
   * Entries in (key, id) order from the first at or after `from` (or strictly after
   * `(from, afterId)`), while the key stays below `before`.
   */
  *range(from = Number.NEGATIVE_INFINITY, before = Number.POSITIVE_INFINITY, afterId?: string): Generator<E> {
    const startId = afterId ?? '';
    let c = this.chunkFor(from, startId);
    let chunk = this.chunks[c];
    if (chunk === undefined) return;
    let at = lowerBound(chunk, from, startId);
    if (
      afterId !== undefined &&
      chunk.keys[at] === from &&
      at < chunk.ids.length &&
      idOf(chunk.ids[at] as E) === afterId
    ) {
      at++;
    }
    for (;;) {
      for (; at < chunk.keys.length; at++) {
        if ((chunk.keys[at] as number) >= before) return;
        yield chunk.ids[at] as E;
      }
      chunk = this.chunks[++c];
      if (chunk === undefined) return;
      at = 0;
    }
  }
}

/** The first position in `chunk` whose (key, id) is not below (key, id). */
function lowerBound<E extends Entry>(chunk: Chunk<E>, key: number, id: string): number {
  let lo = 0;
  let hi = chunk.keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = chunk.keys[mid] as number;
    if (k < key || (k === key && compareIds(idOf(chunk.ids[mid] as E), id) < 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The walk both index shapes offer. */
export interface SortedIds<E extends Entry = string> {
  readonly size: number;
  range(from?: number, before?: number, afterId?: string): Iterable<E>;
}

/**
 * A partition holding one entry, as a read sees it: made when read, since the partition keeps
 * only the entry, not its key (see PartitionedIndex).
 */
class SingleEntry<E extends Entry> implements SortedIds<E> {
  readonly size = 1;
  constructor(
    readonly key: number,
    readonly entry: E,
  ) {}

  *range(from = Number.NEGATIVE_INFINITY, before = Number.POSITIVE_INFINITY, afterId?: string): Generator<E> {
    if (this.key >= before) return;
    const id = idOf(this.entry);
    if (afterId === undefined ? this.key >= from : this.key > from || (this.key === from && id > afterId)) {
      yield this.entry;
    }
  }
}

/**
 * One sorted index per partition (a doctor, a status): `partition → (key, entry)`.
 *
 * Most partitions hold one entry (a booking's payments, a slot's bookings, a checkout session's
 * booking): such a partition keeps only the entry (an id, or the row), and reads the entry's key
 * from its row through `keyOf` when it needs it (a read, or a second entry arriving). That is
 * exact because the indexes change in step with the rows, one row at a time: whenever this index
 * holds an entry, the row `keyOf` finds for it is the one the entry was placed from. A partition
 * that holds more becomes a SortedIndex and keeps its keys.
 */
export class PartitionedIndex<E extends Entry = string> {
  private readonly parts = new Map<string, SortedIndex<E> | E>();

  /** `keyOf(entry)`: the key of the row the entry names (or is), as this index placed it. */
  constructor(private readonly keyOf: (entry: E) => number | undefined) {}

  private keyOfEntry(entry: E): number {
    const key = this.keyOf(entry);
    if (key === undefined) throw new Error(`PartitionedIndex: no row for the indexed id ${idOf(entry)}`);
    return key;
  }

  /** Adds the entry; one of the same id already in the partition at `key` is replaced by it. */
  add(partition: string, key: number, entry: E): void {
    const part = this.parts.get(partition);
    if (part === undefined) {
      this.parts.set(partition, entry);
      return;
    }
    if (!(part instanceof SortedIndex)) {
      if (idOf(part) === idOf(entry)) {
        this.parts.set(partition, entry);
        return;
      }
      const index = new SortedIndex<E>();
      index.add(this.keyOfEntry(part), part);
      index.add(key, entry);
      this.parts.set(partition, index);
      return;
    }
    part.add(key, entry);
  }

  delete(partition: string, key: number, entry: E): void {
    const part = this.parts.get(partition);
    if (part === undefined) return;
    if (!(part instanceof SortedIndex)) {
      if (idOf(part) === idOf(entry)) this.parts.delete(partition);
      return;
    }
    part.delete(key, entry);
    if (part.size === 0) this.parts.delete(partition);
  }

  /**
   * Moves an entry: a no-op for an id entry when neither the partition nor the key changed; a
   * row entry is replaced by the new row then.
   */
  move(from: { partition: string; key: number } | null, to: { partition: string; key: number } | null, entry: E) {
    if (from && to && from.partition === to.partition && from.key === to.key) {
      if (typeof entry !== 'string') this.add(to.partition, to.key, entry);
      return;
    }
    if (from) this.delete(from.partition, from.key, entry);
    if (to) this.add(to.partition, to.key, entry);
  }

  get(partition: string): SortedIds<E> | undefined {
    const part = this.parts.get(partition);
    if (part === undefined || part instanceof SortedIndex) return part;
    return new SingleEntry(this.keyOfEntry(part), part);
  }

  /** The partitions that hold at least one entry. */
  partitions(): IterableIterator<string> {
    return this.parts.keys();
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
