// Every public method and the webhook handler fed bad input: the documented error code, and nothing changes.
import { describe, expect, it } from 'vitest';
import { createWebhookHandler, isBookingError, JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

type F = ReturnType<typeof createFixture>;

/** Everything a caller could have changed, as comparable JSON. */
async function snapshot(f: F): Promise<string> {
  const [schedules, bookings, ledger, payments] = await Promise.all([
    f.store.findSchedules({}),
    f.store.findBookings({}),
    f.store.findLedgerEntries({}),
    f.store.findPaymentTransactions({}),
  ]);
  return JSON.stringify({ schedules, bookings, ledger, payments, calls: f.gateway.calls.length });
}

async function world() {
  const f = createFixture();
  const slot = await f.slot(48 * 60);
  const spare = await f.slot(72 * 60);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const paid = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
  await f.engine.handlePaymentEvent(paid);
  return { f, slot, spare, booking, paid };
}

const operator = { $gt: '' };
const start = '2030-03-10T09:00:00Z';
const end = '2030-03-10T09:30:00Z';
const fee = { amount: 5000, currency: 'eur' };

type Case = [string, string, (w: Awaited<ReturnType<typeof world>>) => Promise<unknown>];

const cases: Case[] = [
  [
    'createSchedule with an operator object as doctor id',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({ doctorId: operator as never, startTime: start, endTime: end, fee, timeZone: 'UTC' }),
  ],
  [
    'createSchedule with an empty doctor id',
    'INVALID_INPUT',
    ({ f }) => f.engine.createSchedule({ doctorId: '', startTime: start, endTime: end, fee, timeZone: 'UTC' }),
  ],
  [
    'createSchedule with a negative fee',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: end,
        fee: { amount: -100, currency: 'eur' },
        timeZone: 'UTC',
      }),
  ],
  [
    'createSchedule with a fractional fee',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: end,
        fee: { amount: 0.5, currency: 'eur' },
        timeZone: 'UTC',
      }),
  ],
  [
    'createSchedule with a fee as a string',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: end,
        fee: { amount: '5000' as never, currency: 'eur' },
        timeZone: 'UTC',
      }),
  ],
  [
    'createSchedule with an end before the start',
    'INVALID_INPUT',
    ({ f }) => f.engine.createSchedule({ doctorId: DOCTOR, startTime: end, endTime: start, fee, timeZone: 'UTC' }),
  ],
  [
    'createSchedule in the past',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: '2001-01-01T09:00:00Z',
        endTime: '2001-01-01T10:00:00Z',
        fee,
        timeZone: 'UTC',
      }),
  ],
  [
    'createSchedule with an invalid date',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({ doctorId: DOCTOR, startTime: new Date('nope'), endTime: end, fee, timeZone: 'UTC' }),
  ],
  [
    'createSchedule with an unknown time zone',
    'INVALID_INPUT',
    ({ f }) =>
      f.engine.createSchedule({ doctorId: DOCTOR, startTime: start, endTime: end, fee, timeZone: 'Europe/Atlantis' }),
  ],
  ['createSchedule with no input', 'INVALID_INPUT', ({ f }) => f.engine.createSchedule(undefined as never)],
  [
    'book with an operator object as slot id',
    'INVALID_INPUT',
    ({ f }) => f.engine.book({ patientId: PATIENTS.other, scheduleId: operator as never }),
  ],
  [
    'book with an operator object as patient id',
    'INVALID_INPUT',
    ({ f, spare }) => f.engine.book({ patientId: { $ne: null } as never, scheduleId: spare.id }),
  ],
  [
    'book with an over-long id',
    'INVALID_INPUT',
    ({ f }) => f.engine.book({ patientId: PATIENTS.other, scheduleId: 'x'.repeat(500) }),
  ],
  [
    'book with a non-http success URL',
    'INVALID_INPUT',
    ({ f, spare }) =>
      f.engine.book({ patientId: PATIENTS.other, scheduleId: spare.id, successUrl: 'javascript:alert(1)' }),
  ],
  [
    'book with a numeric idempotency key',
    'INVALID_INPUT',
    ({ f, spare }) => f.engine.book({ patientId: PATIENTS.other, scheduleId: spare.id, idempotencyKey: 42 as never }),
  ],
  [
    'book on an unknown plan',
    'SUBSCRIPTION_REQUIRED',
    async ({ f, spare }) => {
      f.patients.setPlan(PATIENTS.other, 'platinum');
      return f.engine.book({ patientId: PATIENTS.other, scheduleId: spare.id });
    },
  ],
  [
    'book an unknown slot',
    'SCHEDULE_NOT_FOUND',
    ({ f }) => f.engine.book({ patientId: PATIENTS.other, scheduleId: '64b0000000000000000000ee' }),
  ],
  [
    'book by an unknown patient',
    'PATIENT_NOT_FOUND',
    ({ f, spare }) => f.engine.book({ patientId: '64b0000000000000000000ee', scheduleId: spare.id }),
  ],
  [
    'cancelBooking with an operator object as id',
    'INVALID_INPUT',
    ({ f }) => f.engine.cancelBooking({ bookingId: operator as never, actor: { role: 'admin', id: 'a' } }),
  ],
  [
    'cancelBooking without an actor',
    'INVALID_INPUT',
    ({ f, booking }) => f.engine.cancelBooking({ bookingId: booking.id } as never),
  ],
  [
    'cancelBooking of an unknown booking',
    'BOOKING_NOT_FOUND',
    ({ f }) => f.engine.cancelBooking({ bookingId: '64b0000000000000000000ee', actor: { role: 'admin', id: 'a' } }),
  ],
  [
    'cancelBooking by another patient',
    'NOT_ALLOWED',
    ({ f, booking }) =>
      f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.other } }),
  ],
  [
    'refund a negative amount',
    'INVALID_INPUT',
    ({ f, booking }) => f.engine.refund({ bookingId: booking.id, amount: -1 }),
  ],
  [
    'refund a fractional amount',
    'INVALID_INPUT',
    ({ f, booking }) => f.engine.refund({ bookingId: booking.id, amount: 1.5 }),
  ],
  [
    'refund more than was paid',
    'INVALID_INPUT',
    ({ f, booking }) => f.engine.refund({ bookingId: booking.id, amount: 5001 }),
  ],
  [
    'refund with an operator object as id',
    'INVALID_INPUT',
    ({ f }) => f.engine.refund({ bookingId: operator as never }),
  ],
  [
    'reschedule with an operator object as slot id',
    'INVALID_INPUT',
    ({ f, booking }) =>
      f.engine.reschedule({
        bookingId: booking.id,
        newScheduleId: operator as never,
        actor: { role: 'admin', id: 'a' },
      }),
  ],
  [
    'reschedule by a stranger',
    'NOT_ALLOWED',
    ({ f, booking, spare }) =>
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: spare.id, actor: { role: 'doctor', id: 'someone' } }),
  ],
  ['getBooking with an operator object', 'INVALID_INPUT', ({ f }) => f.engine.getBooking(operator as never)],
  ['getSchedule of an unknown slot', 'SCHEDULE_NOT_FOUND', ({ f }) => f.engine.getSchedule('64b0000000000000000000ee')],
  ['getWallet with an empty id', 'INVALID_INPUT', ({ f }) => f.engine.getWallet('')],
  ['listSchedules with a bad status', 'INVALID_INPUT', ({ f }) => f.engine.listSchedules({ status: 'free' as never })],
  ['listSchedules with a huge limit', 'INVALID_INPUT', ({ f }) => f.engine.listSchedules({ limit: 1e9 })],
  [
    'listBookings with an operator object',
    'INVALID_INPUT',
    ({ f }) => f.engine.listBookings({ patientId: operator as never }),
  ],
  ['runJob with an unknown name', 'INVALID_INPUT', ({ f }) => f.engine.runJob('dropDatabase' as never, {})],
  [
    'runJob with an operator object as booking id',
    'INVALID_INPUT',
    ({ f }) => f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: operator as never }),
  ],
  [
    'handlePaymentEvent with a made-up type',
    'INVALID_INPUT',
    ({ f }) => f.engine.handlePaymentEvent({ type: 'payment.stolen', id: 'evt' } as never),
  ],
  [
    'handlePaymentEvent of a payment without its amount',
    'INVALID_INPUT',
    ({ f, paid }) => f.engine.handlePaymentEvent({ ...paid, id: 'evt_new', payment: undefined } as never),
  ],
  [
    'handlePaymentEvent with a negative amount',
    'INVALID_INPUT',
    ({ f, paid }) =>
      f.engine.handlePaymentEvent({
        ...paid,
        id: 'evt_neg',
        payment: { paymentId: 'pi_x', amount: -5, currency: 'eur' },
      } as never),
  ],
  [
    'handlePaymentEvent without an id',
    'INVALID_INPUT',
    ({ f, paid }) => f.engine.handlePaymentEvent({ ...paid, id: undefined } as never),
  ],
];

describe('bad input to the engine', () => {
  it.each(cases)('%s → %s, and nothing changes', async (_, code, run) => {
    const w = await world();
    const before = await snapshot(w.f);
    let caught: unknown;
    try {
      await run(w);
    } catch (error) {
      caught = error;
    }
    expect(isBookingError(caught), `expected a BookingError, got ${String(caught)}`).toBe(true);
    expect((caught as { code: string }).code).toBe(code);
    expect(JSON.stringify(caught)).not.toMatch(/\n\s+at /); // no stack in the JSON body
    expect(await snapshot(w.f)).toBe(before);
  });
});

describe('bad input to the webhook handler', () => {
  it('answers oversized, non-JSON, forged, stale and parsed bodies with 4xx and changes nothing; a replay is a 200 duplicate', async () => {
    const w = await world();
    const slot = await w.f.slot(96 * 60);
    const { booking } = await w.f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    const handler = createWebhookHandler({
      engine: w.f.engine,
      maxBodyBytes: 4096,
      onError: () => {},
    });
    const event = w.f.gateway.pay(w.f.gateway.sessionForBooking(booking.id)?.id ?? '');
    const signed = w.f.gateway.signWebhook(event);
    const before = await snapshot(w.f);
    const answers = [
      await handler({ rawBody: 'x'.repeat(5000), headers: signed.headers }),
      await handler({ rawBody: 'not json at all', headers: signed.headers }),
      await handler({ rawBody: signed.rawBody.replace(booking.id, w.booking.id), headers: signed.headers }),
      await handler({ rawBody: signed.rawBody, headers: {} }),
      await handler(w.f.gateway.signWebhook(event, new Date(w.f.clock.now().getTime() - 3_600_000))),
      await handler({ rawBody: JSON.parse(signed.rawBody), headers: signed.headers } as never),
      await handler({ rawBody: signed.rawBody, headers: { 'careslot-test-signature': 't=abc,v1=zz' } }),
    ];
    expect(answers.map((a) => a.status)).toEqual([413, 400, 400, 400, 400, 400, 400]);
    expect(await snapshot(w.f)).toBe(before);
    expect((await handler(signed)).body).toMatchObject({ outcome: 'confirmed' });
    const after = await snapshot(w.f);
    expect((await handler(signed)).body).toMatchObject({ outcome: 'duplicate' });
    expect(await snapshot(w.f)).toBe(after);
  });
});
