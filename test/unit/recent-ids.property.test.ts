// RecentIds (engine.events emits an event id once per process) against a plain list of the last ids added.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../src/engine/outbox.js';

describe('RecentIds', () => {
  it('remembers exactly the last `size` distinct ids added, whatever the order and repeats', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.integer({ min: 0, max: 12 }).map(String), { maxLength: 80 }),
        (size, adds) => {
          const recent = new RecentIds(size);
          const model: string[] = [];
          for (const id of adds) {
            recent.add(id);
            if (!model.includes(id)) {
              model.push(id);
              if (model.length > size) model.shift();
            }
            for (let probe = 0; probe <= 12; probe++) {
              expect(recent.has(String(probe))).toBe(model.includes(String(probe)));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('forgets the oldest when one more arrives, and keeps the rest', () => {
    const recent = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'a', 'd']) recent.add(id);
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
  });
});
