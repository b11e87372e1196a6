// Reminders before a scheduled booking: which are due, and sending each exactly once (compare-and-set on the booking).
import type { Booking } from '../domain/entities.js';
import type { KeysetCursor } from '../ports/booking-store.js';
import type { EngineContext } from './context.js';
import { reminderNotification } from './notifications.js';
import type { Reminder } from './options.js';

const MINUTE = 60_000;

/** What a booking records once a reminder went out: the reminder and the slot time it was for. */
export const reminderKey = (r: Required<Reminder>, slotStart: Date): string =>
  `${r.beforeMinutes}:${r.channel}@${slotStart.toISOString()}`;

/**
 * When the booking got its current time: its confirmation (to scheduled from pending or null),
 * a late payment reviving it, or its last reschedule. Refund notes (scheduled → scheduled) do not count.
 */
function placedAt(booking: Booking): Date {
  for (let i = booking.history.length - 1; i >= 0; i--) {
    const h = booking.history[i];
    if (h?.to !== 'scheduled') continue;
    if (h.from !== 'scheduled' || h.reason?.startsWith('rescheduled_from:')) return h.at;
  }
  return booking.createdAt;
}

/**
 * The reminders of `booking` to send at `now`, not sent yet: each whose time (`start −
 * beforeMinutes`) has come, for a booking placed before that time. A booking placed inside a
 * reminder's window misses it: with `lateReminder: 'sendNow'` the missed one nearest the start
 * goes out at once, the others never; with `'skip'`, none of them.
 */
export function dueReminders(ctx: EngineContext, booking: Booking, now: Date): Required<Reminder>[] {
  if (booking.status !== 'scheduled' || booking.slotStart <= now) return [];
  const start = booking.slotStart.getTime();
  const placed = placedAt(booking).getTime();
  const reminders = ctx.options.reminders(booking.doctorId);
  const due = reminders.filter(
    (r) => placed <= start - r.beforeMinutes * MINUTE && now.getTime() >= start - r.beforeMinutes * MINUTE,
  );
  if (ctx.options.lateReminder === 'sendNow') {
    const missed = reminders.filter((r) => placed > start - r.beforeMinutes * MINUTE);
    const nearest = missed.reduce<Required<Reminder> | null>(
      (best, r) => (best === null || r.beforeMinutes < best.beforeMinutes ? r : best),
      null,
    );
    if (nearest) due.push(nearest);
  }
  const sent = new Set(booking.remindersSent ?? []);
  return due.filter((r) => !sent.has(reminderKey(r, booking.slotStart)));
}

/**
 * Sends the booking's due reminders: each is recorded on the booking (compare-and-set) and its
 * notification appended to the outbox in the same transaction, so two workers, a retried job
 * and the sweep together send it once. Returns how many went out.
 */
export async function sendDueReminders(ctx: EngineContext, bookingId: string): Promise<number> {
  const sent = await ctx.commit(
    async (tx) => {
      const booking = await tx.getBooking(bookingId);
      if (!booking) return [];
      const marked: { booking: Booking; reminder: Required<Reminder> }[] = [];
      for (const reminder of dueReminders(ctx, booking, ctx.now())) {
        const updated = await tx.markReminderSent({
          bookingId,
          key: reminderKey(reminder, booking.slotStart),
          slotStart: booking.slotStart,
        });
        if (updated) marked.push({ booking: updated, reminder });
      }
      return marked;
    },
    (marked) => marked.map(({ booking, reminder }) => reminderNotification(ctx, booking, reminder)),
  );
  return sent.length;
}

/**
 * The sweep's part: every scheduled booking starting within the longest reminder offset, paged
 * by (createdAt, id), gets its due reminders. Finds what a lost job or a Redis outage missed.
 */
export async function sweepReminders(ctx: EngineContext): Promise<number> {
  const horizon = ctx.options.maxReminderMinutes;
  if (horizon === 0) return 0;
  const now = ctx.now();
  const limit = ctx.options.batchSize;
  let sent = 0;
  let after: KeysetCursor | undefined;
  for (;;) {
    const page = await ctx.store.findBookings({
      status: 'scheduled',
      slotStartFrom: new Date(now.getTime() + 1),
      slotStartBefore: new Date(now.getTime() + horizon * MINUTE + 1),
      limit,
      ...(after ? { after } : {}),
    });
    for (const booking of page) {
      if (dueReminders(ctx, booking, now).length > 0) sent += await sendDueReminders(ctx, booking.id);
    }
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return sent;
    after = { createdAt: last.createdAt, id: last.id };
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
