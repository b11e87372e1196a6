// What hosts observe of each use case: the exact events on engine.events, the notifications people get, and the timed jobs left waiting.
import { describe, expect, it } from 'vitest';
import type { Booking, Notification, PaymentTransaction, RefundRecord, Schedule } from '../../src/index.js';
import { JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS } from '../support/engine-fixture.js';

// Fixture slots start 24 hours after 2030-03-01T08:00Z: 09:00 in Berlin (CET) the next day.
const WHEN = '2030-03-02 09:00 (Europe/Berlin)';

const names = (f: Fixture) => f.events.map((e) => e.name);
const payloadOf = <T>(f: Fixture, name: string): T => f.events.find((e) => e.name === name)?.payload as T;
const jobs = (f: Fixture) => f.scheduler.pending().map((j) => `${j.name}:${j.id}`);
const describeBooking = (b: Booking) => ({
  bookingId: b.id,
  scheduleId: b.scheduleId,
  doctorId: b.doctorId,
  patientId: b.patientId,
  startTime: b.slotStart.toISOString(),
});

async function paidBooking(f: Fixture) {
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { slot, booking, sessionId };
}

describe('publishing a slot', () => {
  it('emits schedule.created with the slot and schedules only its expiry at the end time', async () => {
    const f = createFixture();
    const slot = await f.slot();
    expect(names(f)).toEqual(['schedule.created']);
    expect(payloadOf(f, 'schedule.created')).toEqual({ schedule: slot });
    expect(f.scheduler.pending()).toEqual([
      { name: JOB_NAMES.expireUnbooked, id: `expire-${slot.id}`, runAt: slot.endTime, data: { scheduleId: slot.id } },
    ]);
  });
});

describe('a free booking', () => {
  it('emits created then confirmed (no payment), tells the doctor and the admin, and swaps the expiry for the completion job', async () => {
    const f = createFixture();
    const slot = await f.slot();
    f.events.length = 0;
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(names(f)).toEqual(['booking.created', 'booking.confirmed']);
    expect(payloadOf(f, 'booking.created')).toEqual({ booking });
    expect(payloadOf(f, 'booking.confirmed')).toEqual({ booking, payment: null });
    expect(booking.history).toEqual([
      expect.objectContaining({
        from: null,
        to: 'scheduled',
        paymentStatus: 'unpaid',
        actor: { role: 'patient', id: PATIENTS.vise },
        reason: 'free_vise',
      }),
    ]);
    expect(f.notifications).toEqual<Notification[]>([
      {
        type: 'appointmentBooking',
        recipient: { role: 'doctor', id: DOCTOR },
        title: 'New appointment',
        message: `Patient Vera Vise booked ${WHEN}`,
        data: describeBooking(booking),
      },
      {
        type: 'newBooking',
        recipient: { role: 'admin', id: 'admin' },
        title: 'New booking',
        message: `New booking: patient Vera Vise with doctor ${DOCTOR} at ${WHEN}`,
        data: describeBooking(booking),
      },
    ]);
    expect(f.scheduler.pending()).toEqual([
      { name: JOB_NAMES.completeBooked, id: `complete-${slot.id}`, runAt: slot.endTime, data: { scheduleId: slot.id } },
    ]);
  });

  it('names a patient the directory no longer knows by id', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const getPatient = f.patients.getPatient.bind(f.patients);
    let calls = 0;
    // The booking reads the patient once; the notification, after commit, finds them gone.
    f.patients.getPatient = async (id: string) => (calls++ === 0 ? getPatient(id) : null);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(f.notifications.map((n) => n.message)).toEqual([
      `Patient ${PATIENTS.vise} booked ${WHEN}`,
      `New booking: patient ${PATIENTS.vise} with doctor ${DOCTOR} at ${WHEN}`,
    ]);
  });
});

describe('a paid booking', () => {
  it('holds with a checkout_started history, a hold-timeout job at the hold end, and confirms with the payment record', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await paidBooking(f);
    expect(names(f)).toEqual(['schedule.created', 'booking.created']);
    expect(payloadOf<{ booking: Booking }>(f, 'booking.created').booking).toMatchObject({
      id: booking.id,
      status: 'pending',
    });
    expect(booking.history).toEqual([
      expect.objectContaining({
        from: null,
        to: 'pending',
        paymentStatus: 'unpaid',
        actor: { role: 'patient', id: PATIENTS.standard },
        reason: 'checkout_started',
      }),
    ]);
    expect(jobs(f)).toEqual([
      `${JOB_NAMES.holdTimeout}:hold-${booking.id}`,
      `${JOB_NAMES.expireUnbooked}:expire-${slot.id}`,
    ]);
    expect(f.scheduler.pending()[0]).toEqual({
      name: JOB_NAMES.holdTimeout,
      id: `hold-${booking.id}`,
      runAt: new Date('2030-03-01T08:15:00Z'),
      data: { bookingId: booking.id },
    });

    f.events.length = 0;
    const paid = f.gateway.pay(sessionId);
    await f.engine.handlePaymentEvent(paid);
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    const confirmed = await f.engine.getBooking(booking.id);
    expect(names(f)).toEqual(['booking.confirmed']);
    expect(payloadOf(f, 'booking.confirmed')).toEqual({ booking: confirmed, payment });
    expect(confirmed).toMatchObject({
      paymentTransactionId: payment?.id,
      holdExpiresAt: null,
      checkoutSessionId: sessionId,
    });
    expect(payment).toMatchObject({ checkoutSessionId: sessionId, credited: true, provider: 'test', refunds: [] });
    expect(confirmed.history.at(-1)).toMatchObject({
      from: 'pending',
      to: 'scheduled',
      paymentStatus: 'paid',
      reason: 'payment_succeeded',
    });
    expect(jobs(f)).toEqual([`${JOB_NAMES.completeBooked}:complete-${slot.id}`]);
    expect(await f.store.hasProcessedEvent(paid.id)).toBe(true);
  });
});

describe('a hold that ends unpaid', () => {
  it('on timeout: cancelled then released events, and the patient hears it was not booked (payment timeout)', async () => {
    const f = createFixture();
    const { slot, booking } = await paidBooking(f);
    f.events.length = 0;
    await f.advance(15);
    const cancelled = await f.engine.getBooking(booking.id);
    const freed = await f.engine.getSchedule(slot.id);
    expect(names(f)).toEqual(['booking.cancelled', 'schedule.released']);
    expect(payloadOf(f, 'booking.cancelled')).toEqual({ booking: cancelled, reason: 'payment_timeout' });
    expect(payloadOf(f, 'schedule.released')).toEqual({
      schedule: freed,
      bookingId: booking.id,
      reason: 'payment_timeout',
    });
    expect(cancelled.history.at(-1)).toMatchObject({
      from: 'pending',
      to: 'cancelled',
      paymentStatus: 'unpaid',
      reason: 'payment_timeout',
    });
    expect(f.notifications).toEqual<Notification[]>([
      {
        type: 'appointmentCancelled',
        recipient: { role: 'patient', id: PATIENTS.standard },
        title: 'Appointment not booked',
        message: `Your appointment at ${WHEN} was not booked: payment timeout`,
        data: { ...describeBooking(booking), reason: 'payment_timeout' },
      },
    ]);
    expect(jobs(f)).toEqual([`${JOB_NAMES.expireUnbooked}:expire-${slot.id}`]);
  });

  it('on a failed payment: the hold-timeout job is removed and the patient hears the reason in words', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await paidBooking(f);
    f.events.length = 0;
    await f.engine.handlePaymentEvent(f.gateway.failPayment(sessionId));
    expect(names(f)).toEqual(['booking.cancelled', 'schedule.released']);
    expect(payloadOf(f, 'booking.cancelled')).toMatchObject({ reason: 'payment_failed' });
    expect((await f.engine.getBooking(booking.id)).paymentStatus).toBe('failed');
    expect(f.notifications.map((n) => [n.title, n.message])).toEqual([
      ['Appointment not booked', `Your appointment at ${WHEN} was not booked: payment failed`],
    ]);
    expect(jobs(f)).toEqual([`${JOB_NAMES.expireUnbooked}:expire-${slot.id}`]);
  });

  it('cancelled by its patient: the patient hears it was cancelled (by patient), and nothing is refunded', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.events.length = 0;
    const outcome = await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'patient', id: PATIENTS.standard },
    });
    expect(outcome.refund).toBeNull();
    expect(payloadOf(f, 'booking.cancelled')).toMatchObject({ reason: 'by_patient' });
    expect(outcome.booking.history.at(-1)).toMatchObject({
      to: 'cancelled',
      actor: { role: 'patient', id: PATIENTS.standard },
      reason: 'by_patient',
    });
    expect(f.notifications.map((n) => [n.title, n.message])).toEqual([
      ['Appointment cancelled', `Your appointment at ${WHEN} was cancelled (by patient)`],
    ]);
  });
});

describe('cancelling a scheduled booking', () => {
  it('by the patient a day ahead: cancelled, released and refund events, both parties told, the refund notified', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await paidBooking(f);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    f.events.length = 0;
    f.notifications.length = 0;
    const { refund, booking: after } = await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'patient', id: PATIENTS.standard },
      reason: 'feeling better',
    });
    expect(names(f)).toEqual(['booking.cancelled', 'schedule.released', 'refund.succeeded']);
    expect(payloadOf(f, 'booking.cancelled')).toEqual({
      booking: expect.objectContaining({ id: booking.id, status: 'cancelled', cancelReason: 'by_patient' }),
      reason: 'by_patient',
    });
    expect(payloadOf(f, 'schedule.released')).toMatchObject({ bookingId: booking.id, reason: 'by_patient' });
    const succeeded = payloadOf<{ payment: PaymentTransaction; refund: RefundRecord }>(f, 'refund.succeeded');
    expect(succeeded.refund).toEqual(refund);
    expect(refund).toMatchObject({
      id: `cancel-${booking.id}`,
      amount: 5000,
      status: 'succeeded',
      reason: 'by_patient',
    });
    expect(after.history.at(-2)).toMatchObject({ from: 'scheduled', to: 'cancelled', reason: 'feeling better' });
    expect(after.history.at(-1)).toMatchObject({ to: 'cancelled', paymentStatus: 'refunded', reason: 'by_patient' });
    expect(f.notifications).toEqual<Notification[]>([
      {
        type: 'appointmentCancelled',
        recipient: { role: 'patient', id: PATIENTS.standard },
        title: 'Appointment cancelled',
        message: `Your appointment at ${WHEN} was cancelled (by patient)`,
        data: { ...describeBooking(booking), reason: 'by_patient' },
      },
      {
        type: 'appointmentCancelled',
        recipient: { role: 'doctor', id: DOCTOR },
        title: 'Appointment cancelled',
        message: `The appointment at ${WHEN} was cancelled (by patient)`,
        data: { ...describeBooking(booking), reason: 'by_patient' },
      },
      {
        type: 'paymentRefunded',
        recipient: { role: 'patient', id: PATIENTS.standard },
        title: 'Payment refunded',
        message: `€50.00 was refunded for your appointment at ${WHEN}`,
        data: { ...describeBooking(booking), refundId: `cancel-${booking.id}`, amount: '5000', currency: 'eur' },
      },
    ]);
    // The freed slot gets its expiry back; its completion job is gone.
    expect(jobs(f)).toEqual([`${JOB_NAMES.expireUnbooked}:expire-${slot.id}`]);
  });

  it('by the doctor: the reason is by_doctor in events, history and both notifications', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.notifications.length = 0;
    const { booking: after, refund } = await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'doctor', id: DOCTOR },
    });
    expect(refund).toBeNull();
    expect(after).toMatchObject({ status: 'cancelled', cancelReason: 'by_doctor' });
    expect(after.history.at(-1)).toMatchObject({ reason: 'by_doctor', actor: { role: 'doctor', id: DOCTOR } });
    expect(f.notifications.map((n) => `${n.recipient.role}: ${n.message}`)).toEqual([
      `patient: Your appointment at ${WHEN} was cancelled (by doctor)`,
      `doctor: The appointment at ${WHEN} was cancelled (by doctor)`,
    ]);
  });

  it('after the start: the slot is not released and no expiry job is scheduled for it', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.set(slot.startTime);
    f.events.length = 0;
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a1' } });
    expect(names(f)).toEqual(['booking.cancelled']);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
    expect(jobs(f)).toEqual([]);
  });
});

describe('rescheduling', () => {
  it('emits released (rescheduled) and rescheduled, tells both parties from when to when, and moves the jobs', async () => {
    const f = createFixture();
    const from = await f.slot(24 * 60);
    const to = await f.slot(48 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: from.id });
    f.events.length = 0;
    f.notifications.length = 0;
    const outcome = await f.engine.reschedule({
      bookingId: booking.id,
      newScheduleId: to.id,
      actor: { role: 'patient', id: PATIENTS.vise },
    });
    expect(names(f)).toEqual(['schedule.released', 'booking.rescheduled']);
    expect(payloadOf(f, 'schedule.released')).toEqual({
      schedule: outcome.from,
      bookingId: booking.id,
      reason: 'rescheduled',
    });
    expect(payloadOf(f, 'booking.rescheduled')).toEqual({
      booking: outcome.booking,
      from: outcome.from,
      to: outcome.to,
    });
    expect(outcome.booking.history.at(-1)).toMatchObject({
      from: 'scheduled',
      to: 'scheduled',
      actor: { role: 'patient', id: PATIENTS.vise },
      reason: `rescheduled_from:${from.id}`,
    });
    const message = `The appointment moved from ${WHEN} to 2030-03-03 09:00 (Europe/Berlin)`;
    const data = { ...describeBooking(outcome.booking), fromScheduleId: from.id };
    expect(f.notifications).toEqual<Notification[]>([
      {
        type: 'appointmentRescheduled',
        recipient: { role: 'patient', id: PATIENTS.vise },
        title: 'Appointment rescheduled',
        message,
        data,
      },
      {
        type: 'appointmentRescheduled',
        recipient: { role: 'doctor', id: DOCTOR },
        title: 'Appointment rescheduled',
        message,
        data,
      },
    ]);
    expect(jobs(f).sort()).toEqual(
      [`${JOB_NAMES.completeBooked}:complete-${to.id}`, `${JOB_NAMES.expireUnbooked}:expire-${from.id}`].sort(),
    );
  });
});

describe('the end of a booked slot', () => {
  it('emits expired, completed and rolledOver in that order, and schedules the copy’s expiry', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.events.length = 0;
    await f.advance(90);
    const [next] = await f.engine.listSchedules({ status: 'available' });
    const expired = await f.engine.getSchedule(slot.id);
    const completed = await f.engine.getBooking(booking.id);
    expect(names(f)).toEqual(['schedule.expired', 'booking.completed', 'schedule.rolledOver']);
    expect(payloadOf(f, 'schedule.expired')).toEqual({ schedule: expired });
    expect(payloadOf(f, 'booking.completed')).toEqual({ booking: completed });
    expect(payloadOf(f, 'schedule.rolledOver')).toEqual({ from: expired, to: next });
    expect(completed.history.at(-1)).toMatchObject({ from: 'scheduled', to: 'completed', reason: 'slot_ended' });
    expect(jobs(f)).toEqual([`${JOB_NAMES.expireUnbooked}:expire-${next?.id}`]);
  });

  it('of an unbooked slot emits expired only and completes nothing', async () => {
    const f = createFixture({ rollover: 'all' });
    const slot = await f.slot(60);
    f.events.length = 0;
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('not_ended');
    f.clock.set(slot.endTime);
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('expired');
    expect(names(f)).toEqual(['schedule.expired', 'schedule.rolledOver']);
  });
});

describe('failures after commit, once the retries are exhausted (outboxMaxAttempts: 1)', () => {
  it('reports a failing notifier per notification, with the booking and slot ids, and keeps the booking', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    const slot = await f.slot();
    f.notifier.notify = async () => {
      throw new Error('smtp down');
    };
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const failed = f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    expect(failed).toEqual([
      {
        effect: 'notify:appointmentBooking',
        error: new Error('smtp down'),
        bookingId: booking.id,
        scheduleId: slot.id,
      },
      { effect: 'notify:newBooking', error: new Error('smtp down'), bookingId: booking.id, scheduleId: slot.id },
    ]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('reports a failing scheduler by job, naming the booking and the slot', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    const slot = await f.slot();
    f.scheduler.schedule = async () => {
      throw new Error('redis down');
    };
    f.scheduler.cancel = async () => {
      throw new Error('redis down');
    };
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const failed = f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    const ids = { bookingId: booking.id, scheduleId: slot.id };
    expect(failed).toEqual([
      { effect: `cancel:${JOB_NAMES.holdTimeout}`, error: new Error('redis down'), ...ids },
      { effect: `schedule:${JOB_NAMES.completeBooked}`, error: new Error('redis down'), ...ids },
      { effect: `cancel:${JOB_NAMES.expireUnbooked}`, error: new Error('redis down'), ...ids },
    ]);
  });

  it('reports a throwing event listener as listener:<event>, and a throwing effect.failed listener only once', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const seen: string[] = [];
    f.engine.events.on('booking.created', () => {
      throw new Error('host bug');
    });
    f.engine.events.on('effect.failed', (e) => {
      seen.push(e.effect);
      throw new Error('logger bug');
    });
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(seen).toEqual(['listener:booking.created']);
    expect(f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload)).toEqual([
      { effect: 'listener:booking.created', error: new Error('host bug') },
    ]);
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('refuses to reschedule a cancelled booking, saying which status it has', async () => {
    const f = createFixture();
    const slot: Schedule = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a1' } });
    await expect(
      f.engine.reschedule({
        bookingId: booking.id,
        newScheduleId: (await f.slot(48 * 60)).id,
        actor: { role: 'admin', id: 'a1' },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_TRANSITION', message: 'A cancelled booking cannot be rescheduled' });
  });

  it('names the booking and the slot in every failure report of a paid booking’s life', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    const slot = await f.slot();
    const ids = { scheduleId: slot.id };
    f.scheduler.schedule = async () => {
      throw new Error('redis down');
    };
    f.scheduler.cancel = f.scheduler.schedule;
    const fail = new Error('redis down');
    const failures = () => f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    const another = await f.slot(48 * 60);
    expect(failures()).toEqual([
      { effect: `schedule:${JOB_NAMES.expireUnbooked}`, error: fail, scheduleId: another.id },
    ]);
    f.events.length = 0;
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(failures()).toEqual([
      { effect: `schedule:${JOB_NAMES.holdTimeout}`, error: fail, bookingId: booking.id, ...ids },
    ]);
    f.events.length = 0;
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.standard } });
    expect(failures()).toEqual([
      { effect: `cancel:${JOB_NAMES.holdTimeout}`, error: fail, bookingId: booking.id, ...ids },
    ]);
  });

  it('names the booking and the target slot in failure reports of a reschedule and a scheduled cancellation', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    const from = await f.slot(24 * 60);
    const to = await f.slot(48 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: from.id });
    f.scheduler.schedule = async () => {
      throw new Error('redis down');
    };
    f.scheduler.cancel = f.scheduler.schedule;
    const fail = new Error('redis down');
    const failures = () => f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    f.events.length = 0;
    await f.engine.reschedule({ bookingId: booking.id, newScheduleId: to.id, actor: { role: 'admin', id: 'a' } });
    const moved = { bookingId: booking.id, scheduleId: to.id };
    expect(failures()).toEqual([
      { effect: `cancel:${JOB_NAMES.completeBooked}`, error: fail, ...moved },
      { effect: `schedule:${JOB_NAMES.completeBooked}`, error: fail, ...moved },
      { effect: `cancel:${JOB_NAMES.expireUnbooked}`, error: fail, ...moved },
      { effect: `schedule:${JOB_NAMES.expireUnbooked}`, error: fail, ...moved },
    ]);
    f.events.length = 0;
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a' } });
    expect(failures()).toEqual([
      { effect: `cancel:${JOB_NAMES.completeBooked}`, error: fail, ...moved },
      { effect: `schedule:${JOB_NAMES.expireUnbooked}`, error: fail, ...moved },
    ]);
  });

  it('reports a directory that fails while composing the booking notifications under each notification, and a failing refund notice as notify:refund', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    const slot = await f.slot();
    const getPatient = f.patients.getPatient.bind(f.patients);
    let calls = 0;
    f.patients.getPatient = async (id: string) => {
      if (calls++ === 0) return getPatient(id);
      throw new Error('directory down');
    };
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    // One delivery per recipient, each naming its notification: the directory failed for both.
    expect(f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload)).toEqual([
      {
        effect: 'notify:appointmentBooking',
        error: new Error('directory down'),
        bookingId: booking.id,
        scheduleId: slot.id,
      },
      { effect: 'notify:newBooking', error: new Error('directory down'), bookingId: booking.id, scheduleId: slot.id },
    ]);

    const g = createFixture({ outboxMaxAttempts: 1 });
    const paid = await paidBooking(g);
    await g.engine.handlePaymentEvent(g.gateway.pay(paid.sessionId));
    g.notifier.notify = async () => {
      throw new Error('smtp down');
    };
    g.events.length = 0;
    await g.engine.refund({ bookingId: paid.booking.id, amount: 100 });
    expect(g.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload)).toEqual([
      { effect: 'notify:refund', error: new Error('smtp down'), bookingId: paid.booking.id },
    ]);
  });
});
