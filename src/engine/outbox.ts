// The outbox dispatcher: appends each change's effects in its transaction, delivers them after commit, retries with backoff, dead-letters.
import { randomBytes } from 'node:crypto';
import type { StoreOperations } from '../ports/booking-store.js';
import { freezeMarked } from '../ports/frozen-payloads.js';
import type { NewOutboxRecord, OutboxRecord } from '../ports/outbox.js';
import type { Effect, EngineContext, FreshDelivery, OutboxWriter } from './context.js';
import { BUILT_IN_CONSUMERS, consumerOf, EVENTS_CONSUMER, runEffect } from './effects.js';
import {
  type DrainReport,
  type EngineOutbox,
  OUTBOX_EVENT_TYPES,
  type OutboxEvent,
  type OutboxEventType,
  type OutboxHandler,
  PermanentDeliveryError,
  type SubscribeOptions,
} from './outbox-types.js';

/** The version of the payload careslot writes. */
const PAYLOAD_VERSION = 1;

interface RetryPolicy {
  maxAttempts: number;
  maxAgeMs: number | null;
  baseDelayMs: number;
  maxDelayMs: number;
}

interface Subscriber {
  name: string;
  handler: OutboxHandler;
  events: ReadonlySet<string>;
  policy: RetryPolicy;
  fastPath: boolean;
}

// ---- payload encoding: JSON-safe, with Dates kept as { $date } so effects come back as they were ----

/**
 * The JSON-safe payload an outbox record keeps (exported for its tests). Pass one `shared` map to
 * the encodes of one commit: an object reached again (the booking most effects carry) is encoded
 * once and its result shared, not walked again.
 */
export function encode(value: unknown, shared?: Map<object, unknown>): Record<string, unknown> {
  return jsonSafe(value, false, shared, true) as Record<string, unknown>;
}

/** Sets `key` as an own property, `__proto__` included (plain assignment would set the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/**
 * What `JSON.parse(JSON.stringify(value))` gives, in one walk and without the text: Dates become
 * `{ $date: ISO }`, Errors `{ name, message }`, `toJSON` is honoured, undefined, functions and
 * symbols are dropped (null in arrays), and non-finite numbers become null. With `shared`, an
 * object met before returns its earlier result (the output may share subtrees; it is never mutated).
 */
function jsonSafe(value: unknown, inArray: boolean, shared?: Map<object, unknown>, root = false): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // As JSON: -0 becomes 0, and NaN and the infinities null.
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : null;
    case 'undefined':
    case 'function':
    case 'symbol':
      return inArray ? null : undefined;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
  }
  if (value === null) return null;
  if (shared !== undefined) {
    const known = shared.get(value as object);
    if (known !== undefined) return known;
  }
  const out = jsonSafeObject(value as object, inArray, shared, root);
  if (shared !== undefined && out !== undefined) shared.set(value as object, out);
  return out;
}

/**
 * The output is frozen all the way down: a store may keep it as it is (MemoryStore does) instead
 * of copying it. A payload's root (`root`) is marked so (freezeMarked) unless it is a Date, an
 * Error or a result shared with an earlier encode; a store then checks it by walking it.
 */
function jsonSafeObject(
  value: object,
  inArray: boolean,
  shared: Map<object, unknown> | undefined,
  root: boolean,
): unknown {
  const freeze = root ? freezeMarked : Object.freeze;
  if (value instanceof Date) return Object.freeze({ $date: value.toISOString() });
  if (value instanceof Error) return Object.freeze({ name: value.name, message: value.message });
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = jsonSafe(value[i], true, shared);
    return freeze(out);
  }
  const object = value as Record<string, unknown> & { toJSON?: unknown };
  if (typeof object.toJSON === 'function') return jsonSafe((object.toJSON as () => unknown)(), inArray, shared, root);
  const out: Record<string, unknown> = {};
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const v = jsonSafe(object[key], false, shared);
    if (v !== undefined) setOwn(out, key, v);
  }
  return freeze(out);
}

export function revive(value: unknown, asDate: (iso: string) => unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = revive(value[i], asDate);
    return out;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && keys[0] === '$date' && typeof object.$date === 'string') return asDate(object.$date);
  const out: Record<string, unknown> = {};
  for (const key of keys) setOwn(out, key, revive(object[key], asDate));
  return out;
}

const decodeEffect = (payload: Record<string, unknown>): Effect =>
  revive(payload.effect, (iso) => new Date(iso)) as Effect;

/**
 * Remembers the last `size` ids added (exported for its tests): `engine.events` emits each event
 * id once per process. The oldest is found in a ring, not as the Set's first value: a Set keeps
 * deleted entries as holes until it rehashes, and reaching its first value walks over all of
 * them (thousands per add once it is full).
 */
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;
  constructor(private readonly size: number) {
    this.ring = new Array(size).fill(undefined);
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    if (this.ids.has(id)) return;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.ids.delete(oldest);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.size;
    this.ids.add(id);
  }
}

const describeError = (error: unknown): string =>
  (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 2000);

export class OutboxDispatcher implements OutboxWriter, EngineOutbox {
  /** This dispatcher's lease owner id: unique per engine instance. */
  readonly owner = `careslot-${randomBytes(6).toString('hex')}`;
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly emitted = new RecentIds(10_000);
  /** The keys this dispatcher's fast path is delivering now (born leased to it, or claimed by it). */
  private readonly inFlight = new Set<string>();
  /**
   * Records given back because an earlier record of their booking, for their consumer, was in
   * this dispatcher's `inFlight` at the time: the earlier one's key → the keys waiting for it.
   * They are delivered again as soon as that delivery ends, not at the next drain.
   */
  private readonly parked = new Map<string, string[]>();
  private seq = 0;

  constructor(private readonly ctx: EngineContext) {}

  private get builtInPolicy(): RetryPolicy {
    const o = this.ctx.options;
    return {
      maxAttempts: o.outboxMaxAttempts,
      maxAgeMs: null,
      baseDelayMs: o.outboxRetryDelayMs,
      maxDelayMs: o.outboxMaxDelayMs,
    };
  }

  subscribe(name: string, handler: OutboxHandler, options: SubscribeOptions = {}): () => void {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200 || name.startsWith('careslot:')) {
      throw new TypeError(
        'engine.outbox.subscribe: name must be a non-empty string (up to 200) not starting with "careslot:"',
      );
    }
    if (typeof handler !== 'function') throw new TypeError('engine.outbox.subscribe: handler must be a function');
    if (this.subscribers.has(name)) throw new TypeError(`engine.outbox.subscribe: "${name}" is already subscribed`);
    const events = options.events ?? OUTBOX_EVENT_TYPES;
    for (const type of events) {
      if (!(OUTBOX_EVENT_TYPES as readonly string[]).includes(type)) {
        throw new TypeError(`engine.outbox.subscribe: unknown event type ${JSON.stringify(type)}`);
      }
    }
    const count = (key: string, value: number | undefined, fallback: number): number => {
      if (value === undefined) return fallback;
      if (!Number.isFinite(value) || value <= 0)
        throw new TypeError(`engine.outbox.subscribe: ${key} must be positive`);
      return value;
    };
    if (options.fastPath !== undefined && typeof options.fastPath !== 'boolean') {
      throw new TypeError('engine.outbox.subscribe: fastPath must be a boolean');
    }
    this.subscribers.set(name, {
      name,
      handler,
      fastPath: options.fastPath ?? true,
      events: new Set(events),
      policy: {
        maxAttempts: count('maxAttempts', options.maxAttempts, 10),
        maxAgeMs: options.maxAgeMs === undefined ? null : count('maxAgeMs', options.maxAgeMs, 0),
        baseDelayMs: count('baseDelayMs', options.baseDelayMs, 1_000),
        maxDelayMs: count('maxDelayMs', options.maxDelayMs, 3_600_000),
      },
    });
    return () => {
      this.subscribers.delete(name);
    };
  }

  /** A stable, unique id that sorts in append order within this process. */
  private nextEventId(now: Date): string {
    const time = now.getTime().toString(36).padStart(9, '0');
    const seq = (this.seq++ % 36 ** 6).toString(36).padStart(6, '0');
    return `evt_${time}${seq}${this.owner.slice(-8)}`;
  }

  async append(tx: StoreOperations, effects: readonly Effect[]): Promise<Map<string, FreshDelivery>> {
    const fresh = new Map<string, FreshDelivery>();
    if (effects.length === 0) return fresh;
    const now = this.ctx.now();
    // Born leased to this dispatcher: its fast path delivers them right after the commit without
    // claiming them first, and nobody else takes them before the lease ends (after a crash, anyone may).
    const leaseUntil = new Date(now.getTime() + this.ctx.options.outboxLeaseMs);
    const records: NewOutboxRecord[] = [];
    // One commit's effects mostly carry the same booking: it is encoded once for all of them.
    const shared = new Map<object, unknown>();
    const add = (effect: Effect, record: NewOutboxRecord, fastPath: boolean) => {
      records.push(record);
      if (fastPath) fresh.set(record.key, { effect, record: appendedRecord(record) });
    };
    for (const effect of effects) {
      const eventId = this.nextEventId(now);
      const type = effect.spec.kind === 'emit' ? effect.spec.event : effect.spec.kind;
      const payload = encode({ effect }, shared);
      const bookingId = effect.bookingId ?? null;
      const scheduleId = effect.scheduleId ?? null;
      const owner = this.owner;
      add(
        effect,
        outboxRecord(eventId, consumerOf(effect), type, bookingId, scheduleId, payload, now, owner, leaseUntil),
        true,
      );
      if (effect.spec.kind !== 'emit') continue;
      for (const sub of this.subscribers.values()) {
        if (!sub.events.has(type)) continue;
        const lease = sub.fastPath ? owner : null;
        add(
          effect,
          outboxRecord(eventId, sub.name, type, bookingId, scheduleId, payload, now, lease, leaseUntil),
          sub.fastPath,
        );
      }
    }
    const added = await tx.appendOutbox(records);
    // A record the store already had (it never should) is not ours to deliver: the drain takes what is due.
    if (added !== records.length) fresh.clear();
    return fresh;
  }

  /**
   * The fast path: delivers these records now, in this process. With `fresh` (what `append`
   * returned for them) they are leased already and their effects are at hand; without (a
   * redrive), they are claimed first.
   */
  async deliver(keys: readonly string[], fresh?: ReadonlyMap<string, FreshDelivery>): Promise<void> {
    if (keys.length === 0) return;
    const own: OutboxRecord[] = [];
    const byConsumer = new Map<string, string[]>();
    for (const key of keys) {
      const appended = fresh?.get(key);
      if (appended !== undefined) {
        own.push(appended.record);
        continue;
      }
      const consumer = key.slice(key.indexOf('/') + 1);
      const group = byConsumer.get(consumer);
      if (group === undefined) byConsumer.set(consumer, [key]);
      else group.push(key);
    }
    const groups = [...byConsumer].filter(([consumer]) => this.knows(consumer));
    const records = own.filter((r) => this.knows(r.consumer));
    for (const r of records) this.inFlight.add(r.key);
    let claimed: OutboxRecord[] = [];
    try {
      if (groups.length > 0) {
        // One transaction leases the rest of this change's records for every consumer.
        const now = this.ctx.now();
        const leaseUntil = new Date(now.getTime() + this.ctx.options.outboxLeaseMs);
        claimed = await this.ctx.store.transaction(async (tx) => {
          const all: OutboxRecord[] = [];
          for (const [consumer, group] of groups) {
            const limit = group.length;
            all.push(...(await tx.claimOutbox({ consumer, owner: this.owner, now, leaseUntil, limit, keys: group })));
          }
          return all;
        });
        for (const r of claimed) this.inFlight.add(r.key);
        records.push(...claimed);
      }
      if (records.length === 0) return;
      await this.process(records, undefined, fresh);
    } catch (error) {
      // The store failed: the records stay pending and the next drain delivers them; those born
      // leased are given back if the store lets us, else they wait for their lease to end.
      this.ctx.reportFailure({ name: 'outbox:deliver' }, error);
      await this.release(records).catch(() => {});
    } finally {
      for (const r of own) this.inFlight.delete(r.key);
      for (const r of claimed) this.inFlight.delete(r.key);
    }
    // What waited for these deliveries goes now (each key was parked on one of them only).
    if (this.parked.size === 0) return;
    const waiting: string[] = [];
    for (const list of [own, claimed]) {
      for (const r of list) {
        const keys = this.parked.get(r.key);
        if (keys === undefined) continue;
        this.parked.delete(r.key);
        waiting.push(...keys);
      }
    }
    await this.deliver(waiting);
  }

  async deliverPendingOf(bookingId: string): Promise<void> {
    const pending = await this.ctx.store.findOutbox({
      bookingId,
      status: 'pending',
      limit: this.ctx.options.batchSize,
    });
    // Born leased to us by a commit whose fast path never ran (its outcome was unknown): ours to
    // deliver now. What a fast path of ours is delivering right now is left to it.
    const now = this.ctx.now().getTime();
    const fresh = new Map<string, FreshDelivery>();
    for (const r of pending) {
      const ours = r.leaseOwner === this.owner && r.leaseUntil !== null && r.leaseUntil.getTime() > now;
      if (ours && !this.inFlight.has(r.key)) fresh.set(r.key, { effect: null, record: r });
    }
    await this.deliver(
      pending.filter((r) => r.leaseOwner !== this.owner || fresh.has(r.key)).map((r) => r.key),
      fresh,
    );
  }

  async drain(): Promise<DrainReport> {
    const report: DrainReport = { delivered: 0, failed: 0, dead: 0 };
    const limit = this.ctx.options.batchSize;
    for (const consumer of [...BUILT_IN_CONSUMERS, ...this.subscribers.keys()]) {
      // Bounded: each pass leases what it takes, so a record is not claimed twice in one drain.
      const held: OutboxRecord[] = [];
      try {
        for (let pass = 0; pass < 1000; pass++) {
          const claimed = await this.claim(consumer, limit);
          const done = await this.process(claimed, held);
          report.delivered += done.delivered;
          report.failed += done.failed;
          report.dead += done.dead;
          if (claimed.length < limit) break;
        }
      } finally {
        await this.release(held);
      }
    }
    return report;
  }

  listDead(query: { consumer?: string; limit?: number } = {}): Promise<OutboxRecord[]> {
    return this.ctx.store.findOutbox({
      status: 'dead',
      ...(query.consumer === undefined ? {} : { consumer: query.consumer }),
      limit: query.limit ?? 100,
    });
  }

  async redrive(key: string): Promise<boolean> {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('engine.outbox.redrive: pass a record key');
    const at = this.ctx.now();
    const done = await this.ctx.store.transaction((tx) => tx.redriveOutbox({ key, at }));
    if (done) await this.deliver([key]);
    return done;
  }

  /** Deletes delivered records past the retention; returns how many went. */
  async prune(): Promise<number> {
    const deliveredBefore = new Date(this.ctx.now().getTime() - this.ctx.options.outboxRetentionDays * 86_400_000);
    const limit = this.ctx.options.batchSize;
    let deleted = 0;
    for (;;) {
      const removed = await this.ctx.store.transaction((tx) => tx.deleteDeliveredOutbox({ deliveredBefore, limit }));
      deleted += removed;
      if (removed < limit) return deleted;
    }
  }

  private knows(consumer: string): boolean {
    return (BUILT_IN_CONSUMERS as readonly string[]).includes(consumer) || this.subscribers.has(consumer);
  }

  private claim(consumer: string, limit: number, keys?: readonly string[]): Promise<OutboxRecord[]> {
    const now = this.ctx.now();
    const leaseUntil = new Date(now.getTime() + this.ctx.options.outboxLeaseMs);
    return this.ctx.store.transaction((tx) =>
      tx.claimOutbox({ consumer, owner: this.owner, now, leaseUntil, limit, ...(keys ? { keys } : {}) }),
    );
  }

  /**
   * Delivers leased records in their order. In order per booking and consumer: a record waits
   * while an earlier one of its booking for the same consumer is pending outside this batch, or
   * failed and waits for its retry; its lease is released so the next drain takes it at once.
   * Deliveries are marked delivered after they went through (a crash in between delivers them
   * again: at least once), together in one transaction at the end of the batch; except around
   * a delivery that commits a change of its own while it runs (a refund settles, a subscriber
   * is host code that may call the engine): what came before it is marked first, and it is
   * marked at once, so the fast path of that change does not find them pending ahead of its own.
   */
  private async process(
    records: readonly OutboxRecord[],
    held?: OutboxRecord[],
    fresh?: ReadonlyMap<string, FreshDelivery>,
  ): Promise<DrainReport> {
    const report: DrainReport = { delivered: 0, failed: 0, dead: 0 };
    if (records.length === 0) return report;
    const inBatch = new Set(records.map((r) => r.key));
    const pendingOf = new Map<string, OutboxRecord[]>();
    for (const bookingId of new Set(records.map((r) => r.bookingId))) {
      if (bookingId === null) continue;
      const pending = await this.ctx.store.findOutbox({ bookingId, status: 'pending' });
      pendingOf.set(
        bookingId,
        pending.filter((r) => !inBatch.has(r.key)),
      );
    }
    /** The chains that wait, each with the delivery of this dispatcher it waits behind (null: none). */
    const stalled = new Map<string, string | null>();
    const waiting: OutboxRecord[] = [];
    /** Fast path: [waiting key, the in-flight delivery of this dispatcher it waits behind]. */
    const behindOwn: [string, string][] = [];
    const done: string[] = [];
    for (const record of records) {
      const chain = record.bookingId === null ? null : `${record.consumer}\u0000${record.bookingId}`;
      if (chain !== null) {
        if (stalled.has(chain)) {
          waiting.push(record);
          const blocker = stalled.get(chain);
          if (held === undefined && blocker) behindOwn.push([record.key, blocker]);
          continue;
        }
        let earlier = false;
        let blocker: string | null = null;
        for (const r of pendingOf.get(record.bookingId as string) ?? []) {
          if (r.consumer !== record.consumer || !isBefore(r, record)) continue;
          earlier = true;
          if (this.inFlight.has(r.key)) {
            blocker = r.key;
            break;
          }
        }
        if (earlier) {
          stalled.set(chain, blocker);
          waiting.push(record);
          if (held === undefined && blocker !== null) behindOwn.push([record.key, blocker]);
          continue;
        }
      }
      const marksAtOnce = record.type === 'refund.settle' || this.subscribers.has(record.consumer);
      if (marksAtOnce) await this.complete(done);
      try {
        await this.handle(record, fresh?.get(record.key)?.effect ?? undefined);
      } catch (error) {
        // A dead delivery no longer holds its booking's later ones back; one waiting for its retry does.
        if (await this.fail(record, error)) report.dead++;
        else {
          report.failed++;
          if (chain !== null) stalled.set(chain, null);
        }
        continue;
      }
      done.push(record.key);
      report.delivered++;
      if (marksAtOnce) await this.complete(done);
    }
    await this.complete(done);
    // What waited behind an earlier delivery goes back in line now, not after its lease (a drain
    // keeps holding them until it ends, so its next pass takes other records instead).
    if (held) held.push(...waiting);
    else {
      await this.release(waiting);
      // Given back behind a delivery of this dispatcher: handed to it if it is still running (it
      // delivers them when it ends, see deliver), else delivered now. No await between the check
      // and the handing over, so each is delivered again once, by one of the two.
      const now: string[] = [];
      for (const [key, blocker] of behindOwn) {
        if (!this.inFlight.has(blocker)) now.push(key);
        else {
          const queue = this.parked.get(blocker);
          if (queue === undefined) this.parked.set(blocker, [key]);
          else queue.push(key);
        }
      }
      if (now.length > 0) await this.deliver(now);
    }
    return report;
  }

  /** Marks these deliveries delivered, in one transaction, and empties the list. */
  private async complete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    const at = this.ctx.now();
    const owner = this.owner;
    const batch = keys.splice(0);
    await this.ctx.store.transaction(async (tx) => {
      for (const key of batch) await tx.completeOutbox({ key, owner, at });
    });
  }

  private async release(records: readonly OutboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.ctx.store.transaction(async (tx) => {
      for (const record of records) await tx.releaseOutbox({ key: record.key, owner: this.owner });
    });
  }

  private async handle(record: OutboxRecord, fresh: Effect | undefined): Promise<void> {
    const subscriber = this.subscribers.get(record.consumer);
    if (subscriber) {
      await subscriber.handler(toOutboxEvent(record));
      return;
    }
    const effect = fresh ?? decodeEffect(record.payload);
    if (record.consumer === EVENTS_CONSUMER) {
      if (this.emitted.has(record.eventId)) return;
      this.emitted.add(record.eventId);
    }
    await runEffect(this.ctx, effect, { eventId: record.eventId, attempt: record.attempts + 1 });
  }

  /** Records the failed attempt; true when the delivery is now dead. */
  private async fail(record: OutboxRecord, error: unknown): Promise<boolean> {
    const policy = this.subscribers.get(record.consumer)?.policy ?? this.builtInPolicy;
    const now = this.ctx.now();
    const attempts = record.attempts + 1;
    const tooOld = policy.maxAgeMs !== null && now.getTime() - record.createdAt.getTime() >= policy.maxAgeMs;
    const dead = error instanceof PermanentDeliveryError || attempts >= policy.maxAttempts || tooOld;
    const delay = Math.min(policy.baseDelayMs * 2 ** (attempts - 1), policy.maxDelayMs);
    const retryAt = dead ? null : new Date(now.getTime() + delay);
    const recorded = await this.ctx.store.transaction((tx) =>
      tx.failOutbox({ key: record.key, owner: this.owner, error: describeError(error), retryAt }),
    );
    if (!recorded || !dead) return false;
    const effect = this.subscribers.has(record.consumer) ? null : decodeEffect(record.payload);
    this.ctx.reportFailure(
      {
        name: effect?.name ?? `subscriber:${record.consumer}`,
        ...(record.bookingId === null ? {} : { bookingId: record.bookingId }),
        ...(record.scheduleId === null ? {} : { scheduleId: record.scheduleId }),
      },
      error,
    );
    this.ctx.emit('outbox.dead', { record: { ...record, status: 'dead', attempts }, error });
    return true;
  }
}

/** A new delivery of `eventId` to `consumer`, in the store port's shape (one literal, one hidden class). */
function outboxRecord(
  eventId: string,
  consumer: string,
  type: string,
  bookingId: string | null,
  scheduleId: string | null,
  payload: Record<string, unknown>,
  createdAt: Date,
  leaseOwner: string | null,
  leaseUntil: Date,
): NewOutboxRecord {
  return {
    key: `${eventId}/${consumer}`,
    eventId,
    consumer,
    type,
    bookingId,
    scheduleId,
    payload,
    version: PAYLOAD_VERSION,
    createdAt,
    leaseOwner,
    leaseUntil: leaseOwner === null ? null : leaseUntil,
  };
}

/** The record as the store keeps it right after `appendOutbox`. */
function appendedRecord(r: NewOutboxRecord): OutboxRecord {
  return {
    key: r.key,
    eventId: r.eventId,
    consumer: r.consumer,
    type: r.type,
    bookingId: r.bookingId,
    scheduleId: r.scheduleId,
    payload: r.payload,
    version: r.version,
    createdAt: r.createdAt,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: r.createdAt,
    leaseOwner: r.leaseOwner ?? null,
    leaseUntil: r.leaseUntil ?? null,
    lastError: null,
    deliveredAt: null,
  };
}

const isBefore = (a: OutboxRecord, b: OutboxRecord): boolean =>
  a.createdAt.getTime() < b.createdAt.getTime() || (a.createdAt.getTime() === b.createdAt.getTime() && a.key < b.key);

/** A record as a subscriber sees it: the event's data as plain JSON (Dates as ISO strings). */
function toOutboxEvent(record: OutboxRecord): OutboxEvent {
  const effect = record.payload.effect as { spec?: { args?: unknown } } | undefined;
  return {
    id: record.eventId,
    type: record.type as OutboxEventType,
    bookingId: record.bookingId,
    scheduleId: record.scheduleId,
    createdAt: record.createdAt,
    version: record.version,
    payload: revive(effect?.spec?.args ?? {}, (iso) => iso) as Record<string, unknown>,
    attempt: record.attempts + 1,
  };
}
