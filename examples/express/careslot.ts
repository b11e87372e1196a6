// Builds careslot for the example host: embedded defaults with no environment, real adapters with it.
import {
  BookingEngine,
  type BookingEngineOptions,
  type BookingStore,
  type Clock,
  EventEmitterNotifier,
  InProcessScheduler,
  MemoryStore,
  type PaymentGateway,
} from 'careslot';
import type { BullMQScheduler } from 'careslot/bullmq';
import { MemoryPatientDirectory, TestPaymentGateway } from 'careslot/testing';
import { DEMO_DOCTORS, DEMO_PATIENTS, DEMO_RELATIONS } from './demo-users.js';

export interface CareslotEnv {
  MONGODB_URI?: string;
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
 * THE PART A HOST REPLACES: the patient directory. Here it is an in-memory list of demo users;
 * in your app, implement PatientDirectory over your own users (plan and doctor–patient relation).
 */
function demoPatients(): MemoryPatientDirectory {
  return new MemoryPatientDirectory(
    DEMO_PATIENTS.map(({ id, name, plan }) => ({ id, name, plan })),
    DEMO_RELATIONS,
  );
}

export async function createCareslot(env: CareslotEnv, overrides: SetupOverrides = {}): Promise<CareslotSetup> {
  const wanted = [env.MONGODB_URI, env.REDIS_URL, env.STRIPE_SECRET_KEY, env.STRIPE_WEBHOOK_SECRET];
  const real = wanted.some(Boolean);
  if (real && !wanted.every(Boolean)) {
    throw new Error(
      'Real-services mode needs all of MONGODB_URI, REDIS_URL, STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (unset them all for the embedded demo)',
    );
  }
  const publicUrl = env.PUBLIC_URL ?? 'http://localhost:3000';
  const notifier = new EventEmitterNotifier();
  const common: Partial<BookingEngineOptions> = {
    successUrl: `${publicUrl}/booked`,
    cancelUrl: `${publicUrl}/`,
    ...(overrides.clock ? { clock: overrides.clock } : {}),
    ...overrides.engine,
  };

  if (!real) {
    const clock = overrides.clock;
    const store = new MemoryStore(clock ? { clock } : {});
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
      parts: {
        store: 'MemoryStore (in this process)',
        scheduler: 'InProcessScheduler (timers in this process)',
        payments: `TestPaymentGateway (local checkout page at ${publicUrl}/checkout/<session>)`,
      },
      redisUrl: null,
      bullmq: null,
      close: async () => scheduler.close(),
    };
  }

  // Real services: each adapter gets the host's own connection or client.
  const [
    { default: mongoose },
    { MongooseStore },
    { default: Stripe },
    { StripeCheckoutGateway },
    { BullMQScheduler },
    { Redis },
  ] = await Promise.all([
    import('mongoose'),
    import('careslot/mongoose'),
    import('stripe'),
    import('careslot/stripe'),
    import('careslot/bullmq'),
    import('ioredis'),
  ]);
  const connection = await mongoose.createConnection(env.MONGODB_URI as string).asPromise();
  const mongooseStore = new MongooseStore({ connection });
  await mongooseStore.ready(); // fails fast on a standalone mongod (transactions need a replica set)
  await mongooseStore.createIndexes(); // the unique one-active-booking-per-slot index, among others
  const store: BookingStore = mongooseStore;
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
    parts: {
      store: `MongooseStore (${redact(env.MONGODB_URI as string)})`,
      scheduler: `BullMQScheduler (${redact(redisUrl)}; run the worker: npm run example:worker)`,
      payments: 'StripeCheckoutGateway (Stripe Checkout)',
    },
    redisUrl,
    bullmq: scheduler,
    close: async () => {
      await scheduler.close();
      await redis.quit();
      await connection.close();
    },
  };
}

/** Hides credentials in URLs printed at startup. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export { DEMO_DOCTORS, DEMO_PATIENTS };
