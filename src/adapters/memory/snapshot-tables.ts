// Snapshot isolation over in-process maps: each transaction reads its start snapshot plus its own writes; first committer wins.

/** The map operations MemoryStore's operations use; a plain Map is one, so is a transaction's view. */
export interface Table<K, V> {
  get(key: K): V | undefined;
  has(key: K): boolean;
  set(key: K, value: V): unknown;
  delete(key: K): unknown;
  values(): Iterable<V>;
}

const ABSENT = Symbol('absent');
type Slot<V> = V | typeof ABSENT;

/**
 * A transaction's view of one table. `own` holds its writes (ABSENT for a delete); `preserved`
 * holds, for keys other transactions committed over after this one began, the value as of this
 * one's snapshot. Everything else is read from the committed table.
 */
export class SnapshotView<K, V> implements Table<K, V> {
  readonly own = new Map<K, Slot<V>>();
  readonly preserved = new Map<K, Slot<V>>();

  constructor(readonly committed: Map<K, V>) {}

  /** The value this transaction's snapshot saw, ignoring its own writes. */
  snapshotValue(key: K): V | undefined {
    const kept = this.preserved.has(key) ? this.preserved.get(key) : this.committed.get(key);
    return kept === ABSENT ? undefined : kept;
  }

  get(key: K): V | undefined {
    if (this.own.has(key)) {
      const mine = this.own.get(key);
      return mine === ABSENT ? undefined : mine;
    }
    return this.snapshotValue(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V): void {
    this.own.set(key, value);
  }

  delete(key: K): void {
    this.own.set(key, ABSENT);
  }

  *values(): IterableIterator<V> {
    for (const [key, value] of this.committed) {
      if (this.own.has(key)) continue;
      if (!this.preserved.has(key)) yield value;
      else {
        const kept = this.preserved.get(key);
        if (kept !== ABSENT) yield kept as V;
      }
    }
    for (const [key, kept] of this.preserved) {
      if (kept !== ABSENT && !this.committed.has(key) && !this.own.has(key)) yield kept;
    }
    for (const mine of this.own.values()) if (mine !== ABSENT) yield mine;
  }
}

/**
 * Thrown at commit when a transaction wrote a key that another transaction committed after
 * this one's snapshot (first committer wins). Transient: the store runs the transaction again.
 */
export class SnapshotConflictError extends Error {
  readonly transient = true;
  constructor(readonly table: string) {
    super(`Write conflict on ${table}: another transaction committed first; retrying`);
    this.name = 'SnapshotConflictError';
  }
}

export function isSnapshotConflict(error: unknown): error is SnapshotConflictError {
  return error instanceof SnapshotConflictError;
}

type Views<T> = { [N in keyof T]: T[N] extends Map<infer K, infer V> ? SnapshotView<K, V> : never };

export interface SnapshotTransaction<T> {
  readonly snapshot: number;
  readonly views: Views<T>;
}

/**
 * Hands out transactions over `committed` tables and commits them. `merged` names tables whose
 * values are Sets of ids (non-unique lookup indexes): concurrent writers do not conflict there,
 * their additions and removals are merged at commit. Every other key is a row or a unique-index
 * entry, and a write to one that was committed after the writer's snapshot is a conflict.
 */
export class SnapshotCoordinator<T extends object> {
  private sequence = 0;
  private readonly versions = new Map<keyof T, Map<unknown, number>>();
  private readonly open = new Set<SnapshotTransaction<T>>();

  /**
   * `applied`, when given, hears of every committed change to a table outside `merged` (after
   * the conflict check, as it is applied), so indexes over the committed rows stay in step.
   */
  constructor(
    private readonly committed: T,
    private readonly merged: ReadonlySet<keyof T>,
    private readonly applied?: (table: keyof T, key: unknown, before: unknown, after: unknown) => void,
  ) {
    for (const name of Object.keys(committed) as (keyof T)[]) this.versions.set(name, new Map());
  }

  begin(): SnapshotTransaction<T> {
    const views = {} as Record<keyof T, SnapshotView<unknown, unknown>>;
    for (const name of Object.keys(this.committed) as (keyof T)[]) {
      views[name] = new SnapshotView(this.committed[name] as Map<unknown, unknown>);
    }
    const tx: SnapshotTransaction<T> = { snapshot: this.sequence, views: views as unknown as Views<T> };
    this.open.add(tx);
    return tx;
  }

  abort(tx: SnapshotTransaction<T>): void {
    this.open.delete(tx);
  }

  /** Checks for conflicts, then applies every write at once (synchronously: nothing interleaves). */
  commit(tx: SnapshotTransaction<T>): void {
    const views = tx.views as unknown as Record<keyof T, SnapshotView<unknown, unknown>>;
    const names = Object.keys(views) as (keyof T)[];
    for (const name of names) {
      if (this.merged.has(name)) continue;
      const versions = this.versions.get(name) as Map<unknown, number>;
      for (const key of views[name].own.keys()) {
        if ((versions.get(key) ?? 0) > tx.snapshot) {
          this.open.delete(tx);
          throw new SnapshotConflictError(String(name));
        }
      }
    }
    this.open.delete(tx);
    this.sequence++;
    for (const name of names) {
      const view = views[name];
      const table = this.committed[name] as Map<unknown, unknown>;
      const versions = this.versions.get(name) as Map<unknown, number>;
      for (const [key, mine] of view.own) {
        let next: unknown = mine;
        if (this.merged.has(name)) next = mergeSets(view.snapshotValue(key), mine, table.get(key));
        for (const other of this.open) {
          const theirs = (other.views as unknown as Record<keyof T, SnapshotView<unknown, unknown>>)[name];
          if (!theirs.preserved.has(key)) theirs.preserved.set(key, table.has(key) ? table.get(key) : ABSENT);
        }
        const before = table.get(key);
        if (next === ABSENT || next === undefined) table.delete(key);
        else table.set(key, next);
        if (this.applied && !this.merged.has(name)) this.applied(name, key, before, table.get(key));
        versions.set(key, this.sequence);
      }
    }
  }
}

/** Applies what a transaction added to and removed from a Set (vs its snapshot) onto the committed Set. */
function mergeSets(before: unknown, after: unknown, current: unknown): Set<unknown> | typeof ABSENT {
  const was = (before as Set<unknown> | undefined) ?? new Set();
  const now = after === ABSENT ? new Set() : (after as Set<unknown>);
  const next = new Set(current as Set<unknown> | undefined);
  for (const id of now) if (!was.has(id)) next.add(id);
  for (const id of was) if (!now.has(id)) next.delete(id);
  return next.size === 0 ? ABSENT : next;
}
