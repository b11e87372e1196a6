// The example host's policies over HTTP: the cancellation quote (route and patient page) and the no-show routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOCTORS, DEMO_PATIENTS } from '../../examples/express/demo-users.js';
import { type RunningExample, startExample } from '../../examples/express/start.js';

const doctor = `doctor:${DEMO_DOCTORS[0].id}`;
const paula = `patient:${DEMO_PATIENTS[0].id}`;
const victor = `patient:${DEMO_PATIENTS[1].id}`;
const tom = `patient:${DEMO_PATIENTS[3].id}`;
const admin = 'admin:admin';

const HOUR = 3_600_000;
// A manual clock: tests move it forward to reach a slot's start; it never goes back.
let now = new Date('2027-03-10T08:00:00Z').getTime();
const clock = { now: () => new Date(now) };

let app: RunningExample;

beforeAll(async () => {
  app = await startExample({ env: {}, overrides: { timers: false, clock } });
});
afterAll(async () => {
  await app?.close();
});

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are read field by field
  body: any;
}

async function call(method: string, path: string, user: string | null, body?: unknown): Promise<Reply> {
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(user ? { 'x-demo-user': user } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

let published = 0;
/** A 1-minute, 50.00 EUR slot about `hours` ahead of the clock (2 minutes later each time, so slots never overlap). */
async function publish(hours: number): Promise<string> {
  const start = new Date(now + hours * HOUR + published++ * 2 * 60_000);
  const reply = await call('POST', '/doctors/me/slots', doctor, {
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + 60_000).toISOString(),
    fee: { amount: 5000, currency: 'eur' },
    timeZone: 'Europe/Berlin',
  });
  expect(reply.status).toBe(201);
  return reply.body.schedule.id;
}

/** Paula's paid booking `hours` ahead, through the local checkout's signed webhook. */
async function paidBooking(hours: number): Promise<string> {
  const booked = await call('POST', '/bookings', paula, { scheduleId: await publish(hours) });
  expect(booked.status).toBe(201);
  const paid = await call('POST', `${new URL(booked.body.paymentUrl).pathname}/pay`, null);
  expect(paid.body.outcome).toBe('confirmed');
  return booked.body.booking.id;
}

const eur = (amount: number) => ({ amount, currency: 'eur' });

describe('example host: GET /bookings/:id/cancellation-quote', () => {
  it('quotes the tier for the caller, and cancelling then refunds exactly the quoted amount', async () => {
    const bookingId = await paidBooking(12);
    const quoted = await call('GET', `/bookings/${bookingId}/cancellation-quote`, paula);
    expect(quoted.status).toBe(200);
    expect(quoted.body.quote).toEqual({
      allowed: true,
      refund: eur(2500),
      kept: eur(2500),
      reason: 'tier',
      tier: { hoursBefore: 6, refundPercent: 50 },
      cutoffHours: 2,
    });
    // Quoting changes nothing: the doctor's quote for the same booking is the full amount.
    expect((await call('GET', `/bookings/${bookingId}/cancellation-quote`, doctor)).body.quote).toMatchObject({
      refund: eur(5000),
      kept: eur(0),
      reason: 'staff',
    });
    const cancelled = await call('POST', `/bookings/${bookingId}/cancel`, paula);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.refund).toMatchObject({ amount: quoted.body.quote.refund.amount, status: 'succeeded' });
    expect(cancelled.body.booking).toMatchObject({ status: 'cancelled', paymentStatus: 'partially_refunded' });
  });

  it('quotes a full refund from 24 hours ahead and nothing between 2 and 6 hours ahead', async () => {
    const early = await paidBooking(30);
    expect((await call('GET', `/bookings/${early}/cancellation-quote`, paula)).body.quote).toMatchObject({
      allowed: true,
      refund: eur(5000),
      kept: eur(0),
      tier: { hoursBefore: 24, refundPercent: 100 },
    });
    const late = await paidBooking(4);
    const quoted = (await call('GET', `/bookings/${late}/cancellation-quote`, paula)).body.quote;
    expect(quoted).toMatchObject({ allowed: true, refund: eur(0), kept: eur(5000), reason: 'before_every_tier' });
    const cancelled = await call('POST', `/bookings/${late}/cancel`, paula);
    expect(cancelled.body).toMatchObject({ booking: { status: 'cancelled' }, refund: null });
  });

  it('quotes not allowed inside the 2-hour patient cutoff, and cancelling is then refused with 403', async () => {
    const bookingId = await paidBooking(1);
    const quoted = await call('GET', `/bookings/${bookingId}/cancellation-quote`, paula);
    expect(quoted.body.quote).toMatchObject({ allowed: false, reason: 'patient_cutoff', cutoffHours: 2 });
    const refused = await call('POST', `/bookings/${bookingId}/cancel`, paula);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'NOT_ALLOWED' } } });
    expect((await call('GET', `/bookings/${bookingId}`, paula)).body.booking).toMatchObject({ status: 'scheduled' });
  });

  it("refuses strangers and unauthenticated callers, and answers an unknown booking's quote with 404", async () => {
    const bookingId = await paidBooking(20);
    expect((await call('GET', `/bookings/${bookingId}/cancellation-quote`, tom)).body.error?.code).toBe('NOT_ALLOWED');
    expect((await call('GET', `/bookings/${bookingId}/cancellation-quote`, tom)).status).toBe(403);
    expect((await call('GET', `/bookings/${bookingId}/cancellation-quote`, null)).status).toBe(401);
    expect((await call('GET', '/bookings/65d0000000000000000000ff/cancellation-quote', paula)).status).toBe(404);
  });
});

describe('example host: the patient page shows the quote before the cancel button', () => {
  const q = `?user=${encodeURIComponent(paula)}`;
  const rowOf = (html: string, bookingId: string) =>
    html.match(new RegExp(`<tr class="booking" data-booking="${bookingId}">[\\s\\S]*?</tr>`))?.[0];

  it('lists the booking with its quote ahead of the button, and the button cancels with the quoted refund', async () => {
    const bookingId = await paidBooking(10);
    const page = await fetch(`${app.url}/patient${q}`).then((r) => r.text());
    const row = rowOf(page, bookingId);
    expect(row).toBeDefined();
    const quoteAt = row?.indexOf('Cancelling now refunds 25.00 EUR; the practice keeps 25.00 EUR') ?? -1;
    const buttonAt = row?.indexOf('<button class="cancel-booking">') ?? -1;
    expect(quoteAt).toBeGreaterThan(-1);
    expect(buttonAt).toBeGreaterThan(quoteAt);
    expect(row).toContain(`action="/patient/bookings/${bookingId}/cancel${q}"`);

    const posted = await fetch(`${app.url}/patient/bookings/${bookingId}/cancel${q}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: '',
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe(`/patient${q}`);
    const booking = (await call('GET', `/bookings/${bookingId}`, paula)).body.booking;
    expect(booking).toMatchObject({ status: 'cancelled', amountRefunded: 2500 });
    expect(rowOf(await fetch(`${app.url}/patient${q}`).then((r) => r.text()), bookingId)).toBeUndefined();
  });

  it('offers no cancel button inside the patient cutoff, and says why', async () => {
    const bookingId = await paidBooking(1.5);
    const row = rowOf(await fetch(`${app.url}/patient${q}`).then((r) => r.text()), bookingId);
    expect(row).toContain('Within 2 hours of the start only the practice can cancel');
    expect(row).not.toContain('cancel-booking');
    // Posting the form anyway re-renders the page with the engine's refusal.
    const forced = await fetch(`${app.url}/patient/bookings/${bookingId}/cancel${q}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: '',
    });
    expect(forced.status).toBe(403);
    expect(await forced.text()).toContain('Patients cannot cancel within 2 hours of the start');
  });
});

describe('example host: POST /bookings/:id/no-show and /no-show/undo', () => {
  it('lets the doctor mark and undo a no-show after the start, and refuses the patient with 403', async () => {
    const free = await call('POST', '/bookings', victor, { scheduleId: await publish(1) });
    const bookingId = free.body.booking.id;
    expect((await call('POST', `/bookings/${bookingId}/no-show`, doctor)).body.error?.code).toBe('NOT_ALLOWED');

    now = new Date(free.body.booking.slotStart).getTime() + 5 * 60_000; // the patient did not come
    const byPatient = await call('POST', `/bookings/${bookingId}/no-show`, victor);
    expect(byPatient).toMatchObject({ status: 403, body: { error: { code: 'NOT_ALLOWED' } } });
    const marked = await call('POST', `/bookings/${bookingId}/no-show`, doctor);
    expect(marked).toMatchObject({ status: 200, body: { booking: { status: 'no_show' } } });
    expect((await call('POST', `/bookings/${bookingId}/no-show/undo`, victor)).status).toBe(403);
    const undone = await call('POST', `/bookings/${bookingId}/no-show/undo`, doctor);
    expect(undone).toMatchObject({ status: 200, body: { booking: { status: 'scheduled' } } });
    expect((await call('POST', `/bookings/${bookingId}/no-show`, 'doctor:someone-else')).status).toBe(403);
    expect((await call('POST', `/bookings/${bookingId}/no-show`, admin)).body.booking).toMatchObject({
      status: 'no_show',
    });
  });

  it('keeps the fee of a paid no-show (noShowRefundPercent 0)', async () => {
    const bookingId = await paidBooking(1);
    now = new Date((await call('GET', `/bookings/${bookingId}`, doctor)).body.booking.slotStart).getTime() + 5 * 60_000;
    const marked = await call('POST', `/bookings/${bookingId}/no-show`, doctor);
    expect(marked.body.booking).toMatchObject({ status: 'no_show', paymentStatus: 'paid', amountRefunded: 0 });
  });
});
