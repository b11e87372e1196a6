// The example host's weekly hours over HTTP: the doctor's form, the patient's computed slots, booking one into checkout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_DOCTORS, DEMO_PATIENTS } from '../../examples/express/demo-users.js';
import { type RunningExample, startExample } from '../../examples/express/start.js';

const doctorId = DEMO_DOCTORS[0].id;
const doctor = `doctor:${doctorId}`;
const paula = `patient:${DEMO_PATIENTS[0].id}`;
const victor = `patient:${DEMO_PATIENTS[1].id}`;
const tom = `patient:${DEMO_PATIENTS[3].id}`;

// Wednesday 24 March 2027, 12:00 UTC: Berlin moves its clocks forward on Sunday the 28th, inside the 7 days listed.
const clock = { now: () => new Date('2027-03-24T12:00:00Z') };

let app: RunningExample;

beforeAll(async () => {
  app = await startExample({ env: {}, overrides: { timers: false, clock } });
});
afterAll(async () => {
  await app?.close();
});

const q = (user: string) => `?user=${encodeURIComponent(user)}`;

/** Posts an HTML form (urlencoded; repeated keys for checkboxes) without following the redirect. */
async function postForm(path: string, fields: [string, string][], accept = 'text/html') {
  const response = await fetch(`${app.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, location: response.headers.get('location'), text: await response.text() };
}

async function page(path: string) {
  const response = await fetch(`${app.url}${path}`);
  return { status: response.status, text: await response.text() };
}

const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d): [string, string] => ['days', d]);

function hoursForm(overrides: Record<string, string | null> = {}, days = EVERY_DAY): [string, string][] {
  const base: Record<string, string | null> = {
    from: '09:00',
    to: '10:00',
    slotMinutes: '30',
    fee: '50.00',
    currency: 'eur',
    timeZone: 'Europe/Berlin',
    ...overrides,
  };
  return [...days, ...Object.entries(base).flatMap(([k, v]): [string, string][] => (v === null ? [] : [[k, v]]))];
}

/** The `data-start` instants of the patient page's rows, in order. */
const listedStarts = (html: string) => [...html.matchAll(/<tr class="slot" data-start="([^"]+)"/g)].map((m) => m[1]);

async function setHours(fields = hoursForm()) {
  const saved = await postForm(`/doctor/hours${q(doctor)}`, fields);
  expect(saved).toMatchObject({ status: 303, location: `/doctor${q(doctor)}` });
}

describe('example host: the doctor sets weekly hours on a form', () => {
  it('saves the form as the rules in force and shows them on the doctor page', async () => {
    const before = await page(`/doctor${q(doctor)}`);
    expect(before.text).toContain('id="no-rules"');

    await setHours(
      hoursForm({ from: '08:30', to: '12:00', slotMinutes: '45', fee: '42.50' }, [
        ['days', 'mon'],
        ['days', 'wed'],
      ]),
    );
    const shown = await page(`/doctor${q(doctor)}`);
    expect(shown.status).toBe(200);
    expect(shown.text).toContain('<td class="days">mon, wed</td><td class="hours">08:30–12:00</td>');
    expect(shown.text).toContain('45-minute slots, 42.50 EUR each, in Europe/Berlin');
    // The form starts from the rules in force.
    expect(shown.text).toContain('value="wed" checked');
    expect(shown.text).not.toContain('value="tue" checked');

    const json = await (await fetch(`${app.url}/doctors/${doctorId}/availability`)).json();
    expect(json.availability.rules).toMatchObject({
      timeZone: 'Europe/Berlin',
      weekly: [{ days: ['mon', 'wed'], from: '08:30', to: '12:00' }],
      slotMinutes: 45,
      fee: { amount: 4250, currency: 'eur' },
    });
  });

  it('answers bad form input with 400 and the field named, on the page and as JSON', async () => {
    const cases: [string, [string, string][]][] = [
      ['days', hoursForm({}, [])],
      ['days', hoursForm({}, [['days', 'someday']])],
      ['from', hoursForm({ from: '25:00' })],
      ['to', hoursForm({ from: '10:00', to: '09:00' })],
      ['slotMinutes', hoursForm({ slotMinutes: 'half an hour' })],
      ['fee', hoursForm({ fee: '-5' })],
      ['currency', hoursForm({ currency: 'euro' })],
      // Caught by the engine, not the form: no window is 90 minutes long.
      ['slotMinutes', hoursForm({ slotMinutes: '90' })],
      ['timeZone', hoursForm({ timeZone: 'Mars/Olympus' })],
    ];
    for (const [field, fields] of cases) {
      const reply = await postForm(`/doctor/hours${q(doctor)}`, fields);
      expect({ field, status: reply.status }).toEqual({ field, status: 400 });
      expect(reply.text).toContain(`data-field="${field}"`);
    }
    const json = await postForm(`/doctor/hours${q(doctor)}`, hoursForm({ from: 'nine' }), 'application/json');
    expect(json.status).toBe(400);
    expect(JSON.parse(json.text)).toMatchObject({ error: { code: 'INVALID_INPUT', details: { field: 'from' } } });
    // The page keeps what was typed, and the rules in force are unchanged.
    const kept = await postForm(`/doctor/hours${q(doctor)}`, hoursForm({ from: '25:00', fee: '61.00' }));
    expect(kept.text).toContain('value="61.00"');
    expect(kept.text).toContain('42.50 EUR each');
  });

  it('lets only a doctor use the doctor page, and offers a user choice without one', async () => {
    expect((await page(`/doctor${q(paula)}`)).status).toBe(403);
    expect((await postForm(`/doctor/hours${q(paula)}`, hoursForm())).status).toBe(403);
    expect((await postForm('/doctor/hours', hoursForm())).status).toBe(401);
    const chooser = await page('/doctor');
    expect(chooser.text).toContain(`value="${doctor}"`);
  });
});

describe('example host: the patient books a computed slot', () => {
  it('lists the next 7 days of computed slots in the doctor’s local time, across the DST change', async () => {
    await setHours();
    const listed = await page(`/patient${q(paula)}`);
    expect(listed.status).toBe(200);
    // 09:00 and 09:30 on 25–31 March: 08:00Z while Berlin is on CET, 07:00Z from Sunday on CEST.
    expect(listedStarts(listed.text)).toEqual(
      ['25', '26', '27', '28', '29', '30', '31'].flatMap((d) => {
        const utc = Number(d) < 28 ? '08' : '07';
        return [`2027-03-${d}T${utc}:00:00.000Z`, `2027-03-${d}T${utc}:30:00.000Z`];
      }),
    );
    expect(listed.text).toContain('<time datetime="2027-03-27T08:00:00.000Z">Sat 27 Mar, 09:00 CET</time>');
    expect(listed.text).toContain('<time datetime="2027-03-28T07:00:00.000Z">Sun 28 Mar, 09:00 CEST</time>');
    expect(listed.text).toContain('50.00 EUR');
    expect(listed.text.match(/class="book-slot"/g)).toHaveLength(14);
  });

  it('books a slot into the payment redirect, takes it off the list, and confirms it on the checkout', async () => {
    await setHours();
    const start = '2027-03-29T07:00:00.000Z';
    const booked = await postForm(`/patient/book${q(paula)}`, [
      ['doctorId', doctorId],
      ['startTime', start],
    ]);
    expect(booked.status).toBe(303);
    expect(booked.location).toMatch(/\/checkout\/cs_test_\w+$/);

    const after = listedStarts((await page(`/patient${q(paula)}`)).text);
    expect(after).toHaveLength(13);
    expect(after).not.toContain(start);

    const checkout = await page(new URL(booked.location as string).pathname);
    expect(checkout.text).toContain('50.00 EUR');
    const paid = await fetch(`${booked.location}/pay`, { method: 'POST', headers: { accept: 'application/json' } });
    expect(await paid.json()).toMatchObject({ outcome: 'confirmed' });
    const [booking] = (await (await fetch(`${app.url}/bookings`, { headers: { 'x-demo-user': paula } })).json())
      .bookings as { scheduleId: string; status: string; paymentStatus: string }[];
    expect(booking).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    // Booking a computed slot made it a slot row like a published one, with the chosen start.
    const slot = (await (await fetch(`${app.url}/slots/${booking?.scheduleId}`)).json()).schedule;
    expect(slot).toMatchObject({ startTime: start, status: 'booked' });

    // Another patient finds the time taken: the page says so instead of redirecting.
    const again = await postForm(`/patient/book${q(tom)}`, [
      ['doctorId', doctorId],
      ['startTime', start],
    ]);
    expect(again.status).toBe(409);
    expect(again.text).toContain('id="error"');
  });

  it('books a free plan straight to the confirmation, and refuses a time the rules do not offer', async () => {
    await setHours();
    const free = await postForm(`/patient/book${q(victor)}`, [
      ['doctorId', doctorId],
      ['startTime', '2027-03-30T07:30:00.000Z'],
    ]);
    expect(free).toMatchObject({ status: 303, location: '/booked' });
    const offHours = await postForm(`/patient/book${q(victor)}`, [
      ['doctorId', doctorId],
      ['startTime', '2027-03-30T15:00:00.000Z'],
    ]);
    expect(offHours.status).toBe(409);
    const noTime = await postForm(`/patient/book${q(victor)}`, [['doctorId', doctorId]]);
    expect(noTime.status).toBe(400);
    expect(noTime.text).toContain('data-field="startTime"');
    expect((await postForm(`/patient/book${q(doctor)}`, [['startTime', '2027-03-30T07:00:00.000Z']])).status).toBe(403);
  });

  it('takes time off from the doctor’s form off the patient’s list, and gives it back when removed', async () => {
    await setHours();
    const before = listedStarts((await page(`/patient${q(paula)}`)).text);
    const added = await postForm(`/doctor/time-off${q(doctor)}`, [
      ['start', '2027-03-31T00:00'],
      ['end', '2027-04-01T00:00'],
      ['reason', 'conference'],
    ]);
    expect(added.status).toBe(303);
    const doctorView = await page(`/doctor${q(doctor)}`);
    expect(doctorView.text).toContain('Wed 31 Mar, 00:00 CEST – Thu 1 Apr, 00:00 CEST');
    expect(doctorView.text).toContain('conference');
    const during = listedStarts((await page(`/patient${q(paula)}`)).text);
    expect(during).toEqual(before.filter((s) => !s?.startsWith('2027-03-31')));

    const bad = await postForm(`/doctor/time-off${q(doctor)}`, [
      ['start', '2027-04-02T10:00'],
      ['end', 'soon'],
    ]);
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('data-field="end"');

    const id = doctorView.text.match(/\/doctor\/time-off\/([^/]+)\/remove/)?.[1];
    expect((await postForm(`/doctor/time-off/${id}/remove${q(doctor)}`, [])).status).toBe(303);
    expect(listedStarts((await page(`/patient${q(paula)}`)).text)).toEqual(before);
    expect((await postForm(`/doctor/time-off/${id}/remove${q('doctor:someone-else')}`, [])).status).toBe(404);
  });

  it('serves the same flow as JSON: rules, computed slots, and booking by doctor and start', async () => {
    const headers = (user: string) => ({ 'content-type': 'application/json', 'x-demo-user': user });
    const rules = {
      timeZone: 'Europe/Berlin',
      weekly: [{ days: ['thu'], from: '14:00', to: '15:00' }],
      slotMinutes: 60,
      fee: { amount: 3000, currency: 'eur' },
    };
    const refused = await fetch(`${app.url}/doctors/me/availability`, {
      method: 'PUT',
      headers: headers(paula),
      body: JSON.stringify(rules),
    });
    expect(refused.status).toBe(403);
    const set = await fetch(`${app.url}/doctors/me/availability`, {
      method: 'PUT',
      headers: headers(doctor),
      body: JSON.stringify(rules),
    });
    expect(set.status).toBe(200);
    const found = await (await fetch(`${app.url}/doctors/${doctorId}/computed-slots`)).json();
    expect(found).toMatchObject({
      slots: [{ start: '2027-03-25T13:00:00.000Z', timeZone: 'Europe/Berlin', fee: { amount: 3000 } }],
      nextCursor: null,
    });
    const booked = await fetch(`${app.url}/bookings`, {
      method: 'POST',
      headers: headers(paula),
      body: JSON.stringify({ doctorId, startTime: found.slots[0].start }),
    });
    expect(booked.status).toBe(201);
    expect(await booked.json()).toMatchObject({ booking: { status: 'pending' }, paymentUrl: expect.any(String) });
    expect((await (await fetch(`${app.url}/doctors/${doctorId}/computed-slots`)).json()).slots).toEqual([]);
    const tooLong = await fetch(`${app.url}/doctors/${doctorId}/computed-slots?to=2027-12-31T00:00:00Z`);
    expect(tooLong.status).toBe(400);
    expect((await tooLong.json()).error.details.field).toBe('to');

    // Time off and clearing the rules, as JSON.
    const off = await fetch(`${app.url}/doctors/me/time-off`, {
      method: 'POST',
      headers: headers(doctor),
      body: JSON.stringify({ start: '2027-04-01T00:00:00Z', end: '2027-04-02T00:00:00Z', reason: 'holiday' }),
    });
    expect(off.status).toBe(201);
    const { timeOff } = await off.json();
    const listed = await (await fetch(`${app.url}/doctors/${doctorId}/time-off`)).json();
    expect(listed.timeOff).toEqual([expect.objectContaining({ id: timeOff.id, reason: 'holiday' })]);
    const foreign = await fetch(`${app.url}/doctors/me/time-off/${timeOff.id}`, {
      method: 'DELETE',
      headers: headers('doctor:someone-else'),
    });
    expect(foreign.status).toBe(404);
    const removed = await fetch(`${app.url}/doctors/me/time-off/${timeOff.id}`, {
      method: 'DELETE',
      headers: headers(doctor),
    });
    expect(removed.status).toBe(200);
    const cleared = await fetch(`${app.url}/doctors/me/availability`, { method: 'DELETE', headers: headers(doctor) });
    expect(await cleared.json()).toEqual({ ended: 1 });
    expect((await (await fetch(`${app.url}/doctors/${doctorId}/availability`)).json()).availability).toBeNull();
  });
});
