// The outbox on MongooseStore: its collection and documents, the filters and updates (evaluated by mingo), argument checks, an index for every query, and claims that conflict instead of double-leasing.
import { Query } from 'mingo';
import { update as applyUpdate } from 'mingo/updater';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_COLLECTION_NAMES,
  MONGOOSE_STORE_INDEXES,
  type OutboxDocument,
} from '../../src/adapters/mongoose/index.js';
import { documentToOutbox, outboxToDocument } from '../../src/adapters/mongoose/mapping.js';
import {
  deleteOutboxFilter,
  type Filter,
  OUTBOX_SORT,
  outboxClaimFilter,
  outboxCompleteUpdate,
  outboxDeadFilter,
  outboxFailUpdate,
  outboxHeldFilter,
  outboxLeaseFilter,
  outboxLeaseUpdate,
  outboxQueryFilter,
  outboxRedriveUpdate,
  outboxRetentionFilter,
  type Update,
} from '../../src/adapters/mongoose/queries.js';
import type { OutboxQuery } from '../../src/index.js';
import { outboxRecord } from '../conformance/outbox-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { at, INJECTIONS } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';
import { supportingIndexes, whyNot } from './support/index-support.js';

const matches = (filter: Filter, doc: object): boolean => new Query(filter).test(doc as Record<string, unknown>);

function updated(doc: OutboxDocument, update: Update): OutboxDocument {
  const copy = { ...structuredClone({ ...doc, _id: undefined }), _id: doc._id };
  applyUpdate(copy as unknown as Record<string, unknown>, update as Parameters<typeof applyUpdate>[1]);
  return copy;
}

const pending = (overrides: Partial<OutboxDocument> = {}): OutboxDocument => ({
  ...outboxToDocument(outboxRecord('e1')),
  ...overrides,
});

describe('the outbox collection and its documents', () => {
  it('registers CareslotOutbox on careslot_outbox (a collection of careslot’s own), renamable like the others', () => {
    const fake = createFakeMongo();
    expect(fake.store.models.outbox.modelName).toBe('CareslotOutbox');
    expect(fake.store.models.outbox.collection.collectionName).toBe('careslot_outbox');
    expect(DEFAULT_COLLECTION_NAMES.outbox).toBe('careslot_outbox');
    const renamed = createFakeMongo({ storeOptions: { collectionNames: { outbox: 'host_outbox' } } });
    expect(renamed.store.models.outbox.collection.collectionName).toBe('host_outbox');
  });

  it('stores a new record pending, due at its creation, with the payload as a plain object and Dates as Dates', async () => {
    const fake = createFakeMongo();
    await autocommit(fake.store).appendOutbox([outboxRecord('e1')]);
    const [row] = fake.rows('outbox');
    expect(row).toMatchObject({
      key: 'e1/notifier',
      eventId: 'e1',
      consumer: 'notifier',
      status: 'pending',
      attempts: 0,
      nextAttemptAt: at(0),
      leaseOwner: null,
      leaseUntil: null,
      lastError: null,
      deliveredAt: null,
      payload: outboxRecord('e1').payload,
    });
    expect(row?.createdAt).toBeInstanceOf(Date);
    expect(row?.nextAttemptAt).toBeInstanceOf(Date);
    expect(Object.getPrototypeOf(row?.payload)).toBe(Object.prototype);
  });

  it('maps both ways, copying: changing what went in or came out changes nothing stored', () => {
    const record = outboxRecord('e1');
    const doc = outboxToDocument(record);
    (record.payload.booking as Record<string, unknown>).amount = 1;
    expect((doc.payload.booking as Record<string, unknown>).amount).toBe(5000);
    const back = documentToOutbox(doc);
    (back.payload.booking as Record<string, unknown>).amount = 2;
    back.createdAt.setTime(0);
    expect((doc.payload.booking as Record<string, unknown>).amount).toBe(5000);
    expect(doc.createdAt).toEqual(at(0));
    expect(documentToOutbox(doc)).toEqual({
      ...outboxRecord('e1'),
      status: 'pending',
      attempts: 0,
      nextAttemptAt: at(0),
      leaseOwner: null,
      leaseUntil: null,
      lastError: null,
      deliveredAt: null,
    });
  });

  it('refuses records that are not what the port says (INVALID_INPUT), before writing any of them', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const bad = [
      null,
      { ...outboxRecord('e1'), key: '' },
      { ...outboxRecord('e1'), key: { $gt: '' } },
      { ...outboxRecord('e1'), consumer: 7 },
      { ...outboxRecord('e1'), bookingId: ['b'] },
      { ...outboxRecord('e1'), payload: [1] },
      { ...outboxRecord('e1'), payload: new Date() },
      { ...outboxRecord('e1'), payload: null },
      { ...outboxRecord('e1'), version: 1.5 },
      { ...outboxRecord('e1'), createdAt: '2030-01-01' },
    ];
    for (const record of bad) {
      await expect(
        ops.appendOutbox([outboxRecord('ok'), record as never]),
        JSON.stringify(record),
      ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    await expect(ops.appendOutbox(outboxRecord('e1') as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(fake.rows('outbox')).toEqual([]);
  });

  it('keeps empty objects, nulls and arrays inside the payload as they were (nothing minimized)', async () => {
    const fake = createFakeMongo();
    const payload = { empty: {}, nested: { none: null, list: [{}, 1, 'a'] } };
    await autocommit(fake.store).appendOutbox([{ ...outboxRecord('e1'), payload }]);
    expect(fake.rows('outbox')[0]?.payload).toEqual(payload);
    expect((await fake.store.findOutbox({}))[0]?.payload).toEqual(payload);
  });

  it('counts a key given twice in one append once', async () => {
    const fake = createFakeMongo();
    expect(await autocommit(fake.store).appendOutbox([outboxRecord('e1'), outboxRecord('e1')])).toBe(1);
    expect(fake.rows('outbox')).toHaveLength(1);
  });
});

describe('the outbox filters and updates', () => {
  const NOW = at(5);

  it('claims pending, due, unleased or lease-ended records of the consumer, and only the given keys', () => {
    const filter = outboxClaimFilter('notifier', NOW);
    expect(matches(filter, pending())).toBe(true);
    expect(matches(filter, pending({ leaseUntil: at(5) }))).toBe(true);
    expect(matches(filter, pending({ leaseUntil: at(6) }))).toBe(false);
    expect(matches(filter, pending({ nextAttemptAt: at(6) }))).toBe(false);
    expect(matches(filter, pending({ consumer: 'events' }))).toBe(false);
    expect(matches(filter, pending({ status: 'dead' }))).toBe(false);
    expect(matches(filter, pending({ status: 'delivered' }))).toBe(false);
    expect(matches(outboxClaimFilter('notifier', NOW, ['e2/notifier']), pending())).toBe(false);
    expect(matches(outboxClaimFilter('notifier', NOW, ['e1/notifier']), pending())).toBe(true);
  });

  it('leases only while the record is still due, and the lease it writes hides it from the next claim', () => {
    const doc = pending();
    const lease = outboxLeaseFilter('e1/notifier', 'notifier', NOW);
    expect(matches(lease, doc)).toBe(true);
    const leased = updated(doc, outboxLeaseUpdate('A', at(6)));
    expect(leased).toMatchObject({ leaseOwner: 'A', leaseUntil: at(6), status: 'pending' });
    expect(matches(lease, leased)).toBe(false);
    expect(matches(outboxLeaseFilter('e1/notifier', 'notifier', at(6)), leased)).toBe(true);
  });

  it('completes and fails only what the owner holds; a null retry ends dead with its due time kept', () => {
    const held = pending({ leaseOwner: 'A', leaseUntil: at(6) });
    expect(matches(outboxHeldFilter('e1/notifier', 'A'), held)).toBe(true);
    expect(matches(outboxHeldFilter('e1/notifier', 'B'), held)).toBe(false);
    expect(matches(outboxHeldFilter('e1/notifier', 'A'), { ...held, status: 'delivered' })).toBe(false);
    expect(updated(held, outboxCompleteUpdate(at(7)))).toMatchObject({
      status: 'delivered',
      deliveredAt: at(7),
      leaseOwner: null,
      leaseUntil: null,
    });
    expect(updated(held, outboxFailUpdate('down', at(10)))).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastError: 'down',
      nextAttemptAt: at(10),
      leaseOwner: null,
      leaseUntil: null,
    });
    expect(updated({ ...held, attempts: 2 }, outboxFailUpdate('gone', null))).toMatchObject({
      status: 'dead',
      attempts: 3,
      nextAttemptAt: at(0),
      leaseOwner: null,
    });
  });

  it('re-drives only dead records; retention takes delivered ones before the cutoff, and deletes by id only delivered ones', () => {
    const dead = pending({ status: 'dead', attempts: 3 });
    expect(matches(outboxDeadFilter('e1/notifier'), dead)).toBe(true);
    expect(matches(outboxDeadFilter('e1/notifier'), pending())).toBe(false);
    expect(updated(dead, outboxRedriveUpdate(at(20)))).toMatchObject({
      status: 'pending',
      attempts: 0,
      nextAttemptAt: at(20),
    });
    const delivered = pending({ status: 'delivered', deliveredAt: at(3) });
    expect(matches(outboxRetentionFilter(at(4)), delivered)).toBe(true);
    expect(matches(outboxRetentionFilter(at(3)), delivered)).toBe(false);
    expect(matches(outboxRetentionFilter(at(4)), pending())).toBe(false);
    expect(matches(deleteOutboxFilter([delivered._id]), delivered)).toBe(true);
    expect(matches(deleteOutboxFilter([delivered._id]), { ...delivered, status: 'pending' })).toBe(false);
  });

  it('lists every status when none is given, and pages by (createdAt, key) both ways', () => {
    const doc = pending();
    expect(outboxQueryFilter({}).filter).toEqual({ status: { $in: ['pending', 'delivered', 'dead'] } });
    for (const status of ['pending', 'delivered', 'dead'] as const) {
      expect(matches(outboxQueryFilter({}).filter, { ...doc, status })).toBe(true);
    }
    const several = outboxQueryFilter({ status: ['pending', 'dead'] as never }).filter;
    expect(several).toEqual({ status: { $in: ['pending', 'dead'] } });
    expect(matches(several, { ...doc, status: 'delivered' })).toBe(false);
    expect(outboxQueryFilter({ status: 'dead' }).filter).toEqual({ status: 'dead' });
    const same = { createdAt: at(0), key: 'e1/notifier' };
    expect(matches(outboxQueryFilter({ after: same }).filter, doc)).toBe(false);
    expect(matches(outboxQueryFilter({ before: same }).filter, doc)).toBe(false);
    expect(matches(outboxQueryFilter({ after: { createdAt: at(0), key: 'e0' } }).filter, doc)).toBe(true);
    expect(matches(outboxQueryFilter({ before: { createdAt: at(0), key: 'e2' } }).filter, doc)).toBe(true);
    const window = outboxQueryFilter({
      after: { createdAt: at(-1), key: 'z' },
      before: { createdAt: at(1), key: 'a' },
    });
    expect(matches(window.filter, doc)).toBe(true);
    expect(matches(window.filter, { ...doc, createdAt: at(2) })).toBe(false);
    expect(matches(window.filter, { ...doc, createdAt: at(-1) })).toBe(false);
    expect(OUTBOX_SORT).toEqual({ createdAt: 1, key: 1 });
  });
});

describe('outbox arguments', () => {
  it('refuses non-objects, operator objects, bad dates and bad limits with INVALID_INPUT, before any query', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    const claim = { consumer: 'notifier', owner: 'A', now: at(0), leaseUntil: at(1), limit: 10 };
    const refused = [
      () => fake.store.findOutbox(null as never),
      () => fake.store.findOutbox({ status: 'lost' } as never),
      () => fake.store.findOutbox({ limit: -1 }),
      () => fake.store.findOutbox({ after: { createdAt: 'x', key: 'k' } } as never),
      () => fake.store.findOutbox({ before: { createdAt: at(0) } } as never),
      ...INJECTIONS.map((value) => () => fake.store.findOutbox({ consumer: value } as never)),
      ...INJECTIONS.map((value) => () => fake.store.findOutbox({ eventId: value } as never)),
      () => ops.claimOutbox(null as never),
      () => ops.claimOutbox({ ...claim, limit: 1.5 }),
      () => ops.claimOutbox({ ...claim, limit: undefined } as never),
      () => ops.claimOutbox({ ...claim, now: 'now' } as never),
      () => ops.claimOutbox({ ...claim, keys: 'e1/notifier' } as never),
      () => ops.claimOutbox({ ...claim, keys: [{ $gt: '' }] } as never),
      ...INJECTIONS.map((value) => () => ops.claimOutbox({ ...claim, owner: value } as never)),
      () => ops.completeOutbox(null as never),
      () => ops.completeOutbox({ key: { $ne: null }, owner: 'A', at: at(0) } as never),
      () => ops.completeOutbox({ key: 'k', owner: 'A', at: new Date(Number.NaN) }),
      () => ops.failOutbox({ key: 'k', owner: 'A', error: 7, retryAt: null } as never),
      () => ops.failOutbox({ key: 'k', owner: 'A', error: 'x', retryAt: undefined } as never),
      () => ops.redriveOutbox({ key: 'k' } as never),
      () => ops.deleteDeliveredOutbox({ deliveredBefore: at(0), limit: -1 }),
      () => ops.deleteDeliveredOutbox({ deliveredBefore: at(0) } as never),
      () => ops.deleteDeliveredOutbox(undefined as never),
    ];
    for (const [i, call] of refused.entries()) {
      await expect(call(), `call ${i}`).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect(fake.queries.filter((q) => q.collection === 'outbox')).toEqual([]);
  });

  it('claims nothing for limit 0 or no keys, and deletes nothing for limit 0, without asking the server', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.appendOutbox([outboxRecord('e1')]);
    fake.queries.length = 0;
    const claim = { consumer: 'notifier', owner: 'A', now: at(1), leaseUntil: at(2) };
    expect(await ops.claimOutbox({ ...claim, limit: 0 })).toEqual([]);
    expect(await ops.claimOutbox({ ...claim, limit: 5, keys: [] })).toEqual([]);
    expect(await ops.deleteDeliveredOutbox({ deliveredBefore: at(99), limit: 0 })).toBe(0);
    expect(await fake.store.findOutbox({ limit: 0 })).toEqual([]);
    expect(fake.queries.filter((q) => q.collection === 'outbox')).toEqual([]);
  });
});

describe('outbox queries and indexes', () => {
  it('makes the delivery key unique, so ready() refuses without it and createIndexes() builds it', async () => {
    expect(MONGOOSE_STORE_INDEXES.outbox.filter((i) => i.options.unique).map((i) => i.fields)).toEqual([{ key: 1 }]);
    const fake = createFakeMongo({ indexes: { except: ['careslot_outbox_key'] } });
    await expect(fake.store.ready()).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/careslot_outbox\.careslot_outbox_key \(each delivery/),
    });
    await fake.store.createIndexes();
    await fake.store.ready();
    await autocommit(fake.store).appendOutbox([outboxRecord('e1')]);
    expect(() => fake.seed('outbox', [{ key: 'e1/notifier' }])).toThrow(/E11000/);
  });

  it('serves every outbox query from an index: listings, claims, lease writes, completion, failure, re-drive, retention', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.appendOutbox([outboxRecord('e1'), outboxRecord('e2', 'notifier', 1), outboxRecord('e1', 'events')]);
    const cursor = { createdAt: at(0), key: 'e1/notifier' };
    const listings: OutboxQuery[] = [
      {},
      { limit: 2 },
      { consumer: 'notifier' },
      { status: 'dead' },
      { status: ['pending', 'dead'] as never },
      { consumer: 'notifier', status: ['dead', 'delivered'] as never },
      { consumer: 'notifier', status: 'pending', limit: 10 },
      { eventId: 'e1' },
      { eventId: 'e1', consumer: 'notifier' },
      { bookingId: 'b1' },
      { bookingId: 'b1', consumer: 'notifier', status: 'delivered' },
      { after: cursor },
      { before: cursor },
      { after: cursor, before: { createdAt: at(9), key: 'z' } },
      { consumer: 'notifier', status: 'pending', after: cursor, limit: 5 },
      { status: 'dead', before: cursor },
      { eventId: 'e1', after: cursor },
    ];
    for (const query of listings) await fake.store.findOutbox(query);
    const claim = { consumer: 'notifier', owner: 'A', now: at(5), leaseUntil: at(6), limit: 10 };
    await ops.claimOutbox(claim);
    await ops.claimOutbox({ ...claim, consumer: 'events', keys: ['e1/events'] });
    await ops.claimOutbox({ ...claim, consumer: 'events', keys: ['a', 'b'] });
    await ops.completeOutbox({ key: 'e1/notifier', owner: 'A', at: at(5) });
    await ops.failOutbox({ key: 'e2/notifier', owner: 'A', error: 'x', retryAt: null });
    await ops.redriveOutbox({ key: 'e2/notifier', at: at(6) });
    await ops.deleteDeliveredOutbox({ deliveredBefore: at(9), limit: 10 });
    const sent = fake.queries.filter((q) => q.collection === 'outbox');
    expect(new Set(sent.map((q) => q.method))).toEqual(new Set(['find', 'findOne', 'findOneAndUpdate', 'deleteMany']));
    const unsupported = sent
      .filter((query) => supportingIndexes(MONGOOSE_STORE_INDEXES.outbox, query).length === 0)
      .map((query) => ({
        ...query,
        why: MONGOOSE_STORE_INDEXES.outbox.map((i) => `${i.options.name}: ${whyNot(i, query)}`),
      }));
    expect(unsupported).toEqual([]);
    // The claim reads the claim index in order; the retention sweep reads its own.
    const claimRead = sent.find((q) => q.method === 'find' && 'nextAttemptAt' in q.filter && !('key' in q.filter));
    expect(claimRead && supportingIndexes(MONGOOSE_STORE_INDEXES.outbox, claimRead)).toContain('careslot_outbox_claim');
    const retention = sent.find((q) => q.method === 'find' && 'deliveredAt' in q.filter);
    expect(retention && supportingIndexes(MONGOOSE_STORE_INDEXES.outbox, retention)).toEqual([
      'careslot_outbox_retention',
    ]);
    for (const q of sent.filter((x) => x.method === 'find')) {
      expect(q.batchSize).toBeLessThanOrEqual(500);
      if (q.limit !== undefined) expect(q.batchSize).toBe(Math.min(q.limit, 500));
    }
  });
});

describe('concurrent claims on the stand-in', () => {
  it('makes the second of two claimers of one record conflict and run again, where it finds the record leased', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.appendOutbox([outboxRecord('e1')]);
    let attempts = 0;
    const claim = (owner: string) =>
      fake.store.transaction(async (tx) => {
        attempts++;
        return tx.claimOutbox({ consumer: 'notifier', owner, now: at(1), leaseUntil: at(2), limit: 1 });
      });
    const [a, b] = await Promise.all([claim('A'), claim('B')]);
    expect([...(a ?? []), ...(b ?? [])].map((r) => r.leaseOwner)).toHaveLength(1);
    expect(attempts).toBe(3);
    expect(fake.rows('outbox')).toEqual([expect.objectContaining({ leaseOwner: a?.length ? 'A' : 'B' })]);
  });

  it('returns only what it leased: a candidate gone by the lease write is left out', async () => {
    const fake = createFakeMongo();
    const ops = autocommit(fake.store);
    await ops.appendOutbox([outboxRecord('e1'), outboxRecord('e2', 'notifier', 1)]);
    const collection = fake.deps.collections.outbox;
    const findOneAndUpdate = collection.findOneAndUpdate.bind(collection);
    Object.assign(collection, {
      findOneAndUpdate: (filter: Filter, ...rest: [Update, never]) =>
        filter.key === 'e1/notifier' ? Promise.resolve(null) : findOneAndUpdate(filter, ...rest),
    });
    const claimed = await ops.claimOutbox({
      consumer: 'notifier',
      owner: 'A',
      now: at(5),
      leaseUntil: at(6),
      limit: 5,
    });
    expect(claimed.map((r) => r.key)).toEqual(['e2/notifier']);
  });
});
