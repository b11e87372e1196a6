// End to end: the Express example host over HTTP, every route, good and bad input, and the demo script.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOCTORS, DEMO_PATIENTS } from '../../examples/express/demo-users.js';
import { type RunningExample, startExample } from '../../examples/express/start.js';

const doctor = `doctor:${DEMO_DOCTORS[0].id}`;
const paula = `patient:${DEMO_PATIENTS[0].id}`;
const victor = `patient:${DEMO_PATIENTS[1].id}`;
const nora = `patient:${DEMO_PATIENTS[2].id}`;
const tom = `patient:${DEMO_PATIENTS[3].id}`;
const admin = 'admin:admin';

let app: RunningExample;
let slotCounter = 0;

interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  text: string;
}

async function call(method: string, path: string, user: string | null, body?: unknown, raw?: string): Promise<Reply> {
  const response = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(user ? { 'x-demo-user': user } : {}),
    },
    ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: Reply['body'] = {};
  try {
    parsed = JSON.parse(text) as Reply['body'];
  } catch {
    // HTML pages
  }
  return { status: response.status, body: parsed, text };
}

/** Publishes a slot `days` ahead at a fresh hour, as the demo doctor. */
async function publish(days = 3): Promise<string> {
  const start = new Date(Date.now() + days * 86_400_000 + slotCounter++ * 3_600_000);
  start.setUTCMinutes(0, 0, 0);
  const reply = await call('POST', '/doctors/me/slots', doctor, {
    startTime: start.toISOString(),
    endTime: new Date(start.getTime() + 30 * 60_000).toISOString(),
    fee: { amount: 5000, currency: 'eur' },
    timeZone: 'Europe/Berlin',
  });
  expect(reply.status).toBe(201);
  return (reply.body.schedule as { id: string }).id;
}

async function paidBooking(patient = paula): Promise<{ bookingId: string; scheduleId: string }> {
  const scheduleId = await publish();
  const booked = await call('POST', '/bookings', patient, { scheduleId });
  const path = new URL(booked.body.paymentUrl as string).pathname;
  const paid = await call('POST', `${path}/pay`, null);
  expect(paid.body.outcome).toBe('confirmed');
  return { bookingId: (booked.body.booking as { id: string }).id, scheduleId };
}

beforeAll(async () => {
  app = await startExample({ env: {}, overrides: { timers: false } });
});
afterAll(async () => {
  await app?.close();
});

describe('example host: slots', () => {
  it('serves health and the booking page', async () => {
    expect((await call('GET', '/health', null)).body).toEqual({ ok: true, mode: 'embedded' });
    const page = await call('GET', '/', null);
    expect(page.status).toBe(200);
    expect(page.text).toContain('careslot example clinic');
  });

  it('lets a doctor publish a slot and anyone list and read it', async () => {
    const id = await publish();
    const listed = await call('GET', `/slots?doctorId=${DEMO_DOCTORS[0].id}&status=available`, null);
    expect((listed.body.schedules as { id: string }[]).map((s) => s.id)).toContain(id);
    expect((await call('GET', `/slots/${id}`, null)).body.schedule).toMatchObject({ id, status: 'available' });
  });

  it('answers bad slot requests with clear 4xx JSON errors', async () => {
    expect((await call('POST', '/doctors/me/slots', null, {})).status).toBe(401);
    expect((await call('POST', '/doctors/me/slots', paula, {})).body.error?.code).toBe('NOT_ALLOWED');
    const invalid = await call('POST', '/doctors/me/slots', doctor, { startTime: 'tomorrow', fee: { amount: -1 } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error?.code).toBe('INVALID_INPUT');
    const malformed = await call('POST', '/doctors/me/slots', doctor, undefined, '{"startTime":');
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
    expect((await call('GET', '/slots/65d0000000000000000000ff', null)).status).toBe(404);
    expect((await call('GET', '/slots?limit=0', null)).status).toBe(400);
    expect(await call('GET', '/nowhere', null)).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });
});

describe('example host: bookings', () => {
  it('books a paid slot, serves the checkout page, and confirms through the signed webhook', async () => {
    const scheduleId = await publish();
    const booked = await call('POST', '/bookings', paula, { scheduleId });
    expect(booked.status).toBe(201);
    expect(booked.body.booking).toMatchObject({ status: 'pending' });
    const page = await fetch(booked.body.paymentUrl as string);
    const html = await page.text();
    expect(html).toContain('50.00 EUR');
    expect(html).toContain('id="pay"');
    const path = new URL(booked.body.paymentUrl as string).pathname;
    expect((await call('POST', `${path}/pay`, null)).body.outcome).toBe('confirmed');
    const bookingId = (booked.body.booking as { id: string }).id;
    expect((await call('GET', `/bookings/${bookingId}`, paula)).body.booking).toMatchObject({
      status: 'scheduled',
      paymentStatus: 'paid',
    });
    expect((await call('POST', `${path}/pay`, null)).status).toBe(409);
  });

  it('books a VISE patient for free and refuses plan none', async () => {
    const scheduleId = await publish();
    expect((await call('POST', '/bookings', nora, { scheduleId })).body.error?.code).toBe('SUBSCRIPTION_REQUIRED');
    const free = await call('POST', '/bookings', victor, { scheduleId });
    expect(free.body).toMatchObject({ booking: { status: 'scheduled', mode: 'free' } });
    expect(free.body.paymentUrl).toBeUndefined();
  });

  it('keeps a declined card pending and cancels on a terminal failure', async () => {
    const scheduleId = await publish();
    const booked = await call('POST', '/bookings', tom, { scheduleId });
    const path = new URL(booked.body.paymentUrl as string).pathname;
    await call('POST', `${path}/decline`, null);
    expect(await fetch(`${app.url}${path}`).then((r) => r.text())).toContain('declined 1×');
    expect((await call('POST', `${path}/fail`, null)).body.outcome).toBe('cancelled');
    expect((await call('GET', `/slots/${scheduleId}`, null)).body.schedule).toMatchObject({ status: 'available' });
  });

  it("lists only the caller's bookings and hides others' from strangers", async () => {
    const { bookingId } = await paidBooking();
    const mine = (await call('GET', '/bookings', paula)).body.bookings as { patientId: string }[];
    expect(mine.every((b) => b.patientId === DEMO_PATIENTS[0].id)).toBe(true);
    expect((await call('GET', `/bookings/${bookingId}`, tom)).status).toBe(403);
    expect((await call('GET', `/bookings/${bookingId}`, doctor)).status).toBe(200);
    expect((await call('GET', '/bookings/65d0000000000000000000ff', admin)).status).toBe(404);
  });

  it('answers bad booking requests with clear 4xx JSON errors', async () => {
    const scheduleId = await publish();
    expect((await call('POST', '/bookings', doctor, { scheduleId })).status).toBe(403);
    expect((await call('POST', '/bookings', paula, { scheduleId: '65d0000000000000000000ff' })).body.error?.code).toBe(
      'SCHEDULE_NOT_FOUND',
    );
    expect((await call('POST', '/bookings', paula, { scheduleId: { $gt: '' } })).body.error?.code).toBe(
      'INVALID_INPUT',
    );
    expect((await call('POST', '/bookings', paula, undefined, 'not json')).status).toBe(400);
    expect((await call('POST', '/bookings', 'patient:../etc', { scheduleId })).status).toBe(401);
    expect((await call('GET', '/checkout/cs_nope', null)).status).toBe(404);
  });

  it('cancels with a refund, and refuses strangers and a second cancellation', async () => {
    const { bookingId, scheduleId } = await paidBooking();
    expect((await call('POST', `/bookings/${bookingId}/cancel`, tom)).body.error?.code).toBe('NOT_ALLOWED');
    const cancelled = await call('POST', `/bookings/${bookingId}/cancel`, paula, { reason: 'changed plans' });
    expect(cancelled.body).toMatchObject({
      booking: { status: 'cancelled' },
      refund: { amount: 5000, status: 'succeeded' },
    });
    expect((await call('POST', `/bookings/${bookingId}/cancel`, paula)).body.error?.code).toBe('INVALID_TRANSITION');
    expect((await call('GET', `/slots/${scheduleId}`, null)).body.schedule).toMatchObject({ status: 'available' });
  });

  it('reschedules, refunds as admin only, and shows the wallet to its doctor and admins only', async () => {
    const { bookingId } = await paidBooking(tom);
    const target = await publish(4);
    const moved = await call('POST', `/bookings/${bookingId}/reschedule`, tom, { newScheduleId: target });
    expect(moved.body.booking).toMatchObject({ scheduleId: target });
    expect((await call('POST', `/bookings/${bookingId}/reschedule`, tom, { newScheduleId: target })).status).toBe(400);
    expect((await call('POST', `/bookings/${bookingId}/refund`, tom, { amount: 100 })).status).toBe(403);
    const refunded = await call('POST', `/bookings/${bookingId}/refund`, admin, { amount: 1000 });
    expect(refunded.body).toMatchObject({ booking: { paymentStatus: 'partially_refunded' }, refund: { amount: 1000 } });
    expect((await call('POST', `/bookings/${bookingId}/refund`, admin, { amount: 999_999 })).body.error?.code).toBe(
      'INVALID_INPUT',
    );
    expect((await call('GET', `/doctors/${DEMO_DOCTORS[0].id}/wallet`, doctor)).status).toBe(200);
    expect((await call('GET', `/doctors/${DEMO_DOCTORS[0].id}/wallet`, admin)).status).toBe(200);
    expect((await call('GET', `/doctors/${DEMO_DOCTORS[0].id}/wallet`, 'doctor:someone-else')).status).toBe(403);
  });
});

describe('example host: webhook and notifications', () => {
  it('refuses forged, unsigned and non-JSON webhooks with 400 and changes nothing', async () => {
    const scheduleId = await publish();
    const booked = await call('POST', '/bookings', paula, { scheduleId });
    const bookingId = (booked.body.booking as { id: string }).id;
    const forged = JSON.stringify({ type: 'payment.succeeded', id: 'evt_x', bookingId, sessionId: null, payment: {} });
    const bad = await call('POST', '/webhooks/payments', null, undefined, forged);
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'INVALID_SIGNATURE' } } });
    const signed = await fetch(`${app.url}/webhooks/payments`, {
      method: 'POST',
      body: forged,
      headers: { 'careslot-test-signature': 't=1700000000,v1=deadbeef' },
    });
    expect(signed.status).toBe(400);
    expect((await call('GET', `/bookings/${bookingId}`, paula)).body.booking).toMatchObject({ status: 'pending' });
  });

  it('streams a notification to the doctor over Server-Sent Events', async () => {
    const controller = new AbortController();
    const response = await fetch(`${app.url}/events?user=${encodeURIComponent(doctor)}`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body?.getReader();
    const received = (async () => {
      let text = '';
      while (!text.includes('appointmentBooking')) {
        const chunk = await reader?.read();
        if (!chunk || chunk.done) break;
        text += new TextDecoder().decode(chunk.value);
      }
      return text;
    })();
    const scheduleId = await publish();
    await call('POST', '/bookings', victor, { scheduleId });
    const text = await received;
    controller.abort();
    expect(text).toContain('event: appointmentBooking');
    expect(text).toContain('Patient Victor Vise booked');
    expect((await fetch(`${app.url}/events`)).status).toBe(401);
  });
});

describe('npm run demo', () => {
  it('walks the whole flow on embedded defaults and exits 0', async () => {
    const root = resolve(import.meta.dirname, '../..');
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', 'examples/express/demo.ts'], {
      cwd: root,
      timeout: 60_000,
    });
    expect(stdout).toContain('demo finished: every step behaved as expected.');
    expect(stdout).not.toContain('✗');
    // The weekly-hours step: rules set over HTTP, four computed slots, one booked and paid, three left.
    expect(stdout).toContain('── 10. The doctor sets weekly hours; Paula books a computed slot and pays');
    expect(stdout).toContain('PUT /doctors/me/availability → 200');
    expect(stdout).toMatch(
      /computed-slots → 4 slots on \d{4}-\d{2}-\d{2}: 15:00 CES?T, 15:30 CES?T, 16:00 CES?T, 16:30 CES?T/,
    );
    expect(stdout).toContain("✓ Paula's computed-slot booking is scheduled/paid");
    expect(stdout).toMatch(/✓ the booked time left the computed list: 15:30 CES?T, 16:00 CES?T, 16:30 CES?T/);
    expect(stdout).toContain("✓ doctor's wallet: 40.00 EUR");
    // Step 7: the quote is shown before the cancellation, and the refund is the quoted one.
    const fullQuote = stdout.indexOf(
      'GET /bookings/:id/cancellation-quote → Cancelling now refunds 50.00 EUR; the practice keeps 0.00 EUR',
    );
    expect(fullQuote).toBeGreaterThan(-1);
    expect(stdout.indexOf('✓ refund 50.00 EUR succeeded')).toBeGreaterThan(fullQuote);
    expect(stdout).toContain('✓ the refund is the quoted one');
    // Step 11: a booking 7–8 h ahead gets its reminder at once, once, and a half refund as quoted.
    expect(stdout).toContain(
      '── 11. Paula books a slot 8 hours ahead: a reminder at once, then half back if she cancels',
    );
    expect(stdout).toMatch(
      /🔔 Paula ← appointmentReminder: Reminder: your appointment is at \d{4}-\d{2}-\d{2} \d{2}:00 \(Europe\/Berlin\)/,
    );
    expect(stdout).toContain('✓ Paula got her appointmentReminder');
    expect(stdout).toContain('✓ the sweep (engine.reconcile()) sends it no second time: remindersSent 0');
    const halfQuote = stdout.indexOf(
      'GET /bookings/:id/cancellation-quote → Cancelling now refunds 25.00 EUR; the practice keeps 25.00 EUR',
    );
    expect(halfQuote).toBeGreaterThan(stdout.indexOf('✓ Paula got her appointmentReminder'));
    expect(stdout.indexOf('✓ refund 25.00 EUR succeeded, as quoted')).toBeGreaterThan(halfQuote);
    // The summary: 50.00 (step 4) − 50.00 (step 7) + 40.00 (step 10) + 25.00 kept (step 11).
    expect(stdout).toMatch(/\d\.\ds {2}doctor's wallet: 65\.00 EUR\n/);
    expect(stdout).toMatch(/notifications delivered: \d+ \(.*Paula ← appointmentReminder/);
  }, 90_000);
});
