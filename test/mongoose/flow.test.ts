// The booking flow end to end on MongooseStore: the engine's public API over a real replica set.
import type mongoose from 'mongoose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MongooseStore } from '../../src/adapters/mongoose/index.js';
import {
  BookingEngine,
  createWebhookHandler,
  EventEmitterNotifier,
  InProcessScheduler,
  type Notification,
  type PaymentEvent,
} from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { announceSkip, clearCollections, mongod, openConnection, sharedReplSet } from './support/mongo-server.js';

announceSkip('MongoDB booking flow (test/mongoose/flow.test.ts)');
const replSet = sharedReplSet();

const DOCTOR = '64b0000000000000000000d1';
const STANDARD = '64b0000000000000000000a1';
const VISE = '64b0000000000000000000a2';
const OTHER = '64b0000000000000000000a5';

describe.skipIf(!mongod.available)('the booking flow on MongooseStore', () => {
  let connection: mongoose.Connection;
  let store: MongooseStore;
  // The store outlives each test's clock; its stamps follow whichever clock the test uses.
  let clock = new ManualClock('2030-03-01T08:00:00Z');

  beforeAll(async () => {
    connection = await openConnection(await replSet.uri(), 'careslot_flow');
    store = new MongooseStore({ connection, clock: { now: () => clock.now() } });
    await store.ready();
    await store.createIndexes();
  });
  beforeEach(async () => {
    await clearCollections(store);
  });
  afterAll(async () => {
    await connection?.close();
    await replSet.stop();
  });

  function setup() {
    clock = new ManualClock('2030-03-01T08:00:00Z');
    const gateway = new TestPaymentGateway({ clock });
    const patients = new MemoryPatientDirectory(
      [
        { id: STANDARD, name: 'Ada Standard', plan: 'standard' },
        { id: VISE, name: 'Vera Vise', plan: 'vise' },
        { id: OTHER, name: 'Otto Other', plan: 'standardPlus' },
      ],
      [{ doctorId: DOCTOR, patientId: VISE }],
    );
    const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
    const notifier = new EventEmitterNotifier();
    const notifications: Notification[] = [];
    notifier.on('notification', (n) => notifications.push(n));
    const engine = new BookingEngine({ store, payments: gateway, patients, scheduler, notifier, clock });
    const webhook = createWebhookHandler({ engine, gateway, onError: () => {} });
    const slot = (startInMinutes = 24 * 60) => {
      const start = new Date(clock.now().getTime() + startInMinutes * 60_000);
      return engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: new Date(start.getTime() + 30 * 60_000),
        fee: { amount: 5000, currency: 'EUR' },
        timeZone: 'Europe/Berlin',
      });
    };
    const deliver = async (event: PaymentEvent) => webhook(gateway.signWebhook(event));
    const advance = async (minutes: number) => {
      clock.advanceMinutes(minutes);
      await scheduler.runDue();
    };
    return { engine, gateway, patients, scheduler, notifications, slot, deliver, advance };
  }

  it('books a VISE patient with a relation at once: scheduled, and booked_by set in MongoDB', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking, paymentUrl } = await f.engine.book({ patientId: VISE, scheduleId: slot.id });
    expect(paymentUrl).toBeUndefined();
    expect(booking).toMatchObject({ status: 'scheduled', mode: 'free', paymentStatus: 'unpaid' });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: VISE });
    const raw = await store.models.schedule.collection.findOne({});
    expect(raw?.booked_by?.toString()).toBe(VISE);
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
  });

  it('holds a paid slot and confirms it on a signed webhook: payment record, booking paid, wallet credited', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking, paymentUrl } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    expect(booking).toMatchObject({ status: 'pending', paymentStatus: 'unpaid' });
    expect(paymentUrl).toBeDefined();
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');

    const event = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    expect(await f.deliver(event)).toEqual({ status: 200, body: { received: true, outcome: 'confirmed' } });
    const paid = await f.engine.getBooking(booking.id);
    expect(paid).toMatchObject({ status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: STANDARD });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    const payment = await store.models.payment.collection.findOne({});
    expect(payment?.referenceId.toString()).toBe(booking.id);
    expect(payment?._id.toString()).toBe(paid.paymentTransactionId);
    expect(payment).toMatchObject({ provider: 'test', amount: 5000, currency: 'eur', status: 'succeeded' });
  });

  it('changes nothing on replayed payment webhooks, sequential or concurrent: one payment, one credit', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    const event = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    const first = await f.deliver(event);
    const replays = [
      await f.deliver(event),
      ...(await Promise.all(Array.from({ length: 10 }, () => f.deliver(event)))),
    ];
    expect(first.body.outcome).toBe('confirmed');
    expect(new Set(replays.map((r) => r.body.outcome))).toEqual(new Set(['duplicate']));
    expect((await f.engine.getWallet(DOCTOR)).entries).toHaveLength(1);
    expect(await store.findPaymentTransactions({ bookingId: booking.id })).toHaveLength(1);
    expect(await store.models.event.collection.countDocuments({})).toBe(1);
  });

  it('credits once when 10 copies of a payment event arrive concurrently before any was processed', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    const event = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    const results = await Promise.all(Array.from({ length: 10 }, () => f.engine.handlePaymentEvent(event)));
    expect(results.filter((r) => r.outcome === 'confirmed')).toHaveLength(1);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect(f.notifications.filter((n) => n.type === 'appointmentBooking')).toHaveLength(1);
  });

  it('releases the slot on a terminal payment failure webhook, so another patient can book it', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    const failed = f.gateway.failPayment(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    expect((await f.deliver(failed)).body.outcome).toBe('cancelled');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      paymentStatus: 'failed',
      cancelReason: 'payment_failed',
    });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
    expect((await f.deliver(failed)).body.outcome).toBe('duplicate');
    const next = await f.engine.book({ patientId: OTHER, scheduleId: slot.id });
    expect(next.booking.status).toBe('pending');
  });

  it('times a hold out after 15 minutes: checkout expired first, then the slot is available again', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    await f.advance(14);
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    await f.advance(1);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
    });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
    expect(f.gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    expect(await store.findActiveBooking(slot.id)).toBeNull();
  });

  it('lets exactly one of 1,000 concurrent bookings of one slot win; the rest get SCHEDULE_UNAVAILABLE', async () => {
    const f = setup();
    const slot = await f.slot();
    const ids = Array.from({ length: 1000 }, (_, i) => `64b00000000000000000${(0x1000 + i).toString(16)}`);
    for (const id of ids) f.patients.addPatient({ id, name: `P${id}`, plan: 'standard' });
    const results = await Promise.allSettled(ids.map((patientId) => f.engine.book({ patientId, scheduleId: slot.id })));
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(new Set(losers.map((r) => (r.reason as { code: string }).code))).toEqual(new Set(['SCHEDULE_UNAVAILABLE']));
    expect(await store.countBookings({ scheduleId: slot.id })).toBe(1);
    expect(await store.models.booking.collection.countDocuments({ active: true })).toBe(1);
    expect(f.gateway.sessions.size).toBe(1);
  }, 300_000);

  it('finishes a booked slot after its end: booking completed, slot expired, next-day slot created', async () => {
    const f = setup();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: VISE, scheduleId: slot.id });
    await f.advance(91);
    expect((await f.engine.getBooking(booking.id)).status).toBe('completed');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
    const [next] = await store.findSchedules({ doctorId: DOCTOR, status: 'available' });
    expect(next).toMatchObject({ rolledOverFrom: slot.id, bookedBy: null });
    expect(next?.startTime.getTime()).toBe(slot.startTime.getTime() + 24 * 3_600_000);
  });

  it('confirms from the sweep a payment whose webhook was lost', async () => {
    const f = setup();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''); // the webhook never arrives
    clock.advanceMinutes(5);
    const report = await f.engine.reconcile();
    expect(report.paymentsConfirmed).toBe(1);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
  });

  it('refunds a cancellation made well ahead once: wallet debited once, payment marked refunded', async () => {
    const f = setup();
    const slot = await f.slot(48 * 60);
    const { booking } = await f.engine.book({ patientId: STANDARD, scheduleId: slot.id });
    await f.deliver(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    const result = await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: STANDARD } });
    expect(result.refund).toMatchObject({ amount: 5000, status: 'succeeded' });
    expect(result.booking).toMatchObject({ status: 'cancelled', paymentStatus: 'refunded', amountRefunded: 5000 });
    const wallet = await f.engine.getWallet(DOCTOR);
    expect(wallet.balances).toEqual({ eur: 0 });
    expect(wallet.entries.map((e) => e.kind).sort()).toEqual(['credit', 'debit']);
    expect(await store.models.payment.collection.findOne({})).toMatchObject({ status: 'refunded' });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });
});
