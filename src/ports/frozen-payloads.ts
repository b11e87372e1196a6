// Outbox payloads built frozen all the way down, so a store may keep one as it is: internal, not exported from the package.

const built = new WeakSet<object>();

/**
 * Records that `payload` and everything in it are frozen (the engine's encoding builds them so),
 * so a store may keep it without checking or copying it. Refuses one whose top is not frozen.
 */
export function markFrozenPayload<T extends object>(payload: T): T {
  if (!Object.isFrozen(payload)) throw new TypeError('markFrozenPayload: the payload is not frozen');
  built.add(payload);
  return payload;
}

/** Whether `markFrozenPayload` was given this payload. */
export function isMarkedFrozen(payload: object): boolean {
  return built.has(payload);
}
