// `npm run demo`: starts the example on embedded defaults and walks the whole flow over HTTP, printing a timeline.
import type { CancellationQuote } from 'careslot';
import { DateTime } from 'luxon';
import { DEMO_ADMIN, DEMO_DOCTORS, DEMO_PATIENTS } from './demo-users.js';
import { localTime, quoteText } from './pages.js';
import { startExample } from './start.js';

const HOLD_SECONDS = 3;
const doctor = DEMO_DOCTORS[0];
const [paula, victor, nora, tom] = DEMO_PATIENTS;
const as = {
  doctor: `doctor:${doctor.id}`,
  admin: `admin:${DEMO_ADMIN.id}`,
  paula: `patient:${paula.id}`,
  victor: `patient:${victor.id}`,
  nora: `patient:${nora.id}`,
  tom: `patient:${tom.id}`,
};

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
const say = (line: string) => console.log(`${elapsed()}  ${line}`);
const section = (title: string) => console.log(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`);
const failures: string[] = [];
function expectThat(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
  say(`${ok ? '✓' : '✗'} ${what}`);
}

// Everything the demo prints goes through HTTP, exactly as a client of the host would see it.
const running = await startExample({
  env: {},
  overrides: { engine: { holdMinutes: HOLD_SECONDS / 60 } },
});
const { url } = running;

interface Json {
  [key: string]: unknown;
}
async function call(
  method: string,
  path: string,
  user: string | null,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(user ? { 'x-demo-user': user } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? (JSON.parse(text) as Json) : { html: text } };
}

// Live notifications over Server-Sent Events, for the doctor, the admin and every patient.
const notifications: string[] = [];
const streams = new AbortController();
async function subscribe(user: string, label: string): Promise<void> {
  const response = await fetch(`${url}/events?user=${encodeURIComponent(user)}`, { signal: streams.signal });
  const reader = response.body?.getReader();
  if (!reader) return;
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data) {
            const n = JSON.parse(data.slice(6)) as { type: string; message: string };
            notifications.push(`${label} ← ${n.type}`);
            say(`🔔 ${label} ← ${n.type}: ${n.message}`);
          }
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted at the end of the demo
    }
  })();
}

const booking = async (id: string, user = as.admin) =>
  (await call('GET', `/bookings/${id}`, user)).body.booking as Json;
const slot = async (id: string) => (await call('GET', `/slots/${id}`, null)).body.schedule as Json;
const wallet = async () => {
  const w = (await call('GET', `/doctors/${doctor.id}/wallet`, as.doctor)).body.wallet as {
    balances: Record<string, number>;
  };
  return (w.balances.eur ?? 0) / 100;
};
const quote = async (id: string, user: string) =>
  (await call('GET', `/bookings/${id}/cancellation-quote`, user)).body.quote as unknown as CancellationQuote;
const waitFor = async (what: () => Promise<boolean>, ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

try {
  console.log(
    `careslot demo — example host on ${url} (embedded defaults: memory store, in-process jobs, local test checkout)`,
  );
  console.log(`hold time shortened to ${HOLD_SECONDS}s for the demo (default 15 minutes)`);
  await Promise.all([
    subscribe(as.doctor, 'doctor'),
    subscribe(as.admin, 'admin'),
    subscribe(as.paula, 'Paula'),
    subscribe(as.victor, 'Victor'),
    subscribe(as.tom, 'Tom'),
  ]);

  section('1. The doctor publishes five slots the day after tomorrow (Europe/Berlin)');
  const day = DateTime.now().setZone(doctor.timeZone).plus({ days: 2 }).startOf('day');
  const slots: string[] = [];
  for (const hour of [9, 10, 11, 12, 13]) {
    const start = day.set({ hour });
    const { status, body } = await call('POST', '/doctors/me/slots', as.doctor, {
      startTime: start.toISO(),
      endTime: start.plus({ minutes: 30 }).toISO(),
      fee: { amount: 5000, currency: 'eur' },
      timeZone: doctor.timeZone,
    });
    const schedule = body.schedule as Json;
    slots.push(schedule.id as string);
    say(`POST /doctors/me/slots → ${status}  ${start.toFormat('HH:mm')} local, 50.00 EUR, ${schedule.status}`);
  }
  const [slotA, slotB, slotC, slotD, slotE] = slots as [string, string, string, string, string];

  section('2. Nora has no subscription');
  const refused = await call('POST', '/bookings', as.nora, { scheduleId: slotA });
  expectThat(
    refused.status === 403,
    `Nora is refused: ${refused.status} ${JSON.stringify((refused.body.error as Json)?.message)}`,
  );

  section("3. Victor (VISE, already Dr. Lovelace's patient) books for free");
  const free = await call('POST', '/bookings', as.victor, { scheduleId: slotA });
  const freeBooking = free.body.booking as Json;
  expectThat(
    free.status === 201 && freeBooking.status === 'scheduled',
    `09:00 booked at once: booking ${freeBooking.status}, no payment page`,
  );
  expectThat((await slot(slotA)).status === 'booked', '09:00 slot is booked');

  section('4. Paula (standard) books and pays on the checkout page');
  const paid = await call('POST', '/bookings', as.paula, { scheduleId: slotB });
  const paidBooking = paid.body.booking as Json;
  say(`POST /bookings → ${paid.status}  booking ${paidBooking.status}, slot held; pay at ${paid.body.paymentUrl}`);
  expectThat((await slot(slotB)).status === 'pending', '10:00 slot is held (pending) while Paula pays');
  const page = await fetch(paid.body.paymentUrl as string);
  say(
    `GET checkout page → ${page.status} (${(await page.text()).includes('Pay') ? 'Pay / Decline buttons' : 'no buttons'})`,
  );
  const sessionPath = new URL(paid.body.paymentUrl as string).pathname;
  const payment = await call('POST', `${sessionPath}/pay`, null);
  say(`POST ${sessionPath}/pay → the provider sends a signed webhook → ${payment.body.outcome}`);
  const afterPay = await booking(paidBooking.id as string);
  expectThat(
    afterPay.status === 'scheduled' && afterPay.paymentStatus === 'paid',
    `Paula's booking is ${afterPay.status}/${afterPay.paymentStatus}`,
  );
  expectThat((await wallet()) === 50, `doctor's wallet: ${(await wallet()).toFixed(2)} EUR`);

  section(`5. Tom (freeTrial) books 11:00 and walks away; the ${HOLD_SECONDS}s hold runs out`);
  const walked = await call('POST', '/bookings', as.tom, { scheduleId: slotC });
  const walkedBooking = walked.body.booking as Json;
  say(`POST /bookings → ${walked.status}  booking ${walkedBooking.status}, hold until ${walkedBooking.holdExpiresAt}`);
  const released = await waitFor(async () => (await slot(slotC)).status === 'available', (HOLD_SECONDS + 5) * 1000);
  const timedOut = await booking(walkedBooking.id as string);
  const closedPage = await (await fetch(walked.body.paymentUrl as string)).text();
  expectThat(
    closedPage.includes('<b id="status">expired</b>'),
    "Tom's checkout page was expired by careslot (the provider keeps it open 30 min)",
  );
  expectThat(released, '11:00 slot is available again');
  expectThat(
    timedOut.status === 'cancelled' && timedOut.cancelReason === 'payment_timeout',
    `Tom's booking: ${timedOut.status} (${timedOut.cancelReason})`,
  );

  section('6. Paula books 12:00; her card is declined, then the payment fails for good');
  const declined = await call('POST', '/bookings', as.paula, { scheduleId: slotD });
  const declinedBooking = declined.body.booking as Json;
  const declinedPath = new URL(declined.body.paymentUrl as string).pathname;
  await call('POST', `${declinedPath}/decline`, null);
  expectThat(
    (await booking(declinedBooking.id as string)).status === 'pending',
    'a declined card is not final: still pending, Paula may retry',
  );
  const failed = await call('POST', `${declinedPath}/fail`, null);
  say(`POST ${declinedPath}/fail → webhook → ${failed.body.outcome}`);
  const afterFail = await booking(declinedBooking.id as string);
  expectThat(
    afterFail.status === 'cancelled' && afterFail.paymentStatus === 'failed',
    `booking ${afterFail.status}/${afterFail.paymentStatus}`,
  );
  expectThat((await slot(slotD)).status === 'available', '12:00 slot is available again');

  section('7. Paula cancels her paid 10:00 booking (more than 24 h ahead: full refund)');
  const fullQuote = await quote(paidBooking.id as string, as.paula);
  say(`GET /bookings/:id/cancellation-quote → ${quoteText(fullQuote)}`);
  const cancelled = await call('POST', `/bookings/${paidBooking.id}/cancel`, as.paula, { reason: 'feeling better' });
  const refund = cancelled.body.refund as Json | null;
  expectThat(
    cancelled.status === 200 && refund?.status === 'succeeded',
    `refund ${((refund?.amount as number) / 100).toFixed(2)} EUR ${refund?.status}`,
  );
  expectThat(refund?.amount === fullQuote.refund.amount, 'the refund is the quoted one');
  expectThat((await slot(slotB)).status === 'available', '10:00 slot is available again');
  expectThat((await wallet()) === 0, `doctor's wallet: ${(await wallet()).toFixed(2)} EUR`);

  section('8. Victor moves his 09:00 booking to 13:00');
  const moved = await call('POST', `/bookings/${freeBooking.id}/reschedule`, as.victor, { newScheduleId: slotE });
  expectThat(
    moved.status === 200 && (moved.body.booking as Json).scheduleId === slotE,
    'booking moved; 09:00 free again, 13:00 booked',
  );

  section('9. Bad input gets clear errors');
  for (const [what, response] of [
    ['unknown slot', await call('POST', '/bookings', as.paula, { scheduleId: '65d0000000000000000000ff' })],
    ['operator object as id', await call('POST', '/bookings', as.paula, { scheduleId: { $gt: '' } })],
    ['stranger cancels', await call('POST', `/bookings/${freeBooking.id}/cancel`, as.tom)],
    ['forged webhook', await call('POST', '/webhooks/payments', null, { type: 'payment.succeeded' })],
  ] as const) {
    const error = response.body.error as Json;
    say(`${what.padEnd(22)} → ${response.status} ${error?.code}: ${error?.message}`);
  }

  section('10. The doctor sets weekly hours; Paula books a computed slot and pays');
  const hours = {
    timeZone: doctor.timeZone,
    weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '15:00', to: '17:00' }],
    slotMinutes: 30,
    fee: { amount: 4000, currency: 'eur' },
    // Set, not inherited: the default is the engine's notice, here the demo's fractional 3 s hold, which rules refuse.
    minNoticeMinutes: 60,
  };
  const setHours = await call('PUT', '/doctors/me/availability', as.doctor, hours);
  say(
    `PUT /doctors/me/availability → ${setHours.status}  every day 15:00–17:00 ${doctor.timeZone}, 30-minute slots, 40.00 EUR, 1 h notice`,
  );
  // Three days ahead: a day with no published slots, far enough for any notice.
  const hoursDay = day.plus({ days: 1 });
  const computedPath = `/doctors/${doctor.id}/computed-slots?from=${encodeURIComponent(hoursDay.toISO() as string)}&to=${encodeURIComponent(hoursDay.plus({ days: 1 }).toISO() as string)}`;
  type Offered = { start: string; timeZone: string };
  const offered = async () => (await call('GET', computedPath, null)).body.slots as Offered[];
  const listed = (list: Offered[]) =>
    list.map((s) => localTime(new Date(s.start), s.timeZone).split(', ')[1]).join(', ');
  const before = await offered();
  say(
    `GET /doctors/:id/computed-slots → ${before.length} slots on ${hoursDay.toFormat('yyyy-MM-dd')}: ${listed(before)}`,
  );
  const first = before[0] as Offered;
  const computed = await call('POST', '/bookings', as.paula, { doctorId: doctor.id, startTime: first.start });
  const computedBooking = computed.body.booking as Json;
  say(
    `POST /bookings {doctorId, startTime} → ${computed.status}  booking ${computedBooking.status}; pay at ${computed.body.paymentUrl}`,
  );
  const computedPay = await call('POST', `${new URL(computed.body.paymentUrl as string).pathname}/pay`, null);
  say(`POST …/pay → webhook → ${computedPay.body.outcome}`);
  const afterComputed = await booking(computedBooking.id as string);
  expectThat(
    afterComputed.status === 'scheduled' && afterComputed.paymentStatus === 'paid',
    `Paula's computed-slot booking is ${afterComputed.status}/${afterComputed.paymentStatus}`,
  );
  const remaining = await offered();
  expectThat(
    before.length === 4 && remaining.length === 3 && !remaining.some((s) => s.start === first.start),
    `the booked time left the computed list: ${listed(remaining)}`,
  );
  expectThat((await wallet()) === 40, `doctor's wallet: ${(await wallet()).toFixed(2)} EUR`);

  section('11. Paula books a slot 8 hours ahead: a reminder at once, then half back if she cancels');
  // On the hour, 7 to 8 hours ahead: inside the 6 h – 24 h tier (50%), past the day-before reminder's time.
  const soonStart = DateTime.now().setZone(doctor.timeZone).plus({ hours: 8 }).startOf('hour');
  const soonSlot = (
    await call('POST', '/doctors/me/slots', as.doctor, {
      startTime: soonStart.toISO(),
      endTime: soonStart.plus({ minutes: 30 }).toISO(),
      fee: { amount: 5000, currency: 'eur' },
      timeZone: doctor.timeZone,
    })
  ).body.schedule as Json;
  const late = await call('POST', '/bookings', as.paula, { scheduleId: soonSlot.id });
  const lateBooking = late.body.booking as Json;
  const latePay = await call('POST', `${new URL(late.body.paymentUrl as string).pathname}/pay`, null);
  say(
    `${localTime(soonStart.toJSDate(), doctor.timeZone).split(', ')[1]} booked and paid (${latePay.body.outcome}): the day-before email's time has passed, so it goes out now (lateReminder: 'sendNow')`,
  );
  expectThat(
    await waitFor(async () => notifications.includes('Paula ← appointmentReminder'), 5000),
    'Paula got her appointmentReminder',
  );
  const swept = await running.careslot.engine.reconcile();
  expectThat(
    swept.remindersSent === 0,
    `the sweep (engine.reconcile()) sends it no second time: remindersSent ${swept.remindersSent}`,
  );
  const halfQuote = await quote(lateBooking.id as string, as.paula);
  say(`GET /bookings/:id/cancellation-quote → ${quoteText(halfQuote)}`);
  const halfCancel = await call('POST', `/bookings/${lateBooking.id}/cancel`, as.paula, { reason: 'clash' });
  const halfRefund = halfCancel.body.refund as Json | null;
  expectThat(
    halfCancel.status === 200 && halfRefund?.amount === halfQuote.refund.amount && halfQuote.refund.amount === 2500,
    `refund ${((halfRefund?.amount as number) / 100).toFixed(2)} EUR ${halfRefund?.status}, as quoted`,
  );

  await new Promise((r) => setTimeout(r, 200)); // let the last notifications arrive
  section('Timeline summary');
  for (const id of slots) {
    const s = await slot(id);
    const local = DateTime.fromISO(s.startTime as string)
      .setZone(doctor.timeZone)
      .toFormat('HH:mm');
    say(`slot ${local}  ${String(s.status).padEnd(9)} ${s.bookedBy ? `booked by ${s.bookedBy}` : ''}`);
  }
  const all = (await call('GET', '/bookings', as.admin)).body.bookings as Json[];
  for (const b of all) {
    const who = DEMO_PATIENTS.find((p) => p.id === b.patientId)?.name ?? b.patientId;
    say(
      `booking ${String(who).padEnd(15)} ${String(b.status).padEnd(10)} ${String(b.paymentStatus).padEnd(9)} ${b.cancelReason ?? ''}`,
    );
  }
  say(`doctor's wallet: ${(await wallet()).toFixed(2)} EUR`);
  say(`notifications delivered: ${notifications.length} (${[...new Set(notifications)].join(', ')})`);
  expectThat(notifications.length > 0, 'notifications reached the doctor, the admin and the patients over SSE');
} finally {
  streams.abort();
  await running.close();
}

if (failures.length > 0) {
  console.error(`\ndemo finished with ${failures.length} unexpected result(s):\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('\ndemo finished: every step behaved as expected.');
process.exit(0);
