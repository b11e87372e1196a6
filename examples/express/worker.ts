// `npm run example:worker`: the separate worker process that runs careslot's BullMQ jobs (real-services mode).
import { createCareslot } from './careslot.js';

const careslot = await createCareslot(process.env);
if (careslot.mode !== 'real' || !careslot.bullmq) {
  console.error(
    'The worker needs REDIS_URL, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and MONGODB_URI or DATABASE_URL (embedded mode runs jobs in the server process).',
  );
  process.exit(1);
}
// The worker runs on the scheduler's own queue name, prefix and Redis: declared once, in careslot.ts.
const worker = careslot.bullmq.createWorker({ engine: careslot.engine, concurrency: 5 });
worker.on('failed', (job, error) => console.error(`job ${job?.name} (${job?.id}) failed: ${error.message}`));
console.log('careslot worker running; Ctrl-C or SIGTERM to stop after the current jobs');

// Graceful shutdown: finish the jobs in hand, then close what this process opened.
const stop = async () => {
  await worker.close();
  await careslot.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
