// Reminders on real Redis: two workers, a lost job and Redis stopped when a reminder is due; each reminder goes out once.
import { expect, it } from 'vitest';
import { type Booking, EventEmitterNotifier, JOB_NAMES, type Notification } from '../../src/index.js';
import { describeWithRedis, sleep, useRedisEnv, VISE_PATIENT, waitFor } from './harness.js';

/** The slot starts 61.5 s from now, so its one-minute reminder is due in 1.5 s. */
const START_IN_MS = 61_500;

describeWithRedis('reminders through BullMQ', () => {
  const redis = useRedisEnv();

  async function openWithReminders() {
    const notifier = new EventEmitterNotifier();
    const sent: Notification[] = [];
    notifier.on('notification', (n) => {
      if (n.type === 'appointmentReminder') sent.push(n);
    });
    const env = await redis.open({ engine: { notifier, reminders: [{ beforeMinutes: 1 }] } });
    const slot = await env.slot(START_IN_MS, 600_000);
    const { booking } = await env.engine.book({ patientId: VISE_PATIENT, scheduleId: slot.id });
    return { env, sent, booking };
  }

  it('two workers on one queue send the reminder once, and the sweep after it changes nothing', async () => {
    const { env, sent, booking } = await openWithReminders();
    env.worker({ concurrency: 3 });
    env.worker({ concurrency: 3 });
    await waitFor('the reminder', () => sent.length > 0, 10_000);
    await sleep(300);
    await env.engine.reconcile();
    await env.engine.runJob(JOB_NAMES.reminder, { bookingId: booking.id });
    expect(sent.map((n) => n.data.bookingId)).toEqual([booking.id]);
    expect((await env.engine.getBooking(booking.id)).remindersSent).toHaveLength(1);
  });

  it('a lost job: the sweep sends the reminder once it is due', async () => {
    const { env, sent, booking } = await openWithReminders();
    const queued = (await env.scheduler.queue.getJobs(['delayed', 'waiting'])).filter(
      (j) => j.name === JOB_NAMES.reminder,
    );
    expect(queued).toHaveLength(1);
    for (const job of queued) await job.remove();
    env.worker();
    await sleep(2_000);
    expect(sent).toEqual([]);
    expect((await env.engine.reconcile()).remindersSent).toBe(1);
    await env.engine.reconcile();
    expect(sent.map((n) => n.data.bookingId)).toEqual([booking.id]);
  });

  it('Redis stopped when the reminder is due: the sweep sends it, and the job run after the restart does not again', async () => {
    const { env, sent, booking } = await openWithReminders();
    await env.server.stop();
    await sleep(1_800);
    expect((await env.engine.reconcile()).remindersSent).toBe(1);
    await env.server.restart();
    env.worker();
    await waitFor(
      'the reminder job to run',
      async () => {
        const jobs = await env.scheduler.queue.getJobs(['delayed', 'waiting', 'active']);
        return !jobs.some((j) => j.name === JOB_NAMES.reminder);
      },
      10_000,
    );
    await sleep(300);
    const current: Booking = await env.engine.getBooking(booking.id);
    expect(current.remindersSent).toHaveLength(1);
    expect(sent.map((n) => n.data.bookingId)).toEqual([booking.id]);
  });
});
