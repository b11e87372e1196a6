// MongooseStore without a server: options, models on the host's connection, schemas, indexes, readiness, transactions.
import { Query } from 'mingo';
import mongoose from 'mongoose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UNIQUE_CONFLICT_ATTEMPTS, UniqueConflictError } from '../../src/adapters/mongoose/errors.js';
import {
  ACTIVE_BOOKING_INDEX,
  DEFAULT_MODEL_NAMES,
  MONGOOSE_STORE_INDEXES,
  MongooseStore,
  type MongooseStoreOptions,
  SUPERSEDED_INDEXES,
} from '../../src/adapters/mongoose/index.js';
import { bookingToDocument } from '../../src/adapters/mongoose/mapping.js';
import { MongooseOperations } from '../../src/adapters/mongoose/mongoose-operations.js';
import { readSchemaSignature } from '../../src/adapters/mongoose/schemas.js';
import { transactionSupportProblem } from '../../src/adapters/mongoose/server-check.js';
import { BookingError, type StoreOperations, type StoreReads } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { POLICY } from '../conformance/booking-policy-conformance.js';
import { autocommit, STORE_WRITES } from '../support/autocommit.js';
import { ledgerEntry, newPaymentTransaction, refundRecord } from '../support/records.js';
import { BOOKING, DOC, newBooking, newSchedule, PAT, SLOT, T0 } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';

const connections: mongoose.Connection[] = [];
/** A host connection that is never opened: enough to register models and compile schemas. */
function hostConnection(): mongoose.Connection {
  const connection = mongoose.createConnection();
  connections.push(connection);
  return connection;
}
afterEach(async () => {
  // Connections made to look open have no client behind them; closing them may complain.
  await Promise.all(connections.splice(0).map((c) => c.close().catch(() => {})));
});

const REPLICA_SET_HELLO = { isWritablePrimary: true, setName: 'rs0', logicalSessionTimeoutMinutes: 30 };
const STANDALONE_HELLO = { isWritablePrimary: true, logicalSessionTimeoutMinutes: 30 };

/** Makes an unopened connection look open, answering `hello` with `reply`. */
function pretendOpen(connection: mongoose.Connection, reply: (command: Record<string, unknown>) => unknown) {
  const command = vi.fn(async (cmd: Record<string, unknown>) => reply(cmd));
  Object.defineProperty(connection, 'readyState', { value: 1, configurable: true, writable: true });
  Object.defineProperty(connection, 'db', { value: { command }, configurable: true, writable: true });
  return command;
}

describe('options', () => {
  it.each([
    ['no options', undefined, /pass an options object/],
    ['no connection', {}, /options.connection is required/],
    ['the mongoose module instead of a connection', { connection: mongoose }, /not the mongoose module/],
    ['a plain object as connection', { connection: { readyState: 1 } }, /must be a mongoose Connection/],
  ])('refuses %s with a message that says what to pass', (_name, options, message) => {
    expect(() => new MongooseStore(options as unknown as MongooseStoreOptions)).toThrow(message);
  });

  it.each([
    ['an unknown hostIds mode', { hostIds: 'uuid' }, /hostIds must be 'objectId' or 'string'/],
    ['an unknown model key', { modelNames: { slots: 'X' } }, /modelNames.slots is not a careslot model/],
    ['an empty model name', { modelNames: { schedule: ' ' } }, /modelNames.schedule must be a non-empty string/],
    ['two models with one name', { modelNames: { schedule: 'Same', booking: 'Same' } }, /must all differ/],
    ['a now that is not a function', { now: 'soon' }, /options.now must be a function/],
    [
      'clock and now together',
      { clock: { now: () => T0 }, now: () => T0 },
      /MongooseStore: pass clock or now, not both; keep clock/,
    ],
    [
      'a clock that is a function',
      { clock: () => T0 },
      /options.clock must be a Clock, an object with a now\(\) function/,
    ],
    ['a clock without now', { clock: {} }, /options.clock must be a Clock, an object with a now\(\) function/],
    [
      'transactionOptions that are not an object',
      { transactionOptions: 'snapshot' },
      /transactionOptions must be an object/,
    ],
  ])('refuses %s with a TypeError', (_name, extra, message) => {
    expect(() => new MongooseStore({ connection: hostConnection(), ...(extra as object) })).toThrow(TypeError);
    expect(() => new MongooseStore({ connection: hostConnection(), ...(extra as object) })).toThrow(message);
  });
});

describe('models on the host connection', () => {
  it('registers the original model names on the given connection only, and touches nothing global', () => {
    const keys = [
      'strictQuery',
      'sanitizeFilter',
      'autoIndex',
      'autoCreate',
      'bufferCommands',
      'returnDocument',
    ] as const;
    const before = keys.map((k) => mongoose.get(k));
    const connection = hostConnection();
    const store = new MongooseStore({ connection });
    expect(connection.modelNames().sort()).toEqual(Object.values(DEFAULT_MODEL_NAMES).sort());
    expect(mongoose.modelNames()).toEqual([]);
    expect(mongoose.connection.readyState).toBe(0);
    expect(keys.map((k) => mongoose.get(k))).toEqual(before);
    expect(store.models.schedule.modelName).toBe('DoctorAppointmentSchedule');
    expect(store.models.booking.modelName).toBe('DoctorPatientScheduleBooking');
    expect(store.models.payment.modelName).toBe('PaymentTransaction');
  });

  it("uses mongoose's collection names for the original models, so existing data is found", () => {
    const store = new MongooseStore({ connection: hostConnection() });
    expect(store.models.schedule.collection.collectionName).toBe('doctorappointmentschedules');
    expect(store.models.booking.collection.collectionName).toBe('doctorpatientschedulebookings');
    expect(store.models.payment.collection.collectionName).toBe('paymenttransactions');
  });

  it("refuses to take over a host's own model of the same name, and says how to rename careslot's", () => {
    const connection = hostConnection();
    connection.model('PaymentTransaction', new mongoose.Schema({ orderId: String }));
    expect(() => new MongooseStore({ connection })).toThrow(/modelNames: \{ payment: 'CareslotPaymentTransaction' \}/);
  });

  it("sits next to a host's model when renamed, sharing its collection when asked to", () => {
    const connection = hostConnection();
    const hostModel = connection.model('DoctorAppointmentSchedule', new mongoose.Schema({ note: String }));
    const store = new MongooseStore({
      connection,
      modelNames: { schedule: 'CareslotSchedule' },
      collectionNames: { schedule: 'doctorappointmentschedules' },
      onWarning: () => {},
    });
    expect(connection.model('DoctorAppointmentSchedule')).toBe(hostModel);
    expect(store.models.schedule.modelName).toBe('CareslotSchedule');
    expect(store.models.schedule.collection.collectionName).toBe('doctorappointmentschedules');
    expect(store.models.booking.schema.path('doctorScheduleId').options.ref).toBe('CareslotSchedule');
  });

  it("warns at construction when a collection is shared with a host model whose schema lacks careslot's indexes", () => {
    const connection = hostConnection();
    connection.model('DoctorPatientScheduleBooking', new mongoose.Schema({ note: String }));
    const warnings: [string, string][] = [];
    new MongooseStore({
      connection,
      modelNames: { booking: 'CareslotBooking' },
      collectionNames: { booking: 'doctorpatientschedulebookings' },
      onWarning: (message, code) => warnings.push([message, code]),
    });
    expect(warnings).toHaveLength(1);
    const [message, code] = warnings[0] ?? [];
    expect(code).toBe('CARESLOT_SHARED_COLLECTION');
    expect(message).toMatch(
      /collection 'doctorpatientschedulebookings' .* shared with your model 'DoctorPatientScheduleBooking'/,
    );
    expect(message).toMatch(/syncIndexes\(\) would drop careslot's indexes.*careslot_one_active_booking_per_slot/);
    expect(message).toContain('for (const i of MONGOOSE_STORE_INDEXES.booking) schema.index(i.fields, i.options)');
    expect(message).toMatch(/never run store\.syncIndexes\(\) on a shared collection/);
  });

  it("does not warn when the host's schema declares careslot's indexes (MONGOOSE_STORE_INDEXES), nor when nothing is shared", () => {
    const connection = hostConnection();
    const schema = new mongoose.Schema({ note: String });
    for (const i of MONGOOSE_STORE_INDEXES.booking) schema.index(i.fields, i.options);
    connection.model('DoctorPatientScheduleBooking', schema);
    const warnings: string[] = [];
    new MongooseStore({
      connection,
      modelNames: { booking: 'CareslotBooking' },
      collectionNames: { booking: 'doctorpatientschedulebookings' },
      onWarning: (message) => warnings.push(message),
    });
    new MongooseStore({ connection: hostConnection(), onWarning: (message) => warnings.push(message) });
    expect(warnings).toEqual([]);
  });

  it('sends its warnings to process.emitWarning with their code by default', () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const connection = hostConnection();
      connection.model('HostSlots', new mongoose.Schema({ note: String }), 'doctorappointmentschedules');
      new MongooseStore({ connection });
      expect(emit).toHaveBeenCalledWith(expect.stringMatching(/is shared with your model 'HostSlots'/), {
        code: 'CARESLOT_SHARED_COLLECTION',
      });
    } finally {
      emit.mockRestore();
    }
  });

  it('shares the models with a second store made with the same options, and refuses different ones', () => {
    const connection = hostConnection();
    const first = new MongooseStore({ connection });
    const second = new MongooseStore({ connection });
    expect(second.models.booking).toBe(first.models.booking);
    expect(() => new MongooseStore({ connection, hostIds: 'string' })).toThrow(
      /careslot did not create with these options/,
    );
  });

  it("shares the models with a second store when the host set mongoose's cloneSchemas (the mark is on the model)", () => {
    const before = mongoose.get('cloneSchemas');
    mongoose.set('cloneSchemas', true);
    try {
      const connection = hostConnection();
      const first = new MongooseStore({ connection });
      // cloneSchemas compiled a copy, and Schema#clone() drops the schema's own mark.
      expect(readSchemaSignature(first.models.booking.schema)).toBeUndefined();
      const second = new MongooseStore({ connection });
      expect(second.models.booking).toBe(first.models.booking);
      expect(() => new MongooseStore({ connection, hostIds: 'string' })).toThrow(
        /careslot did not create with these options/,
      );
      connection.model('HostModel', new mongoose.Schema({ a: String }));
      expect(() => new MongooseStore({ connection, modelNames: { ledger: 'HostModel' } })).toThrow(
        /careslot did not create with these options/,
      );
    } finally {
      mongoose.set('cloneSchemas', before);
    }
  });

  it('leaves index and collection building to the host (autoIndex and autoCreate off, no buffering)', () => {
    const store = new MongooseStore({ connection: hostConnection() });
    for (const model of Object.values(store.models)) {
      expect(model.schema.get('autoIndex')).toBe(false);
      expect(model.schema.get('autoCreate')).toBe(false);
      expect(model.schema.get('bufferCommands')).toBe(false);
    }
  });
});

describe('schemas: casting and validation', () => {
  const store = new MongooseStore({ connection: mongoose.createConnection() });
  const stringStore = new MongooseStore({ connection: mongoose.createConnection(), hostIds: 'string' });
  const validSchedule = () => ({
    createdBy: DOC,
    startTime: '2030-03-01T09:00:00Z',
    endTime: '2030-03-01T09:30:00Z',
    timeZone: 'Europe/Berlin',
    fee: { amount: 5000, currency: 'eur' },
    status: 'available',
  });
  const errorsOf = async (doc: mongoose.Document) =>
    doc.validate().then(
      () => [],
      (error: mongoose.Error.ValidationError) => Object.keys(error.errors).sort(),
    );

  it('casts hex ids to ObjectIds and ISO strings to Dates, and fills defaults', async () => {
    const doc = new store.models.schedule(validSchedule());
    expect(await errorsOf(doc)).toEqual([]);
    expect(doc.createdBy).toBeInstanceOf(mongoose.Types.ObjectId);
    expect(doc.startTime).toEqual(new Date('2030-03-01T09:00:00Z'));
    expect(doc.booked_by).toBeNull();
    expect(doc.rolledOverFrom).toBeNull();
  });

  it.each([
    ['a fractional fee', { fee: { amount: 10.5, currency: 'eur' } }, ['fee.amount']],
    ['a negative fee', { fee: { amount: -1, currency: 'eur' } }, ['fee.amount']],
    ['an uppercase currency', { fee: { amount: 1, currency: 'EUR' } }, ['fee.currency']],
    ['an unknown status', { status: 'reserved' }, ['status']],
    ['a doctor id that is not an ObjectId', { createdBy: 'doctor-1' }, ['createdBy']],
    ['a missing time zone', { timeZone: undefined }, ['timeZone']],
    ['a start that is not a date', { startTime: 'tomorrow' }, ['startTime']],
    ['a wall-clock start that is not HH:mm', { localStartTime: '2:30pm' }, ['localStartTime']],
  ])('rejects a slot with %s', async (_name, change, paths) => {
    expect(await errorsOf(new store.models.schedule({ ...validSchedule(), ...change }))).toEqual(paths);
  });

  it('accepts any string host id in string mode, up to 128 characters', async () => {
    expect(await errorsOf(new stringStore.models.schedule({ ...validSchedule(), createdBy: 'auth0|doc-1' }))).toEqual(
      [],
    );
    expect(await errorsOf(new stringStore.models.schedule({ ...validSchedule(), createdBy: 'x'.repeat(129) }))).toEqual(
      ['createdBy'],
    );
  });

  it('accepts the documents the store writes, and rejects a booking whose active flag contradicts its status', async () => {
    const doc = bookingToDocument(newBooking(), 'objectId', T0);
    expect(await errorsOf(new store.models.booking(doc))).toEqual([]);
    expect(await errorsOf(new store.models.booking({ ...doc, active: false }))).toEqual(['active']);
    expect(await errorsOf(new store.models.booking({ ...doc, status: 'cancelled', active: false }))).toEqual([]);
  });

  it('stores no_show (inactive) as a status and in history, the policy as given, and reminder keys defaulting to []', async () => {
    const noShow = {
      at: T0,
      from: 'scheduled',
      to: 'no_show',
      paymentStatus: 'paid',
      actor: { role: 'doctor', id: DOC },
      reason: null,
    } as const;
    const doc = bookingToDocument(
      newBooking({ status: 'no_show', paymentStatus: 'paid', policy: POLICY, history: [noShow] }),
      'objectId',
      T0,
    );
    expect(doc.active).toBe(false);
    const { remindersSent: _, ...withoutReminders } = doc;
    const hydrated = new store.models.booking(withoutReminders);
    expect(await errorsOf(hydrated)).toEqual([]);
    const stored = hydrated.toObject({ minimize: false, virtuals: false });
    expect(stored.policy).toEqual(POLICY);
    expect(stored.remindersSent).toEqual([]);
    expect(stored.history[0]?.to).toBe('no_show');
    expect(await errorsOf(new store.models.booking({ ...doc, active: true }))).toEqual(['active']);
    const legacy = new store.models.booking({ ...withoutReminders, policy: undefined });
    expect(legacy.toObject().policy).toBeNull();
  });

  it.each([
    ['an unknown cancel reason', { cancelReason: 'bored' }, ['cancelReason']],
    [
      'a history entry with an unknown status',
      { history: [{ at: T0, to: 'lost', paymentStatus: 'unpaid', actor: { role: 'system', id: 'x' } }] },
      ['history.0.to'],
    ],
    ['an unknown mode', { mode: 'gift' }, ['mode']],
    ['a fractional refunded total', { amountRefunded: 0.5 }, ['amountRefunded']],
    ['a reminder key that is not a string', { remindersSent: [{ key: 'x' }] }, ['remindersSent.0']],
  ])('rejects a booking with %s', async (_name, change, paths) => {
    const doc = { ...bookingToDocument(newBooking(), 'objectId', T0), ...change };
    expect(await errorsOf(new store.models.booking(doc))).toEqual(paths);
  });
});

describe('indexes', () => {
  it('declares on each schema exactly the listed indexes', () => {
    const store = new MongooseStore({ connection: hostConnection() });
    for (const [key, specs] of Object.entries(MONGOOSE_STORE_INDEXES)) {
      const declared = store.models[key as keyof typeof MONGOOSE_STORE_INDEXES].schema.indexes();
      expect(declared.map(([fields, options]) => ({ fields, options }))).toEqual(
        specs.map((s) => ({ fields: s.fields, options: expect.objectContaining(s.options) })),
      );
    }
  });

  it('allows one active booking per slot with a unique index filtered on active: true', () => {
    const index = MONGOOSE_STORE_INDEXES.booking.find((i) => i.options.name === ACTIVE_BOOKING_INDEX);
    expect(index).toEqual({
      fields: { doctorScheduleId: 1 },
      options: { name: ACTIVE_BOOKING_INDEX, unique: true, partialFilterExpression: { active: true } },
      purpose: 'one active booking per slot',
    });
    const filter = new Query({ ...index?.options.partialFilterExpression });
    const inIndex = (status: 'pending' | 'scheduled' | 'completed' | 'cancelled') =>
      filter.test(bookingToDocument(newBooking({ status }), 'objectId', T0) as unknown as Record<string, unknown>);
    expect([inIndex('pending'), inIndex('scheduled'), inIndex('completed'), inIndex('cancelled')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('uses only partial-filter operators that MongoDB 4.4 accepts ($eq, $exists: true, comparisons, $type)', () => {
    const allowed = new Set(['$eq', '$exists', '$gt', '$gte', '$lt', '$lte', '$type']);
    for (const specs of Object.values(MONGOOSE_STORE_INDEXES)) {
      for (const { options } of specs) {
        for (const value of Object.values(options.partialFilterExpression ?? {})) {
          if (value === null || typeof value !== 'object') continue;
          for (const [operator, operand] of Object.entries(value)) {
            expect(allowed.has(operator), operator).toBe(true);
            if (operator === '$exists') expect(operand).toBe(true);
          }
        }
      }
    }
  });

  it('makes event ids, ledger keys, provider payments, customers, patient locks, doctor locks and outbox keys unique', () => {
    const unique = Object.fromEntries(
      Object.entries(MONGOOSE_STORE_INDEXES).map(([key, specs]) => [
        key,
        specs.filter((s) => s.options.unique).map((s) => s.fields),
      ]),
    );
    expect(unique).toEqual({
      schedule: [],
      booking: [{ doctorScheduleId: 1 }, { patientId: 1, idempotencyKey: 1 }],
      payment: [{ provider: 1, providerPaymentId: 1 }],
      ledger: [{ key: 1 }],
      event: [{ eventId: 1 }],
      customer: [{ patientId: 1, provider: 1 }],
      patientLock: [{ patientId: 1 }],
      doctorLock: [{ doctorId: 1 }],
      outbox: [{ key: 1 }],
      availability: [],
      timeOff: [],
      walletBalance: [{ doctorId: 1, currency: 1 }],
      migration: [],
    });
  });

  it('makes the payment unique index partial on the provider fields being strings, so legacy payments without them build', () => {
    const index = MONGOOSE_STORE_INDEXES.payment.find((i) => i.options.unique);
    expect(index?.options.partialFilterExpression).toEqual({
      provider: { $type: 'string' },
      providerPaymentId: { $type: 'string' },
    });
  });

  it('gives every changed index a new name (MongoDB refuses another definition under an existing name) and lists the old ones as superseded', () => {
    const current = Object.values(MONGOOSE_STORE_INDEXES).flatMap((specs) => specs.map((s) => s.options.name));
    const superseded = Object.values(SUPERSEDED_INDEXES).flat();
    expect(new Set(current).size).toBe(current.length);
    expect(superseded.filter((name) => current.includes(name))).toEqual([]);
    // Every name 0.1.0 declared is either still declared unchanged or superseded.
    const released = [
      'careslot_doctor_start',
      'careslot_status_end',
      'careslot_start',
      ACTIVE_BOOKING_INDEX,
      'careslot_booking_idempotency_key',
      'careslot_status_hold_expiry',
      'careslot_status_created',
      'careslot_checkout_session',
      'careslot_patient_created',
      'careslot_doctor_created',
      'careslot_schedule_created',
      'careslot_provider_payment',
      'careslot_payment_booking',
      'careslot_refund_status',
      'careslot_ledger_key',
      'careslot_ledger_doctor',
      'careslot_ledger_booking',
      'careslot_event_id',
      'careslot_patient_provider',
      'careslot_patient_lock',
      'careslot_doctor_lock',
    ];
    expect(released.filter((name) => !current.includes(name) && !superseded.includes(name))).toEqual([]);
  });
});

describe('readiness', () => {
  it('fails fast with STORE_ERROR when the connection is not open, naming how to open it', async () => {
    const store = new MongooseStore({ connection: hostConnection() });
    const error = await store.ready().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BookingError);
    expect(error).toMatchObject({ code: 'STORE_ERROR', status: 500 });
    expect((error as Error).message).toMatch(/not open \(readyState 0: disconnected\).*asPromise\(\)/);
    await expect(store.getBooking(BOOKING)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await expect(store.transaction(async () => 1)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    await expect(store.createIndexes()).rejects.toMatchObject({ code: 'STORE_ERROR' });
  });

  it('fails fast on a standalone mongod: transactions need a replica set', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => STANDALONE_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false });
    await expect(store.ready()).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: expect.stringMatching(/^MongooseStore needs a replica set: .*--replSet.*MongoMemoryReplSet/),
    });
    await expect(store.transaction((tx) => tx.insertSchedule(newSchedule()))).rejects.toMatchObject({
      code: 'STORE_ERROR',
    });
  });

  it('accepts a replica set member or a mongos, and asks the server only once', async () => {
    const connection = hostConnection();
    const command = pretendOpen(connection, () => REPLICA_SET_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false });
    await store.ready();
    await store.ready();
    expect(command).toHaveBeenCalledTimes(1);
    expect(transactionSupportProblem({ msg: 'isdbgrid', logicalSessionTimeoutMinutes: 30 })).toBeNull();
    expect(transactionSupportProblem({ setName: 'rs0' })).toMatch(/sessions/);
  });

  it('falls back to isMaster on servers that do not know hello (MongoDB 4.4.0 and 4.4.1)', async () => {
    const connection = hostConnection();
    const command = pretendOpen(connection, (cmd) => {
      if ('hello' in cmd)
        throw Object.assign(new Error('no such command: hello'), { name: 'MongoServerError', code: 59 });
      return REPLICA_SET_HELLO;
    });
    await new MongooseStore({ connection, checkIndexes: false }).ready();
    expect(command.mock.calls.map(([cmd]) => Object.keys(cmd)[0])).toEqual(['hello', 'isMaster']);
  });

  it('lets the driver reconnect instead of failing when a connection that was open is momentarily down', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false });
    const calls = recordCollections(store);
    await store.ready();
    Object.defineProperty(connection, 'readyState', { value: 0, configurable: true, writable: true });
    expect(await store.getBooking(BOOKING)).toBeNull();
    expect(calls.map((c) => c.method)).toEqual(['findOne']);
  });

  it('validates ids before any query even on an open connection', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false });
    await expect(store.getBooking({ $gt: '' } as unknown as string)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

type Method =
  | 'insertOne'
  | 'findOne'
  | 'find'
  | 'aggregate'
  | 'findOneAndUpdate'
  | 'updateOne'
  | 'deleteMany'
  | 'countDocuments';

/** Replaces the driver collection methods with recorders answering "nothing there". */
function recordCollections(store: MongooseStore) {
  const calls: { collection: string; method: Method; options: Record<string, unknown> }[] = [];
  const answers: Record<Method, unknown> = {
    insertOne: { acknowledged: true },
    findOne: null,
    find: { toArray: async () => [] },
    aggregate: { toArray: async () => [] },
    findOneAndUpdate: null,
    updateOne: { acknowledged: true, matchedCount: 0, upsertedCount: 1 },
    deleteMany: { deletedCount: 0 },
    countDocuments: 0,
  };
  for (const model of Object.values(store.models)) {
    for (const method of Object.keys(answers) as Method[]) {
      vi.spyOn(model.collection, method).mockImplementation(((...args: unknown[]) => {
        calls.push({ collection: model.modelName, method, options: args.at(-1) as Record<string, unknown> });
        return method === 'find' || method === 'aggregate' ? answers[method] : Promise.resolve(answers[method]);
      }) as never);
    }
  }
  return calls;
}

/** One call of every read, with valid arguments. */
async function everyRead(reads: StoreReads): Promise<void> {
  await reads.getSchedule(SLOT);
  await reads.findSchedules({ doctorId: DOC, limit: 5 });
  await reads.getBooking(BOOKING);
  await reads.findBookings({ patientId: PAT });
  await reads.countBookings({ patientId: PAT });
  await reads.findBookingByIdempotencyKey({ patientId: PAT, idempotencyKey: 'k' });
  await reads.findActiveBooking(SLOT);
  await reads.getPaymentTransaction(BOOKING);
  await reads.findPaymentTransaction({ provider: 'test', providerPaymentId: 'pi_1' });
  await reads.findPaymentTransactions({ bookingId: BOOKING });
  await reads.findLedgerEntries({ doctorId: DOC });
  await reads.ledgerBalances({ doctorId: DOC });
  await reads.hasProcessedEvent('evt_1');
  await reads.getPaymentCustomer({ patientId: PAT, provider: 'test' });
}

/** One call of every operation, with valid arguments. */
async function everyOperation(ops: StoreOperations): Promise<void> {
  const refund = refundRecord({ amount: 1, reason: null });
  await everyRead(ops);
  await ops.insertSchedule(newSchedule());
  await ops.updateScheduleIf({ id: SLOT, expectedStatus: 'available', set: { status: 'pending' } });
  await ops.deleteSchedulesIf({ ids: [SLOT], expectedStatus: 'expired' });
  await ops.insertBooking(newBooking());
  await ops.updateBookingIf({ id: BOOKING, expectedStatus: 'pending', set: { status: 'cancelled' } });
  await ops.updateBookingIf({ id: BOOKING, expectedStatus: 'scheduled', expectedScheduleId: SLOT, set: {} });
  await ops.markReminderSent({ bookingId: BOOKING, key: '1440:email', slotStart: T0 });
  await ops.insertPaymentTransaction(newPaymentTransaction({ provider: 'test', checkoutSessionId: null }));
  await ops.upsertRefund({ paymentTransactionId: BOOKING, refund });
  await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:x', amount: 1 }));
  await ops.recordProcessedEvent({ id: 'evt_1', type: 'payment.succeeded', at: T0 });
  await ops.lockPatient(PAT);
  await ops.lockDoctor(DOC);
  // The recorders store nothing, so the upsert "stores nothing" and says so.
  await expect(ops.savePaymentCustomer({ patientId: PAT, provider: 'test', customerId: 'cus_1' })).rejects.toThrow(
    /stored nothing/,
  );
}

describe('transactions', () => {
  it('passes the session to every operation inside a transaction, with the configured options', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false, clock: { now: () => T0 } });
    const calls = recordCollections(store);
    const session = { id: 'fake-session' };
    const transaction = vi.fn(async (fn: (s: unknown) => Promise<unknown>) => fn(session));
    Object.assign(connection, { transaction });
    await store.transaction(everyOperation);
    expect(transaction).toHaveBeenCalledWith(expect.any(Function), {
      readConcern: { level: 'snapshot' },
      writeConcern: { w: 'majority' },
      readPreference: 'primary',
    });
    expect(calls.length).toBeGreaterThan(25);
    expect(calls.filter((c) => c.options?.session !== session)).toEqual([]);
    expect(calls.filter((c) => 'readPreference' in (c.options ?? {}))).toEqual([]);
    // The locks are writes inside the transaction, upserting one document per patient / doctor.
    const locks = calls.filter((c) => c.collection === 'CareslotPatientLock' || c.collection === 'CareslotDoctorLock');
    expect(locks.map((c) => [c.collection, c.method, c.options?.upsert])).toEqual([
      ['CareslotPatientLock', 'findOneAndUpdate', true],
      ['CareslotDoctorLock', 'findOneAndUpdate', true],
    ]);
    // The ledger line's total: an $inc of an existing one, else (none there) an upsert from the lines' sum.
    const totals = calls.filter((c) => c.collection === 'CareslotWalletBalance' && c.method === 'updateOne');
    expect(totals.map((c) => c.options?.upsert ?? false)).toEqual([false, true]);
  });

  it.each([
    [
      'an extra option keeps every default',
      { maxCommitTimeMS: 5000 },
      {
        readConcern: { level: 'snapshot' },
        writeConcern: { w: 'majority' },
        readPreference: 'primary',
        maxCommitTimeMS: 5000,
      },
    ],
    [
      'a given field replaces only that default',
      { writeConcern: { w: 'majority', journal: true } },
      { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority', journal: true }, readPreference: 'primary' },
    ],
    [
      'a field given as undefined keeps its default',
      { readConcern: undefined },
      { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' }, readPreference: 'primary' },
    ],
  ])('merges transactionOptions over the defaults: %s', async (_name, given, expected) => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    const transaction = vi.fn(async (fn: (s: unknown) => Promise<unknown>, _options?: unknown) => fn({}));
    Object.assign(connection, { transaction });
    const store = new MongooseStore({
      connection,
      checkIndexes: false,
      transactionOptions: given as MongooseStoreOptions['transactionOptions'],
    });
    await store.transaction(async () => 1);
    expect(transaction.mock.calls[0]?.[1]).toEqual(expected);
  });

  it('offers only reads and transaction on the store: every write and lock exists only on the operations', async () => {
    const store = new MongooseStore({ connection: hostConnection() });
    for (const name of STORE_WRITES) expect(name in store, name).toBe(false);
    expect(typeof store.transaction).toBe('function');
    expect(typeof store.getBooking).toBe('function');
    expect(() => new MongooseOperations({} as never, null as never)).toThrow(/only inside a transaction/);
  });

  it('reads committed data from the primary outside transactions, with no session', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    const store = new MongooseStore({ connection, checkIndexes: false });
    const calls = recordCollections(store);
    await everyRead(store);
    // ledgerBalances reads the wallet totals' marker, and (none there) sums the ledger.
    expect(calls).toHaveLength(15);
    expect(calls.filter((c) => 'session' in (c.options ?? {}))).toEqual([]);
    expect(calls.filter((c) => c.options?.readPreference !== 'primary')).toEqual([]);
  });

  it('turns an invalid document into INVALID_INPUT inside the transaction, naming the field', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    Object.assign(connection, { transaction: async (fn: (s: unknown) => Promise<unknown>) => fn({}) });
    const store = new MongooseStore({ connection, checkIndexes: false });
    recordCollections(store);
    const seen = await store.transaction((tx) =>
      tx.insertSchedule(newSchedule({ fee: { amount: 10.5, currency: 'eur' } })).catch((e: unknown) => e),
    );
    expect(seen).toBeInstanceOf(BookingError);
    expect(seen).toMatchObject({ code: 'INVALID_INPUT', details: { issues: [{ path: 'fee.amount' }] } });
  });

  it('stamps records from the clock option, following the clock as it moves', async () => {
    const clock = new ManualClock('2031-01-01T00:00:00Z');
    const ops = autocommit(createFakeMongo({ clock }).store);
    const slot = await ops.insertSchedule(newSchedule());
    expect(slot.createdAt).toEqual(new Date('2031-01-01T00:00:00Z'));
    expect(slot.updatedAt).toEqual(new Date('2031-01-01T00:00:00Z'));
    clock.advance(60_000);
    const later = await ops.insertSchedule(newSchedule());
    expect(later.createdAt).toEqual(new Date('2031-01-01T00:01:00Z'));
  });

  it('still stamps records with the deprecated now function', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    Object.assign(connection, { transaction: async (fn: (s: unknown) => Promise<unknown>) => fn({}) });
    const now = new Date('2031-01-01T00:00:00Z');
    const store = new MongooseStore({ connection, checkIndexes: false, now: () => now });
    recordCollections(store);
    const slot = await store.transaction((tx) => tx.insertSchedule(newSchedule()));
    expect(slot.createdAt).toEqual(now);
    expect(slot.updatedAt).toEqual(now);
  });

  it('fails with STORE_ERROR, not a lost refund, when the payment read in the transaction no longer matches', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    Object.assign(connection, { transaction: async (fn: (s: unknown) => Promise<unknown>) => fn({}) });
    const store = new MongooseStore({ connection, checkIndexes: false });
    recordCollections(store);
    const payment = { _id: new mongoose.Types.ObjectId(BOOKING), amount: 5000, refunds: [], __v: 0 };
    vi.spyOn(store.models.payment.collection, 'findOne').mockResolvedValue(payment as never);
    const error = await store
      .transaction((tx) => tx.upsertRefund({ paymentTransactionId: BOOKING, refund: refundRecord({ amount: 1 }) }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', message: expect.stringMatching(/readConcern: snapshot/) });
  });

  it('runs the function again when a concurrent transaction committed a unique key first', async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    Object.assign(connection, { transaction: async (fn: (s: unknown) => Promise<unknown>) => fn({}) });
    const store = new MongooseStore({ connection, checkIndexes: false });
    let runs = 0;
    const result = await store.transaction(async () => {
      runs++;
      if (runs < 3) throw new UniqueConflictError('insertBooking', { cause: { code: 11000 } });
      return 'committed';
    });
    expect(result).toBe('committed');
    expect(runs).toBe(3);
  });

  it(`gives up with STORE_ERROR after ${UNIQUE_CONFLICT_ATTEMPTS} conflicting runs`, async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    Object.assign(connection, { transaction: async (fn: (s: unknown) => Promise<unknown>) => fn({}) });
    const store = new MongooseStore({ connection, checkIndexes: false });
    let runs = 0;
    const error = await store
      .transaction(async () => {
        runs++;
        throw new UniqueConflictError('appendLedgerEntry', { cause: { code: 11000 } });
      })
      .catch((e: unknown) => e);
    expect(runs).toBe(UNIQUE_CONFLICT_ATTEMPTS);
    expect(error).toMatchObject({ code: 'STORE_ERROR', message: expect.stringMatching(/kept conflicting/) });
  });

  it("rethrows the function's own errors unchanged, and wraps database errors as STORE_ERROR with the cause", async () => {
    const connection = hostConnection();
    pretendOpen(connection, () => REPLICA_SET_HELLO);
    let failure: unknown = new Error('boom');
    Object.assign(connection, {
      transaction: async (fn: (s: unknown) => Promise<unknown>) => {
        if (failure instanceof Error && failure.name.startsWith('Mongo')) throw failure;
        return fn({});
      },
    });
    const store = new MongooseStore({ connection, checkIndexes: false });
    const boom = failure;
    await expect(store.transaction(async () => Promise.reject(boom))).rejects.toBe(boom);
    const domain = new BookingError('SCHEDULE_UNAVAILABLE', 'taken');
    await expect(store.transaction(async () => Promise.reject(domain))).rejects.toBe(domain);
    failure = Object.assign(new Error('connection reset'), { name: 'MongoNetworkError' });
    const error = await store.transaction(async () => 1).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'STORE_ERROR',
      message: 'MongooseStore: transaction failed: connection reset',
    });
    expect((error as Error).cause).toBe(failure);
  });
});
