// One host process for the multi-process test: its own engine, pool and payment gateway on the shared database, driven over stdin/stdout.
import { createInterface } from 'node:readline';
import pg from 'pg';
import { PostgresStore } from '../../../src/adapters/postgres/index.js';
import {
  type Booking,
  BookingEngine,
  InProcessScheduler,
  isBookingError,
  type PaymentEvent,
} from '../../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../../src/testing/index.js';

/** What the parent test passes in CARESLOT_PROCESS (JSON). */
export interface ProcessConfig {
  pool: pg.PoolConfig;
  schema: string;
  start: string;
  doctorIds: string[];
  /** Every patient of the test (standard plan); this process acts for `own`. */
  patients: string[];
  own: string[];
  contendSlot: string;
  slots: string[];
  operations: number;
  maxMs: number;
  seed: number;
}

const config = JSON.parse(process.env.CARESLOT_PROCESS ?? '{}') as ProcessConfig;
const send = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

const pool = new pg.Pool({ ...config.pool, max: 20, idleTimeoutMillis: 0 });
pool.on('error', () => {});
const clock = new ManualClock(config.start);
const store = new PostgresStore({ pool, schema: config.schema, clock });
const gateway = new TestPaymentGateway({ clock, checkoutBaseUrl: 'http://127.0.0.1/checkout' });
const patients = new MemoryPatientDirectory(
  config.patients.map((id) => ({ id, name: id, plan: 'standard' })),
  [],
);
const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
const engine = new BookingEngine({ store, payments: gateway, patients, scheduler, clock });

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const outcomes: Record<string, number> = {};
const count = (key: string) => {
  outcomes[key] = (outcomes[key] ?? 0) + 1;
};
const unexpected: string[] = [];

async function contend(): Promise<object> {
  const settled = await Promise.allSettled(
    config.own.map((patientId) => engine.book({ patientId, scheduleId: config.contendSlot })),
  );
  const codes: Record<string, number> = {};
  const bookings: string[] = [];
  for (const r of settled) {
    if (r.status === 'fulfilled') bookings.push(r.value.booking.id);
    else {
      const code = isBookingError(r.reason)
        ? r.reason.code
        : `${(r.reason as Error).name}: ${(r.reason as Error).message}`;
      codes[code] = (codes[code] ?? 0) + 1;
    }
  }
  return { phase: 'contend', bookings, codes };
}

/** Book, pay, decline, time out, cancel, refund and reschedule for this process's patients, bounded in count and time. */
async function mixed(): Promise<object> {
  const random = prng(config.seed);
  const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
  const deadline = Date.now() + config.maxMs;
  let done = 0;
  const mine = (patientId: string, status: Booking['status']) => engine.listBookings({ patientId, status, limit: 20 });
  const deliver = async (event: PaymentEvent) => {
    await engine.handlePaymentEvent(event);
    if (random() < 0.2) await engine.handlePaymentEvent(event);
  };
  const act = async (patientId: string): Promise<string> => {
    const roll = random();
    if (roll < 0.35) {
      await engine.book({ patientId, scheduleId: pick(config.slots) ?? '' });
      return 'book';
    }
    if (roll < 0.6) {
      const booking = pick(await mine(patientId, 'pending'));
      const session = booking && gateway.sessionForBooking(booking.id);
      if (session?.status !== 'open') return 'noop';
      await deliver(gateway.pay(session.id));
      return 'pay';
    }
    if (roll < 0.68) {
      const booking = pick(await mine(patientId, 'pending'));
      const session = booking && gateway.sessionForBooking(booking.id);
      if (session?.status !== 'open') return 'noop';
      gateway.decline(session.id);
      if (random() < 0.5) await deliver(gateway.failPayment(session.id));
      return 'decline';
    }
    if (roll < 0.8) {
      const booking = pick([...(await mine(patientId, 'pending')), ...(await mine(patientId, 'scheduled'))]);
      if (!booking) return 'noop';
      await engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: patientId } });
      return 'cancel';
    }
    if (roll < 0.92) {
      const booking = pick(await mine(patientId, 'scheduled'));
      if (!booking) return 'noop';
      await engine.reschedule({
        bookingId: booking.id,
        newScheduleId: pick(config.slots) ?? '',
        actor: { role: 'patient', id: patientId },
      });
      return 'reschedule';
    }
    const booking = pick(await mine(patientId, 'scheduled'));
    if (booking?.paymentStatus !== 'paid') return 'noop';
    await engine.refund({ bookingId: booking.id, amount: 1 + Math.floor(random() * 1000) });
    return 'refund';
  };
  const loop = async (patientId: string) => {
    while (done < config.operations && Date.now() < deadline) {
      done++;
      try {
        count(await act(patientId));
      } catch (error) {
        if (isBookingError(error) && error.code !== 'STORE_ERROR') count(`error:${error.code}`);
        else unexpected.push(`${(error as Error).name}: ${(error as Error).message}`);
      }
      // Time moves on 4 minutes every 50 operations, and the hold timeouts that fell due fire.
      if (done % 50 === 0) {
        clock.advanceMinutes(4);
        await scheduler.runDue();
      }
    }
  };
  await Promise.all(config.own.slice(0, 10).map(loop));
  return { phase: 'mixed', done, outcomes, unexpected };
}

/** Lets every hold of this process time out, then sweeps. */
async function settle(): Promise<object> {
  clock.advanceMinutes(30);
  await scheduler.runDue();
  const report = await engine.reconcile();
  return { phase: 'settle', report, now: clock.now().toISOString() };
}

const phases: Record<string, () => Promise<object>> = { contend, mixed, settle };

await store.ready();
// Connections opened before the starting signal, so the first phase's calls start together.
const warm = await Promise.all(Array.from({ length: 20 }, () => pool.connect()));
for (const client of warm) client.release();
send({ phase: 'ready' });

for await (const line of createInterface({ input: process.stdin })) {
  const phase = phases[line.trim()];
  if (line.trim() === 'exit') break;
  if (!phase) continue;
  try {
    send(await phase());
  } catch (error) {
    send({ phase: line.trim(), error: `${(error as Error).name}: ${(error as Error).message}` });
  }
}
await pool.end();
// stdin is the parent's pipe, still open: leave without waiting for it.
process.exit(0);
