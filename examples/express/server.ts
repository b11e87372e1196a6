// `npm run example`: runs the example host until Ctrl-C. Embedded defaults unless the real-service variables are set.
import { DEMO_ADMIN, DEMO_DOCTORS, DEMO_PATIENTS } from './demo-users.js';
import { startExample } from './start.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const running = await startExample({ port, host, env: process.env });
const { careslot, url } = running;

console.log(`careslot example (${careslot.mode} mode) listening on ${url}`);
for (const [part, what] of Object.entries(careslot.parts)) console.log(`  ${part.padEnd(9)} ${what}`);
console.log(`
  ${url}/                      booking page (pick a demo user, book, pay on the local checkout)
  ${url}/slots                 GET slots        POST ${url}/doctors/me/slots (doctor)
  ${url}/doctor                weekly hours and time off (doctor)   PUT /doctors/me/availability
  ${url}/patient               computed slots of the next 7 days, book one; your bookings, quote, cancel   GET /doctors/:id/computed-slots
  ${url}/bookings              POST book (patient), GET yours; /bookings/:id/cancel, /reschedule, /refund (admin)
  ${url}/bookings/:id/cancellation-quote   GET what cancelling now refunds   POST /no-show, /no-show/undo (doctor, admin)
  ${url}/events?user=role:id   live notifications (Server-Sent Events)
  ${url}/webhooks/payments     the payment provider's webhook (raw body)

  demo users (x-demo-user header, role:id):
    doctor:${DEMO_DOCTORS[0].id}  ${DEMO_DOCTORS[0].name}
${DEMO_PATIENTS.map((p) => `    patient:${p.id} ${p.name} (${p.plan})`).join('\n')}
    admin:${DEMO_ADMIN.id}`);

const stop = async () => {
  console.log('\nstopping…');
  await running.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
