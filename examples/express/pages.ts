// The example's two small HTML pages: the booking page and the simulated hosted checkout.
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
  for (const type of ['appointmentBooking', 'newBooking', 'appointmentCancelled', 'paymentRefunded', 'appointmentRescheduled'])
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
