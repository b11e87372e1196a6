// The example's small HTML pages: the booking page, the doctor's hours, the patient's computed slots, the simulated checkout.
import {
  type AvailabilityRecord,
  type Booking,
  type CancellationQuote,
  type ComputedSlot,
  type TimeOff,
  WEEKDAYS,
} from 'careslot';
import { DEMO_ADMIN, DEMO_DOCTORS, DEMO_PATIENTS } from './demo-users.js';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const style = `body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2433}
button{font:inherit;padding:.35rem .8rem;margin:.15rem;border-radius:.4rem;border:1px solid #6b7a99;background:#eef2fb;cursor:pointer}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #dde3ef}
#log{font:13px ui-monospace,monospace;background:#f6f8fc;padding:.5rem;min-height:4rem;white-space:pre-wrap}`;

/** Doctor's slots, a book button per slot, and live notifications for the chosen user. */
export function homePage(): string {
  const doctor = DEMO_DOCTORS[0];
  const users = [
    ...DEMO_PATIENTS.map((p) => ({ value: `patient:${p.id}`, label: `${p.name} (${p.plan})` })),
    { value: `doctor:${doctor.id}`, label: `${doctor.name} (doctor)` },
    { value: `admin:${DEMO_ADMIN.id}`, label: 'Admin' },
  ];
  const options = users.map((u) => `<option value="${escapeHtml(u.value)}">${escapeHtml(u.label)}</option>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>careslot example</title><style>${style}</style></head>
<body><h1>careslot example clinic</h1>
<p>Acting as <select id="user">${options}</select> <small>(demo authentication: the part a host replaces)</small></p>
<p>Weekly hours instead of single slots: <a href="/doctor?user=doctor:${escapeHtml(doctor.id)}">the doctor's hours</a> · <a href="/patient">book a computed slot</a></p>
<h2>${escapeHtml(doctor.name)}'s slots</h2>
<p><button id="publish">Publish a slot tomorrow</button> <small>(as the doctor)</small></p>
<table><thead><tr><th>Starts</th><th>Fee</th><th>Status</th><th></th></tr></thead><tbody id="slots"></tbody></table>
<h2>Live notifications</h2><div id="log"></div>
<script>
const doctorId = ${JSON.stringify(doctor.id)};
const $ = (id) => document.getElementById(id);
const user = () => $('user').value;
const api = (path, init = {}) => fetch(path, { ...init, headers: { 'content-type': 'application/json', 'x-demo-user': init.as ?? user() } })
  .then(async (r) => ({ status: r.status, body: await r.json() }));
function log(line) { $('log').textContent = new Date().toLocaleTimeString() + '  ' + line + '\\n' + $('log').textContent; }
async function refresh() {
  const { body } = await api('/slots?doctorId=' + doctorId);
  $('slots').innerHTML = '';
  for (const s of body.schedules) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td>' + new Date(s.startTime).toLocaleString() + '</td><td>' + (s.fee.amount / 100).toFixed(2) + ' ' + s.fee.currency.toUpperCase() + '</td><td class="status">' + s.status + '</td><td></td>';
    if (s.status === 'available') {
      const b = document.createElement('button'); b.textContent = 'Book'; b.className = 'book';
      b.onclick = async () => {
        const r = await api('/bookings', { method: 'POST', body: JSON.stringify({ scheduleId: s.id }) });
        if (r.body.paymentUrl) { log('pending: pay at ' + r.body.paymentUrl); location.href = r.body.paymentUrl; }
        else log(r.status + ' ' + (r.body.booking ? 'booking ' + r.body.booking.status : r.body.error.code + ': ' + r.body.error.message));
        refresh();
      };
      tr.lastChild.appendChild(b);
    }
    $('slots').appendChild(tr);
  }
}
$('publish').onclick = async () => {
  const start = new Date(Date.now() + 86400000); start.setMinutes(0, 0, 0);
  const end = new Date(start.getTime() + 1800000);
  const r = await api('/doctors/me/slots', { as: 'doctor:' + doctorId, method: 'POST',
    body: JSON.stringify({ startTime: start.toISOString(), endTime: end.toISOString(), fee: { amount: 5000, currency: 'eur' }, timeZone: 'Europe/Berlin' }) });
  log(r.status === 201 ? 'slot published' : r.body.error.message); refresh();
};
let source;
function listen() {
  if (source) source.close();
  source = new EventSource('/events?user=' + encodeURIComponent(user()));
  source.onmessage = source.onerror = null;
  for (const type of ['appointmentBooking', 'newBooking', 'appointmentCancelled', 'paymentRefunded', 'appointmentRescheduled', 'appointmentReminder', 'appointmentNoShow'])
    source.addEventListener(type, (e) => log(type + ': ' + JSON.parse(e.data).message));
}
$('user').onchange = () => { listen(); refresh(); };
listen(); refresh(); setInterval(refresh, 3000);
</script></body></html>`;
}

/** The simulated hosted checkout (embedded mode only): Pay, Decline (card declined, may retry), Fail. */
export function checkoutPage(sessionId: string, amount: string, status: string, declined: number): string {
  const id = escapeHtml(sessionId);
  const form = (action: string, label: string) =>
    `<form method="post" action="/checkout/${id}/${action}" style="display:inline"><button id="${action}">${label}</button></form>`;
  const actions =
    status === 'open'
      ? `${form('pay', 'Pay')} ${form('decline', 'Decline card')} ${form('fail', 'Payment fails for good')}`
      : `<p>This checkout is <b id="status">${escapeHtml(status)}</b>.</p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Checkout ${id}</title><style>${style}</style></head>
<body><h1>Test checkout</h1><p>A simulated hosted payment page (careslot's TestPaymentGateway).</p>
<p>Amount due: <b id="amount">${escapeHtml(amount)}</b></p>${declined > 0 ? `<p id="declined">Card declined ${declined}×; you may try again.</p>` : ''}
${actions}<p><a href="/">Back to the clinic</a></p></body></html>`;
}

/** Who a doctor page is for: a demo doctor, or any doctor id with a default zone. */
export interface PageDoctor {
  id: string;
  name: string;
  timeZone: string;
}

/** What a form page reports back: which field to fix (its message names it too), or what went wrong. */
export interface PageNotice {
  field?: string;
  message: string;
}

/**
 * Local wall-clock time in the slot's own zone, so DST shifts show as the doctor's hours do
 * (09:00 CET before the change, 09:00 CEST after), not in the server's or the browser's zone.
 */
export function localTime(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'short',
  }).format(at);
}

const money = (fee: { amount: number; currency: string }) =>
  `${(fee.amount / 100).toFixed(2)} ${fee.currency.toUpperCase()}`;

const head = (title: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${style}</style></head>`;

const noticeHtml = (notice: PageNotice | undefined) =>
  notice
    ? `<p id="error" role="alert"${notice.field ? ` data-field="${escapeHtml(notice.field)}"` : ''} style="color:#a4161a">${escapeHtml(notice.message)}</p>`
    : '';

/** Picks a demo user when a form page is opened without `?user=` (demo authentication). */
export function chooseUserPage(path: string, title: string, users: { value: string; label: string }[]): string {
  const options = users.map((u) => `<option value="${escapeHtml(u.value)}">${escapeHtml(u.label)}</option>`).join('');
  return `${head(title)}<body><h1>${escapeHtml(title)}</h1>
<form method="get" action="${escapeHtml(path)}"><label>Acting as <select name="user">${options}</select></label> <button>Continue</button></form>
<p><small>(demo authentication: the part a host replaces)</small></p><p><a href="/">Back to the clinic</a></p></body></html>`;
}

export interface DoctorPageInput {
  doctor: PageDoctor;
  /** The `role:id` the page's forms post as. */
  user: string;
  availability: AvailabilityRecord | null;
  timeOff: readonly TimeOff[];
  notice?: PageNotice;
  /** The submitted form, shown again after an error. */
  form?: Record<string, unknown>;
}

/** The doctor's weekly hours (a form and the rules in force) and time off. */
export function doctorPage(input: DoctorPageInput): string {
  const { doctor, availability, timeOff } = input;
  const q = `?user=${encodeURIComponent(input.user)}`;
  const rules = availability?.rules;
  const window = rules?.weekly[0];
  const sent = (field: string) => {
    const value = input.form?.[field];
    return typeof value === 'string' ? value : undefined;
  };
  const sentDays = input.form ? ([] as unknown[]).concat(input.form.days ?? []) : undefined;
  const days = WEEKDAYS.map((day) => {
    const checked = sentDays
      ? sentDays.includes(day)
      : window
        ? window.days.includes(day)
        : !['sat', 'sun'].includes(day);
    return `<label><input type="checkbox" name="days" value="${day}"${checked ? ' checked' : ''}> ${day}</label>`;
  }).join(' ');
  const value = (field: string, fallback: string) => escapeHtml(sent(field) ?? fallback);
  const current = rules
    ? `<table id="rules"><tbody>${rules.weekly
        .map(
          (w) =>
            `<tr class="rule"><td class="days">${w.days.join(', ')}</td><td class="hours">${escapeHtml(w.from)}–${escapeHtml(w.to)}</td></tr>`,
        )
        .join('')}</tbody></table>
<p id="rule-details">${rules.slotMinutes}-minute slots, ${escapeHtml(money(rules.fee))} each, in ${escapeHtml(rules.timeZone)}; in force since ${escapeHtml(
        localTime(availability.effectiveFrom, rules.timeZone),
      )}</p>`
    : '<p id="no-rules">No weekly hours yet: patients see no computed slots.</p>';
  const offRows = timeOff
    .map(
      (t) =>
        `<tr class="time-off"><td>${escapeHtml(localTime(t.start, doctor.timeZone))} – ${escapeHtml(localTime(t.end, doctor.timeZone))}</td><td>${escapeHtml(t.reason ?? '')}</td>
<td><form method="post" action="/doctor/time-off/${encodeURIComponent(t.id)}/remove${q}"><button>Remove</button></form></td></tr>`,
    )
    .join('');
  return `${head(`${doctor.name}: weekly hours`)}<body><h1>${escapeHtml(doctor.name)}: weekly hours</h1>
${noticeHtml(input.notice)}
<h2>Current rules</h2>${current}
<h2>Set weekly hours</h2>
<form id="hours" method="post" action="/doctor/hours${q}">
<p>${days}</p>
<p><label>From <input name="from" type="time" value="${value('from', window?.from ?? '09:00')}"></label>
<label>to <input name="to" type="time" value="${value('to', window?.to ?? '17:00')}"></label>
<small>(${escapeHtml(doctor.timeZone)})</small></p>
<p><label>Slot length <input name="slotMinutes" type="number" min="5" max="480" value="${value('slotMinutes', String(rules?.slotMinutes ?? 30))}"> minutes</label>
<label>Fee <input name="fee" inputmode="decimal" value="${value('fee', rules ? (rules.fee.amount / 100).toFixed(2) : '50.00')}"></label>
<input name="currency" type="hidden" value="${escapeHtml(rules?.fee.currency ?? 'eur')}">
<input name="timeZone" type="hidden" value="${escapeHtml(doctor.timeZone)}"></p>
<p><button id="save-hours">Save weekly hours</button></p></form>
<h2>Time off</h2>
<table><tbody id="time-off">${offRows || '<tr><td>None planned.</td></tr>'}</tbody></table>
<form id="time-off-form" method="post" action="/doctor/time-off${q}">
<p><label>From <input name="start" type="datetime-local" value="${value('start', '')}"></label>
<label>until <input name="end" type="datetime-local" value="${value('end', '')}"></label>
<label>Reason <input name="reason" value="${value('reason', '')}"></label></p>
<p><label><input type="checkbox" name="cancelBookings"> cancel and refund bookings in the period</label> <button id="add-time-off">Add time off</button></p></form>
<p><a href="/patient">What patients see</a> · <a href="/">Back to the clinic</a></p></body></html>`;
}

/** One of the patient's upcoming bookings, with what cancelling it now would give back. */
export interface PatientBooking {
  booking: Booking;
  quote: CancellationQuote;
}

export interface PatientPageInput {
  doctor: PageDoctor;
  user: string;
  slots: readonly ComputedSlot[];
  /** Days ahead the list covers. */
  days: number;
  /** The patient's upcoming bookings, each with its cancellation quote. @defaultValue none */
  bookings?: readonly PatientBooking[];
  notice?: PageNotice;
}

/** The quote in words, as the patient reads it before confirming. */
export function quoteText(quote: CancellationQuote): string {
  if (!quote.allowed) {
    return quote.reason === 'patient_cutoff'
      ? `Within ${quote.cutoffHours} hours of the start only the practice can cancel`
      : 'This booking can no longer be cancelled';
  }
  if (quote.reason === 'unpaid_hold') return 'Nothing is paid yet: cancelling releases the slot';
  if (quote.reason === 'nothing_paid') return 'Nothing was paid: cancelling refunds nothing';
  return `Cancelling now refunds ${money(quote.refund)}; the practice keeps ${money(quote.kept)}`;
}

const bookingRows = (bookings: readonly PatientBooking[], q: string) =>
  bookings
    .map(({ booking, quote }) => {
      const id = escapeHtml(booking.id);
      const confirm = quote.allowed
        ? `<form method="post" action="/patient/bookings/${encodeURIComponent(booking.id)}/cancel${q}"><button class="cancel-booking">Cancel booking</button></form>`
        : '';
      return `<tr class="booking" data-booking="${id}"><td><time datetime="${booking.slotStart.toISOString()}">${escapeHtml(localTime(booking.slotStart, booking.timeZone))}</time></td>
<td class="booking-status">${escapeHtml(booking.status)}</td><td><p class="quote">${escapeHtml(quoteText(quote))}</p>${confirm}</td></tr>`;
    })
    .join('');

/** The computed slots of the next days, in the slot's own zone, with a book button each; the patient's bookings, each quote before its cancel button. */
export function patientPage(input: PatientPageInput): string {
  const { doctor, slots } = input;
  const q = `?user=${encodeURIComponent(input.user)}`;
  const rows = slots
    .map((s) => {
      const iso = s.start.toISOString();
      return `<tr class="slot" data-start="${iso}"><td><time datetime="${iso}">${escapeHtml(localTime(s.start, s.timeZone))}</time></td>
<td>${escapeHtml(money(s.fee))}</td><td><form method="post" action="/patient/book${q}">
<input type="hidden" name="doctorId" value="${escapeHtml(s.doctorId)}"><input type="hidden" name="startTime" value="${iso}"><button class="book-slot">Book</button></form></td></tr>`;
    })
    .join('');
  return `${head(`Book ${doctor.name}`)}<body><h1>Book ${escapeHtml(doctor.name)}</h1>
<p>Acting as <b id="acting">${escapeHtml(input.user)}</b> · <a href="/patient">switch</a></p>
${noticeHtml(input.notice)}
<h2>Open slots, next ${input.days} days</h2>
<table><thead><tr><th>Starts (doctor's local time)</th><th>Fee</th><th></th></tr></thead>
<tbody id="computed-slots">${rows || '<tr id="no-slots"><td colspan="3">No open slots in the next days.</td></tr>'}</tbody></table>
<h2>Your bookings</h2>
<table><thead><tr><th>Starts</th><th>Status</th><th></th></tr></thead>
<tbody id="my-bookings">${bookingRows(input.bookings ?? [], q) || '<tr id="no-bookings"><td colspan="3">No upcoming bookings.</td></tr>'}</tbody></table>
<p><a href="/">Back to the clinic</a></p></body></html>`;
}
