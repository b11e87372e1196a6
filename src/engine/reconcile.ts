// The sweep: finishes whatever a lost job, a lost webhook or a crash left behind.

import type { KeysetCursor } from '../ports/booking-store.js';
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
  const attempt = async (name: string, ids: { bookingId?: string; scheduleId?: string }, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      report.errors++;
      ctx.reportFailure({ name: `reconcile:${name}`, ...ids }, error);
    }
  };

  for (const booking of await ctx.store.findBookings({ status: 'pending', holdExpiresBefore: now, limit })) {
    await attempt('hold', { bookingId: booking.id }, async () => {
      const outcome = await releaseHold(ctx, booking.id);
      if (outcome === 'released') report.holdsReleased++;
      if (outcome === 'paid') report.paymentsConfirmed++;
    });
  }

  for (const booking of await ctx.store.findBookings({ status: 'pending', createdBefore: graceCutoff, limit })) {
    const sessionId = booking.checkoutSessionId;
    // No session, or money already recorded for it (being refunded): nothing to ask the provider.
    if (!sessionId || booking.paymentTransactionId !== null) continue;
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
  }

  // Booked slots wait out the no-show grace before their booking completes.
  const graceEnded = new Date(now.getTime() - ctx.options.noShowGraceMinutes * 60_000);
  const ended = [
    ...(await ctx.store.findSchedules({ status: ['available', 'pending'], endBefore: now, limit })),
    ...(await ctx.store.findSchedules({ status: 'booked', endBefore: graceEnded, limit })),
  ];
  for (const schedule of ended) {
    await attempt('slot', { scheduleId: schedule.id }, async () => {
      const outcome = await finishSlot(ctx, schedule.id);
      if (outcome === 'expired' || outcome === 'completed') report.slotsFinished++;
    });
  }

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
