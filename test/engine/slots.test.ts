// Slot lifecycle: publishing, end-of-slot jobs, next-day roll-over across DST, clean-up.
import { describe, expect, it } from 'vitest';
import { JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

describe('createSchedule', () => {
  it('stores the slot available with a lowercase currency and schedules its end-of-slot job', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    expect(slot).toMatchObject({ status: 'available', bookedBy: null, fee: { amount: 5000, currency: 'eur' } });
    expect(f.scheduler.pending()).toEqual([
      { name: JOB_NAMES.expireUnbooked, id: `expire-${slot.id}`, runAt: slot.endTime, data: { scheduleId: slot.id } },
    ]);
  });

  it('accepts ISO strings with an offset', async () => {
    const f = createFixture();
    const slot = await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: '2030-03-05T10:00:00+01:00',
      endTime: '2030-03-05T10:30:00+01:00',
      fee: { amount: 100, currency: 'usd' },
      timeZone: 'Europe/Paris',
    });
    expect(slot.startTime.toISOString()).toBe('2030-03-05T09:00:00.000Z');
  });

  it.each([
    ['end before start', { endTime: '2030-03-05T09:00:00Z' }, 'endTime'],
    ['start in the past', { startTime: '2020-01-01T09:00:00Z', endTime: '2020-01-01T09:30:00Z' }, 'startTime'],
    ['fractional fee', { fee: { amount: 10.5, currency: 'eur' } }, 'fee.amount'],
    ['negative fee', { fee: { amount: -1, currency: 'eur' } }, 'fee.amount'],
    ['bad currency', { fee: { amount: 100, currency: 'euro' } }, 'fee.currency'],
    ['unknown time zone', { timeZone: 'Mars/Olympus' }, 'timeZone'],
    ['operator object as doctor id', { doctorId: { $gt: '' } }, 'doctorId'],
    ['slot longer than a day', { endTime: '2030-03-07T10:00:00Z' }, 'endTime'],
  ])('rejects %s with INVALID_INPUT naming the field, and stores nothing', async (_, override, field) => {
    const f = createFixture();
    const input = {
      doctorId: DOCTOR,
      startTime: '2030-03-05T10:00:00Z',
      endTime: '2030-03-05T10:30:00Z',
      fee: { amount: 100, currency: 'eur' },
      timeZone: 'Europe/Berlin',
      ...override,
    };
    const error = await rejectionOf(f.engine.createSchedule(input as never));
    expect(error).toMatchObject({ code: 'INVALID_INPUT', status: 400 });
    expect(error.message).toContain(field);
    expect(await f.engine.listSchedules()).toEqual([]);
  });

  it('refuses a slot overlapping another live slot of the same doctor', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const error = await rejectionOf(
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: new Date(slot.startTime.getTime() + 10 * 60_000),
        endTime: new Date(slot.endTime.getTime() + 10 * 60_000),
        fee: { amount: 100, currency: 'eur' },
        timeZone: 'Europe/Berlin',
      }),
    );
    expect(error.code).toBe('SCHEDULE_UNAVAILABLE');
    // Another doctor may use the same time.
    await expect(f.slot(60, { doctorId: '64b0000000000000000000d2' })).resolves.toMatchObject({ status: 'available' });
  });

  it('lists slots by doctor, status and time window', async () => {
    const f = createFixture();
    const a = await f.slot(60);
    const b = await f.slot(120);
    await f.slot(60, { doctorId: '64b0000000000000000000d2' });
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: a.id });
    expect((await f.engine.listSchedules({ doctorId: DOCTOR })).map((s) => s.id)).toEqual([a.id, b.id]);
    expect((await f.engine.listSchedules({ doctorId: DOCTOR, status: 'available' })).map((s) => s.id)).toEqual([b.id]);
    expect((await f.engine.listSchedules({ from: b.startTime })).map((s) => s.id)).toEqual([b.id]);
    await expect(f.engine.listSchedules({ limit: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('end of slot', () => {
  it('expires an unbooked slot at its end time and creates no next-day slot by default', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.advance(89);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    await f.advance(1);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
    expect(await f.engine.listSchedules({ status: 'available' })).toEqual([]);
  });

  it('expires a booked slot, completes its booking and creates the next-day slot once even if the job runs twice', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.advance(90);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'completed' });
    expect(await f.engine.runJob(JOB_NAMES.completeBooked, { scheduleId: slot.id })).toBe('already_expired');
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('already_expired');
    const next = await f.engine.listSchedules({ status: 'available' });
    expect(next).toHaveLength(1);
    expect(next[0]).toMatchObject({
      doctorId: DOCTOR,
      startTime: new Date(slot.startTime.getTime() + 86_400_000),
      endTime: new Date(slot.endTime.getTime() + 86_400_000),
      fee: slot.fee,
      rolledOverFrom: slot.id,
    });
    expect(f.events.filter((e) => e.name === 'schedule.rolledOver')).toHaveLength(1);
  });

  it('keeps 09:00 local time across the spring-forward change (23-hour day)', async () => {
    // Europe/Berlin moves to summer time on 2030-03-31; 09:00 CET is 08:00Z, 09:00 CEST is 07:00Z.
    const f = createFixture({ start: '2030-03-29T12:00:00Z' });
    const slot = await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: '2030-03-30T08:00:00Z',
      endTime: '2030-03-30T08:30:00Z',
      fee: { amount: 100, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.set('2030-03-30T08:30:00Z');
    await f.scheduler.runDue();
    const [next] = await f.engine.listSchedules({ status: 'available' });
    expect(next?.startTime.toISOString()).toBe('2030-03-31T07:00:00.000Z');
    expect(next?.endTime.toISOString()).toBe('2030-03-31T07:30:00.000Z');
  });

  it('keeps 09:00 local time across the fall-back change in New York (25-hour day)', async () => {
    const f = createFixture({ start: '2030-11-01T12:00:00Z', rollover: 'all' });
    const slot = await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: '2030-11-02T13:00:00Z', // 09:00 EDT
      endTime: '2030-11-02T13:45:00Z',
      fee: { amount: 100, currency: 'usd' },
      timeZone: 'America/New_York',
    });
    f.clock.set(slot.endTime);
    await f.scheduler.runDue();
    const [next] = await f.engine.listSchedules({ status: 'available' });
    expect(next?.startTime.toISOString()).toBe('2030-11-03T14:00:00.000Z'); // 09:00 EST
  });

  it('rolls a slot processed days late forward to the next future day', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.advanceMinutes(90 + 3 * 24 * 60);
    await f.engine.reconcile();
    const [next] = await f.engine.listSchedules({ status: 'available' });
    expect(next?.startTime.getTime()).toBe(slot.startTime.getTime() + 4 * 86_400_000);
  });

  it('does not roll over onto a time the doctor already published', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const tomorrow = await f.slot(60 + 24 * 60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.advance(90);
    expect((await f.engine.listSchedules({ status: 'available' })).map((s) => s.id)).toEqual([tomorrow.id]);
  });

  it("creates no next-day slot with rollover 'none'", async () => {
    const f = createFixture({ rollover: 'none' });
    const slot = await f.slot(60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await f.advance(90);
    expect(await f.engine.listSchedules({ status: 'available' })).toEqual([]);
  });

  it('closes a hold that outlived its slot before expiring the slot', async () => {
    // minNoticeMinutes 0 lets a patient book 30 minutes ahead; the hold is clipped to the start.
    const f = createFixture({ holdMinutes: 120, minNoticeMinutes: 0 });
    const slot = await f.slot(30);
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    f.clock.advanceMinutes(60);
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('expired');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
    });
    expect(f.gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
  });

  it('does nothing when an end-of-slot job runs early', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('not_ended');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });
});

describe('clean-up', () => {
  it('deletes expired slots older than 7 days and keeps the booking with its copy of the times', async () => {
    const f = createFixture({ rollover: 'none' });
    const old = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: old.id });
    await f.advance(90);
    f.clock.advanceMinutes(6 * 24 * 60);
    const recent = await f.slot(60);
    await f.advance(90);
    expect(await f.engine.runJob(JOB_NAMES.cleanup)).toBe(0);
    f.clock.advanceMinutes(24 * 60);
    expect(await f.engine.runJob(JOB_NAMES.cleanup)).toBe(1);
    await expect(f.engine.getSchedule(old.id)).rejects.toMatchObject({ code: 'SCHEDULE_NOT_FOUND' });
    expect((await f.engine.getSchedule(recent.id)).status).toBe('expired');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'completed',
      slotStart: old.startTime,
      slotEnd: old.endTime,
    });
  });

  it('honours cleanupAfterDays', async () => {
    const f = createFixture({ cleanupAfterDays: 1 });
    await f.slot(60);
    await f.advance(90 + 24 * 60);
    expect(await f.engine.runJob(JOB_NAMES.cleanup)).toBe(1);
  });
});

describe('rollover across daylight saving', () => {
  async function rolledCopies(startIso: string, endIso: string, days: number, start: string) {
    const f = createFixture({ rollover: 'all', start });
    let slot = await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: startIso,
      endTime: endIso,
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });
    const copies = [];
    for (let i = 0; i < days; i++) {
      f.clock.set(new Date(slot.endTime.getTime() + 60_000));
      await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id });
      const [next] = await f.engine.listSchedules({ doctorId: DOCTOR, status: 'available' });
      if (!next) throw new Error('no copy');
      copies.push({ start: next.startTime.toISOString(), end: next.endTime.toISOString() });
      slot = next;
    }
    return copies;
  }

  it('moves a 02:30–03:30 Berlin slot past the spring-forward gap for one night, keeping its hour, then back to 02:30', async () => {
    expect(
      await rolledCopies('2030-03-30T02:30:00+01:00', '2030-03-30T03:30:00+01:00', 2, '2030-03-29T12:00:00Z'),
    ).toEqual([
      { start: '2030-03-31T01:30:00.000Z', end: '2030-03-31T02:30:00.000Z' }, // 03:30–04:30 CEST
      { start: '2030-04-01T00:30:00.000Z', end: '2030-04-01T01:30:00.000Z' }, // 02:30–03:30 CEST
    ]);
  });

  it('keeps a 02:30–03:30 Berlin slot one hour long on the fall-back night, at the first 02:30', async () => {
    expect(
      await rolledCopies('2030-10-26T02:30:00+02:00', '2030-10-26T03:30:00+02:00', 2, '2030-10-25T12:00:00Z'),
    ).toEqual([
      { start: '2030-10-27T00:30:00.000Z', end: '2030-10-27T01:30:00.000Z' }, // 02:30 CEST – 02:30 CET
      { start: '2030-10-28T01:30:00.000Z', end: '2030-10-28T02:30:00.000Z' }, // 02:30–03:30 CET
    ]);
  });
});

describe('the overlap check’s lower bound', () => {
  it('still sees a 24-hour slot that started 23 hours before the new one', async () => {
    const f = createFixture();
    const start = new Date(f.clock.now().getTime() + 3_600_000);
    await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: start,
      endTime: new Date(start.getTime() + 86_400_000),
      fee: { amount: 5000, currency: 'eur' },
      timeZone: 'Europe/Berlin',
    });
    const later = new Date(start.getTime() + 23 * 3_600_000);
    await expect(
      f.engine.createSchedule({
        doctorId: DOCTOR,
        startTime: later,
        endTime: new Date(later.getTime() + 1_800_000),
        fee: { amount: 5000, currency: 'eur' },
        timeZone: 'Europe/Berlin',
      }),
    ).rejects.toMatchObject({ code: 'SCHEDULE_UNAVAILABLE' });
  });
});
