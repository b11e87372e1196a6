// Builds careslot for the example host: embedded defaults with no environment (optionally on PostgreSQL or PGlite), real adapters with it.
import {
  BookingEngine,
  type BookingEngineOptions,
  type BookingStore,
  type Clock,
  EventEmitterNotifier,
  InProcessScheduler,
  MemoryStore,
  type PaymentGateway,
  systemClock,
} from 'careslot';
import type { BullMQScheduler } from 'careslot/bullmq';
import { MemoryPatientDirectory, TestPaymentGateway } from 'careslot/testing';
import { DEMO_DOCTORS, DEMO_PATIENTS, DEMO_RELATIONS } from './demo-users.js';

export interface CareslotEnv {
  MONGODB_URI?: string;
  /** A PostgreSQL server for the store (`postgres://user:pass@host:5432/db`): PostgresStore on a pg.Pool. */
  DATABASE_URL?: string;
  /** Keeps the embedded demo's data in PGlite files in this folder (one process at a time), e.g. `./data`. */
  CARESLOT_DATA_DIR?: string;
  REDIS_URL?: string;
  STRIPE_SECRET_KEY?: string;
  STRIPE_WEBHOOK_SECRET?: string;
  /** Where the app is reachable, for Checkout return URLs. */
  PUBLIC_URL?: string;
}

export interface CareslotSetup {
  mode: 'embedded' | 'real';
  engine: BookingEngine;
  gateway: PaymentGateway;
  /** Present in embedded mode: the simulated provider behind the local checkout page. */
  testGateway: TestPaymentGateway | null;
  notifier: EventEmitterNotifier;
  /** The engine's clock: pages ask for "the next 7 days" from its now. */
  clock: Clock;
  /** What each part runs on, for the startup banner. */
  parts: Record<'store' | 'scheduler' | 'payments', string>;
  /** Connection settings a separate worker process needs (real mode). */
  redisUrl: string | null;
  /** Real mode: the BullMQ scheduler, whose `createWorker` starts a worker on the same queue settings. */
  bullmq: BullMQScheduler | null;
  close(): Promise<void>;
}

export interface SetupOverrides {
  clock?: Clock;
  /** In-process timers (embedded mode); tests turn them off and run jobs by hand. */
  timers?: boolean;
  engine?: Partial<BookingEngineOptions>;
}

/**
 * The practice's rules, a host's own choice. Tiers start at 24 h, not 48 h: the demo's slots are
 * the day after tomorrow (34 h ahead at the least), and its cancellation there refunds in full.
 */
export const EXAMPLE_POLICY = {
  // An email the day before and an SMS two hours before; booked later than that, the nearest missed one goes out at once.
  reminders: [
    { beforeMinutes: 24 * 60, channel: 'email' },
    { beforeMinutes: 120, channel: 'sms' },
  ],
  lateReminder: 'sendNow',
  // Patients: in full from 24 h ahead, half from 6 h, nothing from 2 h to 6 h, and no cancelling in the last 2 h.
  cancellation: {
    tiers: [
      { hoursBefore: 24, refundPercent: 100 },
      { hoursBefore: 6, refundPercent: 50 },
    ],
    patientCutoffHours: 2,
  },
  // The doctor may mark (or take back) a no-show until an hour after the end; the fee is kept.
  noShowGraceMinutes: 60,
} satisfies Partial<BookingEngineOptions>;

/**
 * THE PART A HOST REPLACES: the patient directory. Here it is an in-memory list of demo users;
 * in your app, implement PatientDirectory over your own users (plan and doctor–patient relation).
 */
function demoPatients(): MemoryPatientDirectory {
  return new MemoryPatientDirectory(
    DEMO_PATIENTS.map(({ id, name, plan }) => ({ id, name, plan })),
    DEMO_RELATIONS,
  );
}

interface OpenedStore {
  store: BookingStore;
  /** For the startup banner. */
  describe: string;
  close(): Promise<void>;
}

/**
 * The PostgreSQL stores: DATABASE_URL (a server, on a pg.Pool this host owns) or
 * CARESLOT_DATA_DIR (PGlite files in a folder, this process only). Null: neither is set.
 */
async function openPostgres(env: CareslotEnv, clock: Clock | undefined): Promise<OpenedStore | null> {
  if (env.DATABASE_URL) {
    const [{ default: pg }, { PostgresStore }] = await Promise.all([import('pg'), import('careslot/postgres')]);
    const pool = new pg.Pool({ connectionString: env.DATABASE_URL });
    pool.on('error', (error) => console.error(`postgres: idle connection failed: ${error.message}`));
    const store = new PostgresStore({ pool, ...(clock ? { clock } : {}) });
    try {
      await store.migrate(); // creates or upgrades careslot's schema; safe from every process at once
    } catch (error) {
      await pool.end();
      throw error;
    }
    return {
      store,
      describe: `PostgresStore (${redact(env.DATABASE_URL)}, schema ${store.schema})`,
      close: () => pool.end(), // the pool is this host's: careslot never ends it
    };
  }
  if (env.CARESLOT_DATA_DIR) {
    const { PostgresStore } = await import('careslot/postgres');
    const store = await PostgresStore.embedded({ dataDir: env.CARESLOT_DATA_DIR, ...(clock ? { clock } : {}) });
    return {
      store,
      describe: `PostgresStore on PGlite (files in ${env.CARESLOT_DATA_DIR}; this process only; kept across restarts)`,
      close: () => store.close(),
    };
  }
  return null;
}

export async function createCareslot(env: CareslotEnv, overrides: SetupOverrides = {}): Promise<CareslotSetup> {
  if (env.DATABASE_URL && (env.MONGODB_URI || env.CARESLOT_DATA_DIR)) {
    throw new Error('Set one store: DATABASE_URL (PostgreSQL), CARESLOT_DATA_DIR (PGlite) or MONGODB_URI (MongoDB)');
  }
  const services = [env.REDIS_URL, env.STRIPE_SECRET_KEY, env.STRIPE_WEBHOOK_SECRET];
  const real = services.some(Boolean) || Boolean(env.MONGODB_URI);
  if (real && !(services.every(Boolean) && (env.MONGODB_URI || env.DATABASE_URL))) {
    throw new Error(
      'Real-services mode needs all of REDIS_URL, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and a database (MONGODB_URI or DATABASE_URL); unset them all for the embedded demo (DATABASE_URL or CARESLOT_DATA_DIR alone keep it embedded, on PostgreSQL)',
    );
  }
  if (real && env.CARESLOT_DATA_DIR) {
    throw new Error(
      'CARESLOT_DATA_DIR (PGlite) serves one process, and real-services mode runs a separate worker: use DATABASE_URL (or MONGODB_URI)',
    );
  }
  const publicUrl = env.PUBLIC_URL ?? 'http://localhost:3000';
  const notifier = new EventEmitterNotifier();
  const common: Partial<BookingEngineOptions> = {
    successUrl: `${publicUrl}/booked`,
    cancelUrl: `${publicUrl}/`,
    ...EXAMPLE_POLICY,
    ...(overrides.clock ? { clock: overrides.clock } : {}),
    ...overrides.engine,
  };

  if (!real) {
    const clock = overrides.clock;
    const postgres = await openPostgres(env, clock);
    const store = postgres?.store ?? new MemoryStore(clock ? { clock } : {});
    const testGateway = new TestPaymentGateway({
      checkoutBaseUrl: `${publicUrl}/checkout`,
      ...(clock ? { clock } : {}),
    });
    const scheduler = new InProcessScheduler({ timers: overrides.timers ?? true, ...(clock ? { clock } : {}) });
    const engine = new BookingEngine({
      store,
      payments: testGateway,
      patients: demoPatients(),
      scheduler,
      notifier,
      ...common,
    });
    await engine.start();
    return {
      mode: 'embedded',
      engine,
      gateway: testGateway,
      testGateway,
      notifier,
      clock: overrides.clock ?? systemClock,
      parts: {
        store: postgres?.describe ?? 'MemoryStore (in this process)',
        scheduler: 'InProcessScheduler (timers in this process)',
        payments: `TestPaymentGateway (local checkout page at ${publicUrl}/checkout/<session>)`,
      },
      redisUrl: null,
      bullmq: null,
      close: async () => {
        await scheduler.close();
        await postgres?.close();
      },
    };
  }

  // Real services: each adapter gets the host's own connection or client.
  const [{ default: Stripe }, { StripeCheckoutGateway }, { BullMQScheduler }, { Redis }] = await Promise.all([
    import('stripe'),
    import('careslot/stripe'),
    import('careslot/bullmq'),
    import('ioredis'),
  ]);
  const opened = (await openPostgres(env, overrides.clock)) ?? (await openMongo(env.MONGODB_URI as string));
  const store = opened.store;
  const stripe = new Stripe(env.STRIPE_SECRET_KEY as string);
  const gateway = new StripeCheckoutGateway({ stripe, webhookSecret: env.STRIPE_WEBHOOK_SECRET as string });
  const redisUrl = env.REDIS_URL as string;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const scheduler = new BullMQScheduler({ connection: redis });
  const engine = new BookingEngine({
    store,
    payments: gateway,
    patients: demoPatients(),
    scheduler,
    notifier,
    ...common,
  });
  await engine.start();
  return {
    mode: 'real',
    engine,
    gateway,
    testGateway: null,
    notifier,
    clock: overrides.clock ?? systemClock,
    parts: {
      store: opened.describe,
      scheduler: `BullMQScheduler (${redact(redisUrl)}; run the worker: npm run example:worker)`,
      payments: 'StripeCheckoutGateway (Stripe Checkout)',
    },
    redisUrl,
    bullmq: scheduler,
    close: async () => {
      await scheduler.close();
      await redis.quit();
      await opened.close();
    },
  };
}

async function openMongo(uri: string): Promise<OpenedStore> {
  const [{ default: mongoose }, { MongooseStore }] = await Promise.all([
    import('mongoose'),
    import('careslot/mongoose'),
  ]);
  const connection = await mongoose.createConnection(uri).asPromise();
  const store = new MongooseStore({ connection });
  await store.createIndexes(); // once per deploy, before ready(): the unique indexes the invariants rely on
  await store.ready(); // fails fast: a standalone mongod (transactions need a replica set) or a missing unique index
  return { store, describe: `MongooseStore (${redact(uri)})`, close: () => connection.close() };
}

/** Hides credentials in URLs printed at startup. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export { DEMO_DOCTORS, DEMO_PATIENTS };
