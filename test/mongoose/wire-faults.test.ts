// The real mongoose 9 + driver 7.8 stack against a scripted wire-protocol responder: transient conflicts, a primary stepping down, unknown commit results, duplicate keys, lost connections, hung commits and a host plugin's reads, each injected at the wire.
import mongoose from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { MongooseStore, type MongooseStoreOptions } from '../../src/adapters/mongoose/index.js';
import { bookingData, DOC1 } from '../conformance/store-conformance.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';
import { ledgerEntry, newSchedule } from '../support/records.js';
import { type PluginRead, uniqueValidatorPlugin } from './support/host-plugins.js';
import { startWireMongo, type WireCommand, type WireMongo } from './support/wire-mongo.js';

const SCHEDULES = 'doctorappointmentschedules';
const LEDGER = 'doctorwalletledgers';

const open: { wire: WireMongo; connection: mongoose.Connection }[] = [];
// After all tests, not each: the engine fixture's invariant check reads the store after each test.
afterAll(async () => {
  for (const { wire, connection } of open.splice(0)) {
    await connection.close(true).catch(() => {});
    await wire.close();
  }
});

/** A responder, a host connection to it, and a MongooseStore whose indexes are built. */
async function wireStore(options: Omit<MongooseStoreOptions, 'connection'> = {}) {
  const wire = await startWireMongo();
  const connection = await mongoose.createConnection(wire.uri).asPromise();
  open.push({ wire, connection });
  const store = new MongooseStore({ connection, ...options });
  await store.createIndexes();
  await store.ready();
  wire.commands.length = 0;
  return { wire, connection, store };
}

const inTransaction = (c: WireCommand) => c.inTransaction;
const statement = (name: string, collection: string) => (c: WireCommand) =>
  c.name === name && c.collection === collection && inTransaction(c);

const writeConflict = {
  ok: 0,
  errmsg: 'Write conflict during plan execution and yielding is disabled.',
  code: 112,
  codeName: 'WriteConflict',
  errorLabels: ['TransientTransactionError'],
};

describe('the wire responder', () => {
  it('passes for a replica-set primary with sessions: the handshake, ready(), a transaction and a read run on the real driver', async () => {
    const { wire, store } = await wireStore();
    const slot = await store.transaction((tx) => tx.insertSchedule(newSchedule()));
    expect(await store.getSchedule(slot.id)).toMatchObject({ id: slot.id, status: 'available' });
    expect(wire.commands.map((c) => c.name)).toEqual(['insert', 'commitTransaction', 'find']);
    const [insert, commit, find] = wire.commands;
    expect(insert).toMatchObject({ startTransaction: true, txnNumber: expect.any(Number) });
    expect(insert?.body.readConcern).toEqual({ level: 'snapshot' });
    expect(commit).toMatchObject({ db: 'admin', txnNumber: insert?.txnNumber, lsid: insert?.lsid });
    expect(commit?.body.writeConcern).toMatchObject({ w: 'majority' });
    expect(find).toMatchObject({ txnNumber: null, inTransaction: false });
    expect(wire.rows(SCHEDULES)).toHaveLength(1);
  });
});

describe('faults at the wire', () => {
  it('runs the function again after a WriteConflict labelled TransientTransactionError, and commits its effect once', async () => {
    const { wire, store } = await wireStore();
    wire.inject({ match: statement('insert', SCHEDULES), fault: { reply: writeConflict } });
    let runs = 0;
    await store.transaction(async (tx) => {
      runs++;
      return tx.insertSchedule(newSchedule());
    });
    expect(runs).toBe(2);
    expect(wire.rows(SCHEDULES)).toHaveLength(1);
    const inserts = wire.named('insert', SCHEDULES);
    expect(inserts.map((c) => c.startTransaction)).toEqual([true, true]);
    expect(inserts[1]?.txnNumber).toBe((inserts[0]?.txnNumber ?? 0) + 1);
    expect(wire.named('commitTransaction')).toHaveLength(1);
  });

  it('runs the whole function again when the primary steps down mid-transaction (NotWritablePrimary), and the first attempt leaves nothing behind', async () => {
    const { wire, store } = await wireStore();
    wire.inject({
      match: statement('insert', SCHEDULES),
      fault: {
        reply: {
          ok: 0,
          errmsg: 'not primary',
          code: 10107,
          codeName: 'NotWritablePrimary',
          errorLabels: ['TransientTransactionError'],
        },
      },
    });
    let runs = 0;
    await store.transaction(async (tx) => {
      runs++;
      await tx.lockDoctor(DOC1); // the first statement succeeds ...
      return tx.insertSchedule(newSchedule({ doctorId: DOC1 })); // ... the second meets the step-down
    });
    expect(runs).toBe(2);
    expect(wire.rows(SCHEDULES)).toHaveLength(1);
    // The first attempt's lock write was rolled back with it: one lock write, not two.
    expect(wire.rows('careslotdoctorlocks')).toEqual([expect.objectContaining({ locks: 1 })]);
  });

  it('retries the commit, not the function, when the commit result is unknown (write concern timed out after it applied)', async () => {
    const { wire, store } = await wireStore();
    wire.inject({
      match: (c) => c.name === 'commitTransaction',
      fault: {
        afterApplying: {
          ok: 1,
          writeConcernError: {
            code: 64,
            codeName: 'WriteConcernFailed',
            errmsg: 'waiting for replication timed out',
            errInfo: { wtimeout: true },
          },
        },
      },
    });
    let runs = 0;
    await store.transaction(async (tx) => {
      runs++;
      return tx.insertSchedule(newSchedule());
    });
    expect(runs).toBe(1);
    const commits = wire.named('commitTransaction');
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expect(new Set(commits.map((c) => c.txnNumber)).size).toBe(1);
    // A retried commit asks for majority with a write concern timeout, as the transactions spec says.
    expect(commits.at(-1)?.body.writeConcern).toMatchObject({ w: 'majority', wtimeout: 10_000 });
    expect(wire.rows(SCHEDULES)).toHaveLength(1);
  });

  it('answers a duplicate key inside a transaction by running the function again, where the check sees the key: false, not an error', async () => {
    const { wire, store } = await wireStore();
    const entry = ledgerEntry({ key: 'credit:b-wire', doctorId: DOC1 });
    wire.inject({
      match: statement('insert', LEDGER),
      // Another client commits the same key between careslot's check and its insert.
      run: (responder) => responder.seed(LEDGER, [{ key: entry.key, kind: 'credit', amount: 5000 }]),
      fault: {
        reply: {
          ok: 1,
          n: 0,
          writeErrors: [
            {
              index: 0,
              code: 11000,
              errmsg: `E11000 duplicate key error collection: careslot.${LEDGER} index: careslot_ledger_key dup key: { key: "${entry.key}" }`,
              keyPattern: { key: 1 },
              keyValue: { key: entry.key },
            },
          ],
        },
      },
    });
    let runs = 0;
    const appended = await store.transaction(async (tx) => {
      runs++;
      return tx.appendLedgerEntry(entry);
    });
    expect(appended).toBe(false);
    expect(runs).toBe(2);
    expect(wire.rows(LEDGER)).toHaveLength(1);
    expect(wire.named('abortTransaction')).toHaveLength(1);
    expect(wire.named('insert', LEDGER)).toHaveLength(1);
  });

  it('bounds a conflict that never clears by the deadline: STORE_ERROR, nothing committed, long before the driver 120 s', async () => {
    const { wire, store } = await wireStore({ timeoutMS: 400 });
    wire.inject({ match: statement('insert', SCHEDULES), fault: { reply: writeConflict }, times: 10_000 });
    const started = Date.now();
    const error = await store.transaction((tx) => tx.insertSchedule(newSchedule())).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', details: { timeoutMS: 400, commitOutcome: 'not_committed' } });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(wire.named('insert', SCHEDULES).length).toBeGreaterThan(1);
    expect(wire.named('commitTransaction')).toEqual([]);
    expect(wire.rows(SCHEDULES)).toEqual([]);
  });

  it.each([
    ['after the server applied it', 'after' as const],
    ['before the server saw it', 'before' as const],
  ])(
    'survives the connection dropping mid-commit (%s): the commit is sent again on a new connection, the function runs once, one effect',
    async (_name, when) => {
      const { wire, store } = await wireStore();
      wire.inject({ match: (c) => c.name === 'commitTransaction', fault: { close: when } });
      let runs = 0;
      await store.transaction(async (tx) => {
        runs++;
        return tx.insertSchedule(newSchedule());
      });
      expect(runs).toBe(1);
      const commits = wire.named('commitTransaction');
      expect(commits).toHaveLength(2);
      expect(commits[1]?.connection).not.toBe(commits[0]?.connection);
      expect(commits[1]?.txnNumber).toBe(commits[0]?.txnNumber);
      expect(wire.rows(SCHEDULES)).toHaveLength(1);
    },
  );

  it("says the outcome is unknown when every commit's connection drops until the deadline", async () => {
    const { wire, store } = await wireStore({ timeoutMS: 1_500 });
    wire.inject({ match: (c) => c.name === 'commitTransaction', fault: { close: 'before' }, times: 10_000 });
    const error = await store.transaction((tx) => tx.insertSchedule(newSchedule())).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', details: { commitOutcome: 'unknown' } });
    expect(wire.named('commitTransaction').length).toBeGreaterThanOrEqual(1);
    expect(wire.rows(SCHEDULES)).toEqual([]);
  });

  it('answers at the deadline when the commit reply never arrives, outcome unknown', async () => {
    const { wire, store } = await wireStore({ timeoutMS: 300 });
    wire.inject({ match: (c) => c.name === 'commitTransaction', fault: { hang: true } });
    const started = Date.now();
    const error = await store.transaction((tx) => tx.insertSchedule(newSchedule())).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', details: { timeoutMS: 300, commitOutcome: 'unknown' } });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("sends no read outside careslot's transaction for a host's uniqueness plugin: every statement carries the transaction", async () => {
    type Plugin = (schema: mongoose.Schema) => void;
    const plugins = (mongoose as unknown as { plugins: [Plugin, unknown][] }).plugins;
    const reads: PluginRead[] = [];
    const plugin = uniqueValidatorPlugin(reads);
    mongoose.plugin(plugin);
    try {
      const { wire, store, connection } = await wireStore();
      const slot = await store.transaction((tx) => tx.insertSchedule(newSchedule()));
      wire.commands.length = 0;
      await store.transaction((tx) => tx.insertBooking(bookingData(slot)));
      const careslot = wire.commands.filter((c) => c.collection?.startsWith('doctor'));
      expect(careslot.map((c) => c.name)).toEqual(['find', 'insert']);
      expect(careslot.filter((c) => !inTransaction(c))).toEqual([]);
      expect(wire.named('aggregate')).toEqual([]);
      expect(reads).toEqual([]);
      // The control: the plugin on a host model sends its count at the wire, outside any transaction.
      const schema = new mongoose.Schema({ email: String }, { autoIndex: false, autoCreate: false });
      schema.index({ email: 1 }, { unique: true });
      const host = connection.model('HostUser', schema);
      await host.create({ email: 'a@example.com' });
      const counts = wire.named('aggregate', 'hostusers');
      expect(counts).toHaveLength(1);
      expect(counts[0]).toMatchObject({ inTransaction: false });
    } finally {
      plugins.splice(
        plugins.findIndex(([fn]) => fn === plugin),
        1,
      );
    }
  });

  it('confirms a payment whose commit applied but whose replies were lost until the deadline: the engine finds it committed and runs the after-commit work once', async () => {
    const { wire, store } = await wireStore({ timeoutMS: 1_500 });
    const f = createFixture({ store });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const session = f.gateway.sessionForBooking(booking.id);
    const event = f.gateway.pay(session?.id ?? '');
    f.notifications.length = 0;
    // Only the confirmation's commit (one session and transaction number, retried) loses its
    // replies: the transactions of the after-commit work (the outbox's claims) commit as usual.
    let lost: string | null = null;
    const confirmationCommit = (c: WireCommand) => {
      if (c.name !== 'commitTransaction') return false;
      lost ??= `${c.lsid}:${c.txnNumber}`;
      return lost === `${c.lsid}:${c.txnNumber}`;
    };
    wire.inject({ match: confirmationCommit, fault: { close: 'after' }, times: 10_000 });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'confirmed', bookingId: booking.id });
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    expect(wire.named('commitTransaction').length).toBeGreaterThan(1);
    wire.inject({ match: () => false, fault: { hang: true } });
    expect(await f.engine.handlePaymentEvent(event)).toMatchObject({ outcome: 'duplicate' });
    expect(f.notifications).toHaveLength(2);
  });
});
