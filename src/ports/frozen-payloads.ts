// Outbox payloads built frozen all the way down, so a store may keep one as it is: internal, not exported from the package.

/**
 * The mark: a non-enumerable own property under a symbol no one else holds. JSON, Object.keys,
 * spreads, structuredClone and equality checks do not see it, and a copy does not carry it. (A
 * WeakSet of marked payloads would do the same, but its table keeps the size of its busiest
 * moment: about 80 bytes per paid booking after 100,000, long after the payloads were gone.)
 */
const MARK = Symbol('careslot.frozenPayload');

/**
 * Marks `payload` and freezes it. The caller vouches that everything in it is frozen already
 * (the engine's encoding builds it so), so a store may keep it without checking or copying it.
 * Refuses one already frozen (it can no longer be marked).
 */
export function freezeMarked<T extends object>(payload: T): T {
  if (Object.isFrozen(payload)) throw new TypeError('freezeMarked: the payload is frozen already');
  Object.defineProperty(payload, MARK, { value: true });
  return Object.freeze(payload);
}

/** Whether `freezeMarked` built this payload. */
export function isMarkedFrozen(payload: object): boolean {
  return Object.hasOwn(payload, MARK);
}
