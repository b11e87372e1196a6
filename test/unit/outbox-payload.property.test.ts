// The outbox payload codec: one walk gives exactly what a JSON round trip with the Date and Error rules gives, and revives back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, revive } from '../../src/engine/outbox.js';
import { freezeMarked, isMarkedFrozen } from '../../src/ports/frozen-payloads.js';

/** The codec as it was written first: JSON.stringify with a replacer, then JSON.parse. */
function viaJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
      const raw = this[key];
      if (raw instanceof Date) return { $date: raw.toISOString() };
      if (raw instanceof Error) return { name: raw.name, message: raw.message };
      return v;
    }),
  );
}

const leaf = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(Number.NaN),
  fc.date({ noInvalidDate: true }),
  fc.string().map((m) => new RangeError(m)),
  fc.constant(() => 1),
);
const tree = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', '$date', 'toString')), tie('value'), {
    maxKeys: 4,
  }),
})).value;

describe('outbox payload codec', () => {
  it('encodes any value as a JSON round trip does', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), tree, { maxKeys: 5 }), (value) => {
        expect(encode(value)).toStrictEqual(viaJson(value));
      }),
      { numRuns: 500 },
    );
  });

  it('freezes what it encodes all the way down, and encodes an object met twice once when told to share', () => {
    const frozenThroughout = (v: unknown): boolean =>
      v === null || typeof v !== 'object' || (Object.isFrozen(v) && Object.values(v).every(frozenThroughout));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), tree, { maxKeys: 5 }), (value) => {
        expect(frozenThroughout(encode(value))).toBe(true);
      }),
      { numRuns: 200 },
    );
    const booking = { id: 'b1', at: new Date('2030-01-01T10:00:00.000Z') };
    const shared = new Map<object, unknown>();
    const first = encode({ effect: { booking } }, shared);
    const second = encode({ effect: { args: { booking } } }, shared);
    expect((first.effect as { booking: unknown }).booking).toBe(
      ((second.effect as { args: { booking: unknown } }).args as { booking: unknown }).booking,
    );
    expect(second).toStrictEqual(viaJson({ effect: { args: { booking } } }));
    // Marked as built frozen, so a store keeps it without walking it again; a frozen one cannot be marked.
    expect(isMarkedFrozen(first)).toBe(true);
    expect(isMarkedFrozen(first.effect as object)).toBe(false);
    expect(isMarkedFrozen(Object.freeze({ effect: {} }))).toBe(false);
    expect(() => freezeMarked(Object.freeze({ effect: {} }))).toThrow('freezeMarked: the payload is frozen already');
  });

  it('marks a payload where nothing that reads or copies it can see the mark', () => {
    const payload = encode({ effect: { booking: { id: 'b1' } }, n: 1 });
    expect(Object.isFrozen(payload)).toBe(true);
    expect(isMarkedFrozen(payload)).toBe(true);
    expect(Object.keys(payload)).toEqual(['effect', 'n']);
    expect(
      Reflect.ownKeys(payload).filter(
        (k) => typeof k === 'symbol' && Object.getOwnPropertyDescriptor(payload, k)?.enumerable,
      ),
    ).toEqual([]);
    expect(JSON.stringify(payload)).toBe('{"effect":{"booking":{"id":"b1"}},"n":1}');
    expect(payload).toStrictEqual({ effect: { booking: { id: 'b1' } }, n: 1 });
    // A copy is not marked: a store that keeps a copy walks it or copies it again.
    expect(isMarkedFrozen({ ...payload })).toBe(false);
    expect(isMarkedFrozen(Object.freeze(structuredClone(payload)))).toBe(false);
    // An array payload is marked too; a Date is not (nothing to gain).
    expect(isMarkedFrozen(encode([1, { a: 2 }]) as object)).toBe(true);
  });

  it('honours toJSON, and turns Dates back into Dates on revive', () => {
    const at = new Date('2030-01-01T10:00:00.000Z');
    const value = {
      at,
      money: { toJSON: () => ({ amount: 5 }) },
      list: [at, undefined, () => 0, -0],
      deep: { $date: 1 },
    };
    const encoded = encode(value);
    expect(encoded).toStrictEqual(viaJson(value));
    expect(encoded).toEqual({
      at: { $date: at.toISOString() },
      money: { amount: 5 },
      list: [{ $date: at.toISOString() }, null, null, 0],
      deep: { $date: 1 },
    });
    expect(revive(encoded, (iso) => new Date(iso))).toEqual({
      at,
      money: { amount: 5 },
      list: [at, null, null, 0],
      deep: { $date: 1 },
    });
  });

  it('keeps a __proto__ key as data, never as a prototype', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const encoded = encode(value);
    expect(Object.getPrototypeOf(encoded)).toBe(Object.prototype);
    expect(Object.keys(encoded)).toEqual(['__proto__', 'a']);
    const revived = revive(encoded, (iso) => iso) as Record<string, unknown>;
    expect(Object.getPrototypeOf(revived)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
