// The memory store passes the shared store conformance suite.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { describeStoreConformance, scheduleData } from '../conformance/store-conformance.js';

describeStoreConformance('MemoryStore', { fresh: async () => new MemoryStore() });

describe('MemoryStore options', () => {
  it('rejects a now option that is not a function', () => {
    expect(() => new MemoryStore({ now: 'soon' as unknown as () => Date })).toThrow(/options.now must be a function/);
  });

  it('stamps records with the injected clock', async () => {
    const at = new Date('2031-01-01T00:00:00Z');
    const store = new MemoryStore({ now: () => at });
    const slot = await store.insertSchedule(scheduleData());
    expect(slot.createdAt).toEqual(at);
  });
});
