// Reminders through the public API with a ManualClock: each offset once, moved by reschedule, dropped by cancel, late bookings, lost jobs.
import { describe, expect, it } from 'vitest';
import { type BookingEngineOptions, JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, OTHER_DOCTOR, PATIENTS } from '../support/engine-fixture.js';

const REMINDERS: BookingEngineOptions['reminders'] = [{ beforeMinutes: 1440 }, { beforeMinutes: 120, channel: 'sms' }];
const DAY = 24 * 60;

const reminders = (f: Fixture) => f.notifications.filter((n) => n.type === 'appointmentReminder');
const offsets = (f: Fixture) => reminders(f).map((n) => `${n.data.beforeMinutes}:${n.data.channel}`);

async function paidBooking(f: Fixture, startInMinutes: number, doctorId = DOCTOR) {
  const slot = await f.slot(startInMinutes, { doctorId });
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return f.engine.getBooking(booking.id);
}

/** Moves the clock to `minutesBefore` the booking's start and runs what became due. */
async function until(f: Fixture, start: Date, minutesBefore: number) {
  const target = start.getTime() - minutesBefore * 60_000;
  await f.advance((target - f.clock.now().getTime()) / 60_000);
}

describe('reminders', () => {
  it('sends each reminder at its offset, once, with the data a notifier renders', async () => {
    const f = createFixture({ reminders: REMINDERS });
    const booking = await paidBooking(f, 3 * DAY);
    await until(f, booking.slotStart, 1441);
    expect(reminders(f)).toEqual([]);
    await until(f, booking.slotStart, 1440);
    expect(reminders(f)).toEqual([
      {
        type: 'appointmentReminder',
        recipient: { role: 'patient', id: PATIENTS.standard },
        title: 'Appointment reminder',
        message: expect.stringContaining('Reminder: your appointment is at'),
        data: expect.objectContaining({
          bookingId: booking.id,
          startTime: booking.slotStart.toISOString(),
          timeZone: 'Europe/Berlin',
          beforeMinutes: '1440',
          channel: 'default',
        }),
      },
    ]);
    await until(f, booking.slotStart, 120);
    expect(offsets(f)).toEqual(['1440:default', '120:sms']);
    // Nothing more: not at the start, not from the sweep, not from the jobs run again.
    await f.engine.reconcile();
    await f.engine.runJob(JOB_NAMES.reminder, { bookingId: booking.id });
    await until(f, booking.slotStart, 0);
    expect(offsets(f)).toEqual(['1440:default', '120:sms']);
    expect((await f.engine.getBooking(booking.id)).remindersSent).toEqual([
      `1440:default@${booking.slotStart.toISOString()}`,
      `120:sms@${booking.slotStart.toISOString()}`,
    ]);
  });

  it('a free booking is reminded too; a doctor may have their own reminders', async () => {
    const f = createFixture({ reminders: REMINDERS, doctorReminders: { [OTHER_DOCTOR]: [{ beforeMinutes: 30 }] } });
    const slot = await f.slot(2 * DAY);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const other = await paidBooking(f, 2 * DAY + 60, OTHER_DOCTOR);
    await until(f, booking.slotStart, 120);
    expect(reminders(f).map((n) => [n.data.bookingId, n.data.beforeMinutes])).toEqual([
      [booking.id, '1440'],
      [booking.id, '120'],
    ]);
    await until(f, other.slotStart, 30);
    expect(
      reminders(f)
        .map((n) => [n.data.bookingId, n.data.beforeMinutes])
        .at(-1),
    ).toEqual([other.id, '30']);
    expect(reminders(f)).toHaveLength(3);
  });

  it('moves with a reschedule: nothing at the old times, each reminder at the new ones', async () => {
    const f = createFixture({ reminders: REMINDERS });
    const booking = await paidBooking(f, 3 * DAY);
    const later = await f.slot(5 * DAY);
    await f.engine.reschedule({
      bookingId: booking.id,
      newScheduleId: later.id,
      actor: { role: 'patient', id: PATIENTS.standard },
    });
    await until(f, booking.slotStart, 0);
    expect(reminders(f)).toEqual([]);
    await until(f, later.startTime, 120);
    expect(reminders(f).map((n) => [n.data.startTime, n.data.beforeMinutes])).toEqual([
      [later.startTime.toISOString(), '1440'],
      [later.startTime.toISOString(), '120'],
    ]);
  });

  it('is dropped by a cancellation, jobs included', async () => {
    const f = createFixture({ reminders: REMINDERS });
    const booking = await paidBooking(f, 3 * DAY);
    expect(f.scheduler.pending().filter((j) => j.name === JOB_NAMES.reminder)).toHaveLength(2);
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'doctor', id: DOCTOR } });
    expect(f.scheduler.pending().filter((j) => j.name === JOB_NAMES.reminder)).toEqual([]);
    await until(f, booking.slotStart, 0);
    await f.engine.reconcile();
    expect(reminders(f)).toEqual([]);
  });

  it('goes out once when its job was lost: the sweep finds it; jobs and sweeps racing still send it once', async () => {
    const f = createFixture({ reminders: REMINDERS });
    const booking = await paidBooking(f, 3 * DAY);
    for (const job of f.scheduler.pending().filter((j) => j.name === JOB_NAMES.reminder)) {
      await f.scheduler.cancel({ name: job.name, id: job.id });
    }
    await until(f, booking.slotStart, 1400);
    expect(reminders(f)).toEqual([]);
    expect((await f.engine.reconcile()).remindersSent).toBe(1);
    expect(offsets(f)).toEqual(['1440:default']);
    await until(f, booking.slotStart, 100);
    await Promise.all([
      f.engine.runJob(JOB_NAMES.reminder, { bookingId: booking.id }),
      f.engine.runJob(JOB_NAMES.reminder, { bookingId: booking.id }),
      f.engine.reconcile(),
      f.engine.reconcile(),
    ]);
    expect(offsets(f)).toEqual(['1440:default', '120:sms']);
  });

  describe('a booking made inside a reminder window', () => {
    it("skips the reminders it missed by default ('skip')", async () => {
      const f = createFixture({ reminders: REMINDERS });
      const booking = await paidBooking(f, 100);
      await f.engine.reconcile();
      await until(f, booking.slotStart, 0);
      expect(reminders(f)).toEqual([]);
    });

    it("'sendNow' sends the missed one nearest the start at once, and never the others", async () => {
      const f = createFixture({ reminders: REMINDERS, lateReminder: 'sendNow' });
      const booking = await paidBooking(f, 100);
      await f.advance(0);
      expect(offsets(f)).toEqual(['120:sms']);
      await f.engine.reconcile();
      await until(f, booking.slotStart, 0);
      expect(offsets(f)).toEqual(['120:sms']);
    });

    it('a booking placed between two reminders gets the later one on time', async () => {
      const f = createFixture({ reminders: REMINDERS });
      const booking = await paidBooking(f, 600);
      await until(f, booking.slotStart, 120);
      expect(offsets(f)).toEqual(['120:sms']);
    });
  });
});
