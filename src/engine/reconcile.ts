// The sweep: finishes whatever a lost job, a lost webhook or a crash left behind.

import type { Booking, Schedule } from '../domain/entities.js';
import type { BookingQuery, KeysetCursor, ScheduleCursor, ScheduleQuery } from '../ports/booking-store.js';
import { confirmPayment } from './confirm.js';
import type { EngineContext } from './context.js';
import { settleRefund } from './refund.js';
import { releaseHold } from './release.js';
import { sweepReminders } from './reminders.js';
import { finishSlot } from './schedules.js';

export interface ReconcileReport {
  /** Pending bookings whose hold had expired and were released. */
  holdsReleased: number;
  /** Pending bookings found paid at the provider (lost webhook) and confirmed. */
  paymentsConfirmed: number;
  /** Ended slots expired or completed. */
  slotsFinished: number;
  /** Refunds left pending or failed that were sent again. */
  refundsRetried: number;
  /** Items that failed this time (reported on `effect.failed`); the next sweep tries again. */
  errors: number;
  /** Outbox deliveries made by this sweep (retries of failed ones, and any left behind). */
  outboxDelivered: number;
  /** Reminders found due and sent (a lost job, or Redis down when it was due). */
  remindersSent: number;
}

/** When each engine's previous sweep pass began (epoch ms), so a pass polls what fell due since. */
const lastPass = new WeakMap<EngineContext, number>();

/** Lets the event loop run between pages, so a long pass never blocks other requests for long. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The ages at which the sweep asks the provider about a pending booking with an open checkout (a
 * lost webhook): first at `reconcileGraceMs` or half the hold, whichever is later, then at each
 * doubling of that age. A booking whose hold expired is not asked here: releasing the hold asks
 * the provider (expiring the session) anyway. So an unpaid 15-minute hold costs two calls: one
 * at 7.5 minutes, one when it expires.
 */
export function firstPollAgeMs(ctx: EngineContext): number {
  return Math.max(ctx.options.reconcileGraceMs, (ctx.options.holdMinutes * 60_000) / 2);
}

/**
 * Whether a poll age (`first · 2^n`) falls in `(windowStart, now]` for a booking created at
 * `createdAt`: each age is polled by the one pass whose window holds it.
 */
export function pollDue(createdAt: number, windowStart: number, now: number, first: number): boolean {
  const from = windowStart - createdAt;
  const to = now - createdAt;
  if (to < first) return false;
  if (from < first) return true;
  const next = first * 2 ** (Math.floor(Math.log2(from / first)) + 1);
  return next <= to;
}

export async function reconcile(ctx: EngineContext): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    holdsReleased: 0,
    paymentsConfirmed: 0,
    slotsFinished: 0,
    refundsRetried: 0,
    errors: 0,
    outboxDelivered: 0,
    remindersSent: 0,
  };
  const now = ctx.now();
  const limit = ctx.options.batchSize;
  const graceCutoff = new Date(now.getTime() - ctx.options.reconcileGraceMs);
  // What fell due since this engine's previous pass (the first pass: in the last sweep interval).
  // Each engine polls each due age once; several processes sweeping each poll it.
  const previous = lastPass.get(ctx);
  const windowStart = previous ?? now.getTime() - ctx.options.reconcileEveryMs;
  lastPass.set(ctx, now.getTime());
  const attempt = async (name: string, ids: { bookingId?: string; scheduleId?: string }, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      report.errors++;
      ctx.reportFailure({ name: `reconcile:${name}`, ...ids }, error);
    }
  };
  /** Every booking matching `query`, page by page in (createdAt, id) order. */
  const eachBooking = async (query: BookingQuery, work: (booking: Booking) => Promise<void>) => {
    let after: KeysetCursor | undefined;
    for (;;) {
      const page = await ctx.store.findBookings({ ...query, limit, ...(after ? { after } : {}) });
      for (const booking of page) await work(booking);
      const last = page.at(-1);
      if (page.length < limit || last === undefined) return;
      after = { createdAt: last.createdAt, id: last.id };
      await yieldToEventLoop();
    }
  };
  /** Every slot matching `query`, page by page in (startTime, id) order. */
  const eachSlot = async (query: ScheduleQuery, work: (slot: Schedule) => Promise<void>) => {
    let after: ScheduleCursor | undefined;
    for (;;) {
      const page = await ctx.store.findSchedules({ ...query, limit, ...(after ? { after } : {}) });
      for (const slot of page) await work(slot);
      const last = page.at(-1);
      if (page.length < limit || last === undefined) return;
      after = { startTime: last.startTime, id: last.id };
      await yieldToEventLoop();
    }
  };

  await eachBooking({ status: 'pending', holdExpiresBefore: now }, async (booking) => {
    // A hold that expired since the previous pass (or any, on this engine's first pass) is let go
    // now; one an earlier pass could not let go (a payment still processing, a provider error) is
    // tried again at doubling intervals after its expiry, not on every pass.
    const expiredAt = (booking.holdExpiresAt as Date).getTime();
    const retry = previous !== undefined && expiredAt <= previous;
    if (retry && !pollDue(expiredAt, windowStart, now.getTime(), ctx.options.reconcileGraceMs)) return;
    await attempt('hold', { bookingId: booking.id }, async () => {
      const outcome = await releaseHold(ctx, booking.id);
      if (outcome === 'released') report.holdsReleased++;
      if (outcome === 'paid') report.paymentsConfirmed++;
    });
  });

  const first = firstPollAgeMs(ctx);
  await eachBooking({ status: 'pending', createdBefore: new Date(now.getTime() - first) }, async (booking) => {
    const sessionId = booking.checkoutSessionId;
    // No session, or money already recorded for it (being refunded): nothing to ask the provider.
    if (!sessionId || booking.paymentTransactionId !== null) return;
    // An expired hold is the hold release's to ask about; the rest on the widening schedule.
    if (booking.holdExpiresAt !== null && booking.holdExpiresAt <= now) return;
    if (!pollDue(booking.createdAt.getTime(), windowStart, now.getTime(), first)) return;
    await attempt('checkout', { bookingId: booking.id }, async () => {
      const state = await ctx.payments.retrieveCheckout({ sessionId });
      if (!state.payment) return;
      const outcome = await confirmPayment(ctx, {
        event: null,
        bookingId: booking.id,
        sessionId,
        payment: state.payment,
      });
      if (outcome === 'confirmed') report.paymentsConfirmed++;
    });
  });

  // Booked slots wait out the no-show grace before their booking completes.
  const graceEnded = new Date(now.getTime() - ctx.options.noShowGraceMinutes * 60_000);
  const finish = (schedule: Schedule) =>
    attempt('slot', { scheduleId: schedule.id }, async () => {
      const outcome = await finishSlot(ctx, schedule.id);
      if (outcome === 'expired' || outcome === 'completed') report.slotsFinished++;
    });
  await eachSlot({ status: ['available', 'pending'], endBefore: now }, finish);
  await eachSlot({ status: 'booked', endBefore: graceEnded }, finish);

  // Paged by (createdAt, id), `batchSize` payments per read, through every payment with such a
  // refund: a refund that keeps failing never hides the ones behind it.
  for (const status of ['failed', 'pending'] as const) {
    let after: KeysetCursor | undefined;
    for (;;) {
      const page = await ctx.store.findPaymentTransactions({
        refundStatus: status,
        limit,
        ...(after ? { after } : {}),
      });
      for (const payment of page) {
        for (const refund of payment.refunds) {
          if (refund.status !== status || refund.updatedAt > graceCutoff) continue;
          await attempt('refund', { bookingId: payment.bookingId }, async () => {
            await settleRefund(ctx, payment.id, refund.id);
            report.refundsRetried++;
          });
        }
      }
      const last = page.at(-1);
      if (page.length < limit || last === undefined) break;
      after = { createdAt: last.createdAt, id: last.id };
      await yieldToEventLoop();
    }
  }
  await attempt('reminders', {}, async () => {
    report.remindersSent += await sweepReminders(ctx);
  });
  await attempt('outbox', {}, async () => {
    report.outboxDelivered += (await ctx.outbox.drain()).delivered;
  });
  return report;
}
