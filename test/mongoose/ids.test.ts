// Ids: ObjectIds in MongoDB, strings in the domain; anything else is INVALID_INPUT before any query.
import { describe, expect, it } from 'vitest';
import { idToString, toHostId, toKey, toObjectId } from '../../src/adapters/mongoose/ids.js';
import { BookingEngine, type BookingStore, InProcessScheduler } from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { autocommit } from '../support/autocommit.js';
import { ledgerEntry, refundRecord } from '../support/records.js';
import { BOOKING, DOC, INJECTIONS, newBooking, newSchedule, PAT, SLOT, T0 } from './samples.js';
import { createFakeMongo } from './support/fake-mongo.js';

function thrown(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (error) {
    return error as { code?: string };
  }
  throw new Error('expected a throw');
}

describe('id parsing', () => {
  it('turns 24 hex digits into an ObjectId and back, lowercased', () => {
    expect(toObjectId(SLOT, 'id').toHexString()).toBe(SLOT);
    expect(idToString(toObjectId(SLOT.toUpperCase(), 'id'))).toBe(SLOT);
  });

  it.each<[string, unknown]>([
    ['a 12-character string (ObjectId.isValid would take it as raw bytes)', 'aaaaaaaaaaaa'],
    ['23 hex digits', SLOT.slice(1)],
    ['25 hex digits', `${SLOT}0`],
    ['non-hex characters', 'zzzzzzzzzzzzzzzzzzzzzzzz'],
    ['an empty string', ''],
    ['a number', 42],
    ['null', null],
    ['an ObjectId-like object', { toHexString: () => SLOT }],
    ...INJECTIONS.map((value): [string, unknown] => [`the operator object ${JSON.stringify(value)}`, value]),
  ])('refuses %s as a record id with INVALID_INPUT naming the field', (_name, value) => {
    const error = thrown(() => toObjectId(value, 'scheduleId'));
    expect(error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'scheduleId' } });
    expect(error.message).toMatch(/^scheduleId must be a 24-character hex ObjectId string/);
  });

  it('keeps host ids as ObjectIds by default and as strings in string mode', () => {
    expect(idToString(toHostId(PAT, 'patientId', 'objectId'))).toBe(PAT);
    expect(typeof toHostId(PAT, 'patientId', 'objectId')).toBe('object');
    expect(toHostId('auth0|user-1', 'patientId', 'string')).toBe('auth0|user-1');
    expect(thrown(() => toHostId('auth0|user-1', 'patientId', 'objectId')).code).toBe('INVALID_INPUT');
  });

  it("names hostIds: 'string' when a doctor or patient id is not an ObjectId in the default mode", () => {
    const error = thrown(() => toHostId('p1', 'patientId', 'objectId'));
    expect(error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'patientId' } });
    expect(error.message).toMatch(/^patientId must be a 24-character hex ObjectId string \(got a 2-character string\)/);
    expect(error.message).toMatch(/pass hostIds: 'string' to new MongooseStore\(\{ connection, hostIds: 'string' \}\)/);
    // careslot's own record ids are always ObjectIds: no option changes that, so no hint.
    expect(thrown(() => toObjectId('s1', 'scheduleId')).message).not.toMatch(/hostIds/);
  });

  it.each([['an empty string', ''], ['129 characters', 'x'.repeat(129)], ...INJECTIONS.map((v) => ['an operator', v])])(
    'refuses %s as a string-mode host id',
    (_name, value) => {
      expect(thrown(() => toHostId(value, 'patientId', 'string')).code).toBe('INVALID_INPUT');
    },
  );

  it('accepts only non-empty strings as keys (event ids, session ids, providers)', () => {
    expect(toKey('evt_1', 'eventId')).toBe('evt_1');
    for (const value of ['', 1, null, ...INJECTIONS])
      expect(thrown(() => toKey(value, 'eventId')).code).toBe('INVALID_INPUT');
  });
});

type Call = [string, (store: BookingStore, bad: unknown) => Promise<unknown>];
const bad = <T>(value: unknown) => value as T;
/** Writes run in a transaction of their own, as the port allows only there. */
const tx = autocommit;

// Every store method that takes an id, a key or a status, with the bad value in that place.
const CALLS: Call[] = [
  ['getSchedule(id)', (s, v) => s.getSchedule(bad(v))],
  ['getBooking(id)', (s, v) => s.getBooking(bad(v))],
  ['getPaymentTransaction(id)', (s, v) => s.getPaymentTransaction(bad(v))],
  ['findActiveBooking(scheduleId)', (s, v) => s.findActiveBooking(bad(v))],
  ['hasProcessedEvent(id)', (s, v) => s.hasProcessedEvent(bad(v))],
  ['updateScheduleIf({ id })', (s, v) => tx(s).updateScheduleIf({ id: bad(v), expectedStatus: 'available', set: {} })],
  [
    'updateScheduleIf({ expectedStatus })',
    (s, v) => tx(s).updateScheduleIf({ id: SLOT, expectedStatus: bad(v), set: {} }),
  ],
  [
    'updateScheduleIf({ set.bookedBy })',
    (s, v) => tx(s).updateScheduleIf({ id: SLOT, expectedStatus: 'available', set: { bookedBy: bad(v) } }),
  ],
  [
    'updateScheduleIf({ set.status })',
    (s, v) => tx(s).updateScheduleIf({ id: SLOT, expectedStatus: 'available', set: { status: bad(v) } }),
  ],
  ['deleteSchedulesIf({ ids })', (s, v) => tx(s).deleteSchedulesIf({ ids: [bad(v)], expectedStatus: 'expired' })],
  ['findSchedules({ doctorId })', (s, v) => s.findSchedules({ doctorId: bad(v) })],
  ['findSchedules({ status })', (s, v) => s.findSchedules({ status: bad(v) })],
  ['findSchedules({ startFrom })', (s, v) => s.findSchedules({ startFrom: bad(v) })],
  ['findBookings({ patientId })', (s, v) => s.findBookings({ patientId: bad(v) })],
  ['findBookings({ checkoutSessionId })', (s, v) => s.findBookings({ checkoutSessionId: bad(v) })],
  ['findBookings({ mode })', (s, v) => s.findBookings({ mode: bad(v) })],
  ['findBookings({ limit })', (s, v) => s.findBookings({ limit: bad(v) })],
  ['countBookings({ scheduleId })', (s, v) => s.countBookings({ scheduleId: bad(v) })],
  ['countBookings({ paymentStatus })', (s, v) => s.countBookings({ paymentStatus: bad(v) })],
  [
    'findBookingByIdempotencyKey({ patientId })',
    (s, v) => s.findBookingByIdempotencyKey({ patientId: bad(v), idempotencyKey: 'k' }),
  ],
  [
    'findBookingByIdempotencyKey({ idempotencyKey })',
    (s, v) => s.findBookingByIdempotencyKey({ patientId: PAT, idempotencyKey: bad(v) }),
  ],
  ['updateBookingIf({ id })', (s, v) => tx(s).updateBookingIf({ id: bad(v), expectedStatus: 'pending', set: {} })],
  [
    'updateBookingIf({ expectedPaymentStatus })',
    (s, v) => tx(s).updateBookingIf({ id: BOOKING, expectedStatus: 'pending', expectedPaymentStatus: bad(v), set: {} }),
  ],
  [
    'updateBookingIf({ set.scheduleId })',
    (s, v) => tx(s).updateBookingIf({ id: BOOKING, expectedStatus: 'pending', set: { scheduleId: bad(v) } }),
  ],
  [
    'updateBookingIf({ set.checkoutSessionId })',
    (s, v) => tx(s).updateBookingIf({ id: BOOKING, expectedStatus: 'pending', set: { checkoutSessionId: bad(v) } }),
  ],
  ['insertSchedule({ doctorId })', (s, v) => tx(s).insertSchedule(newSchedule({ doctorId: bad(v) }))],
  ['insertBooking({ scheduleId })', (s, v) => tx(s).insertBooking(newBooking({ scheduleId: bad(v) }))],
  ['insertBooking({ idempotencyKey })', (s, v) => tx(s).insertBooking(newBooking({ idempotencyKey: bad(v) }))],
  [
    'findPaymentTransaction({ providerPaymentId })',
    (s, v) => s.findPaymentTransaction({ provider: 'stripe', providerPaymentId: bad(v) }),
  ],
  ['findPaymentTransactions({ bookingId })', (s, v) => s.findPaymentTransactions({ bookingId: bad(v) })],
  ['findPaymentTransactions({ refundStatus })', (s, v) => s.findPaymentTransactions({ refundStatus: bad(v) })],
  [
    'upsertRefund({ paymentTransactionId })',
    (s, v) =>
      tx(s).upsertRefund({
        paymentTransactionId: bad(v),
        refund: refundRecord({ amount: 1, reason: null, createdAt: new Date(), updatedAt: new Date() }),
      }),
  ],
  [
    'appendLedgerEntry({ key })',
    (s, v) =>
      tx(s).appendLedgerEntry(
        ledgerEntry({ key: bad(v), doctorId: DOC, bookingId: BOOKING, amount: 1, createdAt: new Date() }),
      ),
  ],
  ['findLedgerEntries({ doctorId })', (s, v) => s.findLedgerEntries({ doctorId: bad(v) })],
  ['recordProcessedEvent({ id })', (s, v) => tx(s).recordProcessedEvent({ id: bad(v), type: 't', at: new Date() })],
  ['getPaymentCustomer({ patientId })', (s, v) => s.getPaymentCustomer({ patientId: bad(v), provider: 'stripe' })],
  [
    'savePaymentCustomer({ customerId })',
    (s, v) => tx(s).savePaymentCustomer({ patientId: PAT, provider: 'stripe', customerId: bad(v) }),
  ],
  [
    'updateBookingIf({ expectedScheduleId })',
    (s, v) => tx(s).updateBookingIf({ id: BOOKING, expectedStatus: 'scheduled', expectedScheduleId: bad(v), set: {} }),
  ],
  ['findBookings({ slotStartFrom })', (s, v) => s.findBookings({ slotStartFrom: bad(v) })],
  ['countBookings({ after.id })', (s, v) => s.countBookings({ after: { createdAt: T0, id: bad(v) } })],
  [
    'markReminderSent({ bookingId })',
    (s, v) => tx(s).markReminderSent({ bookingId: bad(v), key: '1440:email', slotStart: T0 }),
  ],
  ['markReminderSent({ key })', (s, v) => tx(s).markReminderSent({ bookingId: BOOKING, key: bad(v), slotStart: T0 })],
  [
    'markReminderSent({ slotStart })',
    (s, v) => tx(s).markReminderSent({ bookingId: BOOKING, key: '1440:email', slotStart: bad(v) }),
  ],
  ['lockPatient(patientId)', (s, v) => s.transaction((t) => t.lockPatient(bad(v)))],
  ['lockDoctor(doctorId)', (s, v) => s.transaction((t) => t.lockDoctor(bad(v)))],
];

/** README's quick start, with MongooseStore (over the stand-in) in place of the MemoryStore. */
async function quickStart(store: BookingStore) {
  const engine = new BookingEngine({
    store,
    payments: new TestPaymentGateway(),
    patients: new MemoryPatientDirectory([{ id: 'p1', name: 'Ada', plan: 'standard' }]),
    scheduler: new InProcessScheduler({ timers: false }),
    clock: new ManualClock('2030-03-01T08:00:00Z'),
    successUrl: 'https://clinic.example/booked',
    cancelUrl: 'https://clinic.example/slots',
  });
  const slot = await engine.createSchedule({
    doctorId: 'd1',
    startTime: '2030-05-01T09:00:00+02:00',
    endTime: '2030-05-01T09:30:00+02:00',
    fee: { amount: 5000, currency: 'eur' },
    timeZone: 'Europe/Berlin',
  });
  return engine.book({ patientId: 'p1', scheduleId: slot.id });
}

describe("README's quick start ids on MongooseStore", () => {
  it("books doctor 'd1' for patient 'p1' with hostIds: 'string'", async () => {
    const { booking, paymentUrl } = await quickStart(createFakeMongo({ hostIds: 'string' }).store);
    expect(booking).toMatchObject({ patientId: 'p1', doctorId: 'd1', status: 'pending' });
    expect(paymentUrl).toEqual(expect.any(String));
  });

  it("refuses them in the default objectId mode with a message naming hostIds: 'string'", async () => {
    const error = await quickStart(createFakeMongo().store).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/hostIds: 'string'/) });
  });
});

/** A stand-in whose store passed ready() (its index check lists the indexes), with no calls recorded yet. */
async function readyFake() {
  const fake = createFakeMongo();
  await fake.store.ready();
  fake.calls.length = 0;
  return fake;
}

describe('operator injection', () => {
  it.each(CALLS)('%s refuses { $gt: "" } with INVALID_INPUT before any collection is touched', async (_name, call) => {
    const fake = await readyFake();
    await expect(call(fake.store, { $gt: '' })).rejects.toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(fake.calls).toEqual([]);
  });

  it('refuses every operator object in every id and key position', async () => {
    const fake = await readyFake();
    for (const value of INJECTIONS) {
      for (const [name, call] of CALLS) {
        const error = await call(fake.store, value).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error, `${name} with ${JSON.stringify(value)}`).toMatchObject({ code: 'INVALID_INPUT' });
      }
    }
    expect(fake.calls).toEqual([]);
  });

  it('answers null, not INVALID_INPUT, for a well-formed id that does not exist', async () => {
    const fake = createFakeMongo();
    expect(await fake.store.getBooking('ffffffffffffffffffffffff')).toBeNull();
    expect(await fake.store.getSchedule(SLOT)).toBeNull();
  });
});
