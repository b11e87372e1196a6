// Payment use cases: confirm, fail, hold timeout, late payment, and settling refunds.
import {
  type Actor,
  type Booking,
  type PaymentTransaction,
  type RefundRecord,
  SYSTEM_ACTOR,
} from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import type { CancelReason } from '../domain/status.js';
import { formatLocal } from '../domain/time.js';
import type { StoreOperations } from '../ports/booking-store.js';
import { JOB_NAMES } from '../ports/job-scheduler.js';
import type { PaymentDetails, PaymentEvent, RefundResult } from '../ports/payment-gateway.js';
import { describeBooking, type Effect, type EngineContext, jobIds } from './context.js';
import { parseInput, paymentEventSchema } from './validation.js';

export type PaymentEventOutcome =
  | 'confirmed'
  | 'cancelled'
  | 'duplicate'
  | 'ignored'
  | 'mismatch'
  | 'late_refund'
  | 'refund_updated';

export interface PaymentEventResult {
  outcome: PaymentEventOutcome;
  bookingId: string | null;
}

/** The booking an event is about: by id from metadata, else by Checkout Session; null when unknown. */
async function resolveBooking(
  ctx: EngineContext,
  bookingId: string | null,
  sessionId: string | null,
): Promise<string | null> {
  if (bookingId) {
    try {
      const booking = await ctx.store.getBooking(bookingId);
      if (booking) return booking.id;
    } catch (error) {
      // Metadata from a provider is not ours to trust: an unparsable id is just unknown.
      if (!isBookingError(error) || error.code !== 'INVALID_INPUT') throw error;
    }
  }
  if (sessionId) {
    const [booking] = await ctx.store.findBookings({ checkoutSessionId: sessionId, limit: 1 });
    if (booking) return booking.id;
  }
  return null;
}

/** Normalized provider events: replaying one (same id) changes nothing the second time. */
export async function handlePaymentEvent(ctx: EngineContext, input: PaymentEvent): Promise<PaymentEventResult> {
  const event = parseInput(paymentEventSchema, input, 'handlePaymentEvent') as PaymentEvent;
  if (event.type === 'refund.updated') return applyRefundEvent(ctx, event);
  if (await ctx.store.hasProcessedEvent(event.id)) return { outcome: 'duplicate', bookingId: null };
  const bookingId = await resolveBooking(ctx, event.bookingId, event.sessionId);
  if (!bookingId) {
    await ctx.store.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
    ctx.emit('payment.ignored', { event, reason: 'unknown booking' });
    return { outcome: 'ignored', bookingId: null };
  }
  if (event.type === 'payment.succeeded') {
    const outcome = await confirmPayment(ctx, { event, bookingId, sessionId: event.sessionId, payment: event.payment });
    return { outcome, bookingId };
  }
  const outcome = await cancelPending(ctx, {
    bookingId,
    event,
    sessionId: event.sessionId,
    reason: event.type === 'payment.failed' ? 'payment_failed' : 'checkout_expired',
  });
  return { outcome, bookingId };
}

type ConfirmResult =
  | { kind: 'duplicate' }
  | { kind: 'mismatch'; booking: Booking }
  | { kind: 'confirmed'; booking: Booking; payment: PaymentTransaction; late: boolean }
  | { kind: 'late_refund'; booking: Booking; payment: PaymentTransaction; refundId: string };

/**
 * Money arrived for a booking. Pending: confirm. Cancelled but its slot still free and in the
 * future: confirm (late payment accepted). Otherwise: record the money and refund it in full.
 * Runs in one transaction; the payment's provider id makes it exactly-once.
 */
export async function confirmPayment(
  ctx: EngineContext,
  args: { event: PaymentEvent | null; bookingId: string; sessionId: string | null; payment: PaymentDetails },
): Promise<PaymentEventOutcome> {
  const { event, payment } = args;
  const provider = ctx.payments.provider;
  const result = await ctx.store.transaction(async (tx): Promise<ConfirmResult> => {
    const markEvent = async () => {
      if (event) await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
    };
    if (event && (await tx.hasProcessedEvent(event.id))) return { kind: 'duplicate' };
    const booking = await tx.getBooking(args.bookingId);
    if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
    if (await tx.findPaymentTransaction({ provider, providerPaymentId: payment.paymentId })) {
      await markEvent();
      return { kind: 'duplicate' };
    }
    if (payment.amount !== booking.price.amount || payment.currency !== booking.price.currency) {
      await markEvent();
      return { kind: 'mismatch', booking };
    }
    const now = ctx.now();
    const slot = await tx.getSchedule(booking.scheduleId);
    // Only a booking released for want of payment may be revived by money; one a person
    // cancelled stays cancelled and the money goes back.
    const late =
      booking.status === 'cancelled' && PAYMENT_RELEASE_REASONS.includes(booking.cancelReason ?? 'by_patient');
    const claimable =
      slot !== null &&
      ((booking.status === 'pending' && slot.status === 'pending') ||
        (late && slot.status === 'available' && slot.startTime > now));
    if (claimable) {
      const paymentRecord = await insertPayment(tx, provider, booking, args.sessionId, payment, true);
      const claimed = await tx.updateScheduleIf({
        id: slot.id,
        expectedStatus: slot.status,
        set: { status: 'booked', bookedBy: booking.patientId },
      });
      const confirmed = claimed
        ? await tx.updateBookingIf({
            id: booking.id,
            expectedStatus: booking.status,
            set: {
              status: 'scheduled',
              paymentStatus: 'paid',
              cancelReason: null,
              holdExpiresAt: null,
              paymentTransactionId: paymentRecord.id,
            },
            history: ctx.history(
              booking.status,
              'scheduled',
              'paid',
              SYSTEM_ACTOR,
              late ? 'late_payment_accepted' : 'payment_succeeded',
            ),
          })
        : null;
      // Both were checked in this transaction; failing here means the store broke isolation.
      if (!confirmed)
        throw new BookingError(
          'STORE_ERROR',
          `Could not confirm booking ${booking.id}: state changed inside a transaction`,
        );
      await tx.appendLedgerEntry({
        key: `credit:${booking.id}`,
        doctorId: booking.doctorId,
        bookingId: booking.id,
        kind: 'credit',
        amount: payment.amount,
        currency: payment.currency,
        createdAt: now,
      });
      await markEvent();
      return { kind: 'confirmed', booking: confirmed, payment: paymentRecord, late };
    }
    // The slot went to someone else, ended, or this booking is already paid: give the money back.
    const refundId = `late-${booking.id}-${payment.paymentId}`.slice(0, 255);
    const paymentRecord = await insertPayment(tx, provider, booking, args.sessionId, payment, false, {
      id: refundId,
      amount: payment.amount,
      status: 'pending',
      providerRefundId: null,
      reason: 'late_payment',
      failureMessage: null,
      createdAt: now,
      updatedAt: now,
    });
    let current = booking;
    if (booking.paymentTransactionId === null) {
      current =
        (await tx.updateBookingIf({
          id: booking.id,
          expectedStatus: booking.status,
          set: { paymentTransactionId: paymentRecord.id, paymentStatus: 'paid' },
        })) ?? booking;
    }
    await markEvent();
    return { kind: 'late_refund', booking: current, payment: paymentRecord, refundId };
  });

  switch (result.kind) {
    case 'duplicate':
      return 'duplicate';
    case 'mismatch':
      if (event) ctx.emit('payment.mismatch', { event, booking: result.booking });
      return 'mismatch';
    case 'late_refund':
      await ctx.runEffects([
        ctx.emitEffect('payment.lateRefund', { booking: result.booking, payment: result.payment }),
        {
          name: 'refund:late_payment',
          bookingId: result.booking.id,
          run: () => settleRefund(ctx, result.payment.id, result.refundId),
        },
      ]);
      return 'late_refund';
    case 'confirmed':
      await ctx.runEffects(confirmationEffects(ctx, result.booking, result.payment));
      return 'confirmed';
  }
}

async function insertPayment(
  tx: StoreOperations,
  provider: string,
  booking: Booking,
  sessionId: string | null,
  payment: PaymentDetails,
  credited: boolean,
  refund?: RefundRecord,
): Promise<PaymentTransaction> {
  const record = await tx.insertPaymentTransaction({
    bookingId: booking.id,
    provider,
    providerPaymentId: payment.paymentId,
    checkoutSessionId: sessionId ?? booking.checkoutSessionId,
    amount: payment.amount,
    currency: payment.currency,
    credited,
    refunds: refund ? [refund] : [],
  });
  if (!record) throw new BookingError('STORE_ERROR', `Payment ${payment.paymentId} was recorded concurrently`);
  return record;
}

/** After a booking becomes scheduled (paid or free): jobs, notifications, events. */
export function confirmationEffects(
  ctx: EngineContext,
  booking: Booking,
  payment: PaymentTransaction | null,
): Effect[] {
  const ids = { bookingId: booking.id, scheduleId: booking.scheduleId };
  const { notificationTypes, adminId } = ctx.options;
  return [
    ctx.cancelJob(JOB_NAMES.holdTimeout, jobIds.hold(booking.id), ids),
    ctx.scheduleJob(
      {
        name: JOB_NAMES.completeBooked,
        id: jobIds.complete(booking.scheduleId),
        runAt: booking.slotEnd,
        data: { scheduleId: booking.scheduleId },
      },
      ids,
    ),
    ctx.cancelJob(JOB_NAMES.expireUnbooked, jobIds.expire(booking.scheduleId), ids),
    ctx.emitEffect('booking.confirmed', { booking, payment }),
    {
      name: 'notify:booking',
      ...ids,
      run: async () => {
        const patient = await ctx.patients.getPatient(booking.patientId);
        const who = patient?.name ?? booking.patientId;
        const when = formatLocal(booking.slotStart, booking.timeZone);
        const data = describeBooking(booking);
        await ctx.runEffects([
          ctx.notify(
            {
              type: notificationTypes.doctorBooking,
              recipient: { role: 'doctor', id: booking.doctorId },
              title: 'New appointment',
              message: `Patient ${who} booked ${when}`,
              data,
            },
            booking.id,
          ),
          ctx.notify(
            {
              type: notificationTypes.adminBooking,
              recipient: { role: 'admin', id: adminId },
              title: 'New booking',
              message: `New booking: patient ${who} with doctor ${booking.doctorId} at ${when}`,
              data,
            },
            booking.id,
          ),
        ]);
      },
    },
  ];
}

const PAYMENT_RELEASE_REASONS: readonly CancelReason[] = [
  'payment_timeout',
  'payment_failed',
  'checkout_expired',
  'payment_provider_error',
];

/**
 * Ends a pending booking that will not be paid: booking cancelled, slot available again.
 * A booking that is no longer pending (paid meanwhile, events out of order) is left alone.
 */
export async function cancelPending(
  ctx: EngineContext,
  args: {
    bookingId: string;
    event: PaymentEvent | null;
    sessionId: string | null;
    reason: CancelReason;
    actor?: Actor;
    /** Set by the hold-timeout job itself: removing its own (running, locked) job is a wasted queue call. */
    inHoldJob?: boolean;
  },
): Promise<'cancelled' | 'duplicate' | 'ignored'> {
  const { event, reason } = args;
  const actor = args.actor ?? SYSTEM_ACTOR;
  const result = await ctx.store.transaction(async (tx) => {
    if (event && (await tx.hasProcessedEvent(event.id))) return { kind: 'duplicate' as const };
    const markEvent = async () => {
      if (event) await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
    };
    const booking = await tx.getBooking(args.bookingId);
    const staleSession =
      args.sessionId !== null && booking?.checkoutSessionId != null && booking.checkoutSessionId !== args.sessionId;
    if (booking?.status !== 'pending' || staleSession) {
      await markEvent();
      return { kind: 'ignored' as const, reason: staleSession ? 'stale checkout session' : 'booking is not pending' };
    }
    const paymentStatus = reason === 'payment_failed' ? 'failed' : 'unpaid';
    const cancelled = await tx.updateBookingIf({
      id: booking.id,
      expectedStatus: 'pending',
      set: { status: 'cancelled', paymentStatus, cancelReason: reason, holdExpiresAt: null },
      history: ctx.history('pending', 'cancelled', paymentStatus, actor, reason),
    });
    if (!cancelled) return { kind: 'ignored' as const, reason: 'booking is not pending' };
    const released = await tx.updateScheduleIf({
      id: booking.scheduleId,
      expectedStatus: 'pending',
      set: { status: 'available', bookedBy: null },
    });
    await markEvent();
    return { kind: 'cancelled' as const, booking: cancelled, released };
  });

  if (result.kind === 'duplicate') return 'duplicate';
  if (result.kind === 'ignored') {
    if (event) ctx.emit('payment.ignored', { event, reason: result.reason });
    return 'ignored';
  }
  const { booking, released } = result;
  const ids = { bookingId: booking.id, scheduleId: booking.scheduleId };
  const effects: Effect[] = [
    ...(args.inHoldJob ? [] : [ctx.cancelJob(JOB_NAMES.holdTimeout, jobIds.hold(booking.id), ids)]),
    ctx.emitEffect('booking.cancelled', { booking, reason }),
    ctx.notify(
      {
        type: ctx.options.notificationTypes.cancelled,
        recipient: { role: 'patient', id: booking.patientId },
        title: PAYMENT_RELEASE_REASONS.includes(reason) ? 'Appointment not booked' : 'Appointment cancelled',
        message: PAYMENT_RELEASE_REASONS.includes(reason)
          ? `Your appointment at ${formatLocal(booking.slotStart, booking.timeZone)} was not booked: ${reason.replaceAll('_', ' ')}`
          : `Your appointment at ${formatLocal(booking.slotStart, booking.timeZone)} was cancelled (${reason.replaceAll('_', ' ')})`,
        data: { ...describeBooking(booking), reason },
      },
      booking.id,
    ),
  ];
  if (released)
    effects.push(ctx.emitEffect('schedule.released', { schedule: released, bookingId: booking.id, reason }));
  await ctx.runEffects(effects);
  return 'cancelled';
}

export type ReleaseOutcome = 'released' | 'paid' | 'processing' | 'not_pending' | 'not_due';

/**
 * The hold-timeout job: expire the Checkout Session first (Stripe keeps it open for at least
 * 30 minutes), then release the slot. If the provider says it was paid meanwhile, the
 * payment wins. Provider errors propagate so a queue retries; the sweep also retries.
 * `processing` (a delayed payment still settling) and `not_due` end the job normally on
 * purpose: the async webhook or a later sweep finishes the booking.
 */
export async function releaseHold(
  ctx: EngineContext,
  bookingId: string,
  options: { force?: boolean; inHoldJob?: boolean } = {},
): Promise<ReleaseOutcome> {
  const booking = await ctx.store.getBooking(bookingId);
  if (booking?.status !== 'pending') return 'not_pending';
  if (!options.force && booking.holdExpiresAt !== null && booking.holdExpiresAt > ctx.now()) return 'not_due';
  const closed = await closeCheckout(ctx, booking);
  if (closed !== 'closed') return closed;
  const outcome = await cancelPending(ctx, {
    bookingId: booking.id,
    event: null,
    sessionId: booking.checkoutSessionId,
    reason: 'payment_timeout',
    inHoldJob: options.inHoldJob ?? false,
  });
  return outcome === 'cancelled' ? 'released' : 'not_pending';
}

/**
 * Closes a pending booking's Checkout Session before its hold is let go. `paid`: the patient
 * paid meanwhile and the booking is now confirmed; `processing`: a delayed payment is still
 * settling; `closed`: nobody can pay any more (or there was no session).
 */
export async function closeCheckout(ctx: EngineContext, booking: Booking): Promise<'closed' | 'paid' | 'processing'> {
  const sessionId = booking.checkoutSessionId;
  if (!sessionId) return 'closed';
  const closed = await ctx.payments.expireCheckout({ sessionId });
  if (closed.outcome === 'paid') {
    await confirmPayment(ctx, { event: null, bookingId: booking.id, sessionId, payment: closed.payment });
    return 'paid';
  }
  return closed.outcome === 'processing' ? 'processing' : 'closed';
}

/**
 * Records a provider's answer about a refund, exactly once: the first time a refund is seen
 * as succeeded, the doctor's wallet is debited (when the payment had been credited) and the
 * booking's refunded total and payment status move.
 */
async function recordRefundOutcome(
  ctx: EngineContext,
  tx: StoreOperations,
  paymentTransactionId: string,
  update: { refund: RefundRecord },
): Promise<{ payment: PaymentTransaction; refund: RefundRecord; succeededNow: boolean } | null> {
  const payment = await tx.getPaymentTransaction(paymentTransactionId);
  if (!payment) return null;
  const previous = payment.refunds.find((r) => r.id === update.refund.id);
  if (previous?.status === 'succeeded') return { payment, refund: previous, succeededNow: false };
  const refund: RefundRecord = {
    ...update.refund,
    providerRefundId: update.refund.providerRefundId ?? previous?.providerRefundId ?? null,
    createdAt: previous?.createdAt ?? update.refund.createdAt,
  };
  const saved = await tx.upsertRefund({ paymentTransactionId, refund });
  if (!saved) return null;
  const succeededNow = refund.status === 'succeeded';
  if (succeededNow) {
    const booking = await tx.getBooking(payment.bookingId);
    if (payment.credited && booking) {
      await tx.appendLedgerEntry({
        key: `refund:${refund.id}`,
        doctorId: booking.doctorId,
        bookingId: booking.id,
        kind: 'debit',
        amount: refund.amount,
        currency: payment.currency,
        createdAt: ctx.now(),
      });
    }
    if (booking && booking.paymentTransactionId === payment.id) {
      const amountRefunded = booking.amountRefunded + refund.amount;
      const paymentStatus = amountRefunded >= payment.amount ? 'refunded' : 'partially_refunded';
      await tx.updateBookingIf({
        id: booking.id,
        expectedStatus: booking.status,
        set: { amountRefunded, paymentStatus },
        history: ctx.history(booking.status, booking.status, paymentStatus, SYSTEM_ACTOR, refund.reason ?? 'refund'),
      });
    }
  }
  return { payment: saved, refund, succeededNow };
}

function refundEffects(ctx: EngineContext, payment: PaymentTransaction, refund: RefundRecord): Effect[] {
  return [
    ctx.emitEffect('refund.succeeded', { payment, refund }),
    {
      name: 'notify:refund',
      bookingId: payment.bookingId,
      run: async () => {
        const booking = await ctx.store.getBooking(payment.bookingId);
        if (!booking) return;
        await ctx.notifier.notify({
          type: ctx.options.notificationTypes.refunded,
          recipient: { role: 'patient', id: booking.patientId },
          title: 'Payment refunded',
          message: `${(refund.amount / 100).toFixed(2)} ${payment.currency.toUpperCase()} was refunded for your appointment at ${formatLocal(booking.slotStart, booking.timeZone)}`,
          data: {
            ...describeBooking(booking),
            refundId: refund.id,
            amount: String(refund.amount),
            currency: payment.currency,
          },
        });
      },
    },
  ];
}

/**
 * Asks the provider to make a refund already recorded as pending or failed, with the
 * refund's id as idempotency key (so retries never refund twice), and records the answer.
 */
export async function settleRefund(
  ctx: EngineContext,
  paymentTransactionId: string,
  refundId: string,
): Promise<RefundRecord | null> {
  const payment = await ctx.store.getPaymentTransaction(paymentTransactionId);
  const refund = payment?.refunds.find((r) => r.id === refundId);
  if (!payment || !refund) return null;
  if (refund.status === 'succeeded') return refund;
  let answer: RefundResult;
  try {
    answer = await ctx.payments.refund({
      bookingId: payment.bookingId,
      paymentId: payment.providerPaymentId,
      amount: refund.amount,
      currency: payment.currency,
      idempotencyKey: refund.id,
      ...(refund.reason === null ? {} : { reason: refund.reason }),
    });
  } catch (error) {
    const failed: RefundRecord = {
      ...refund,
      status: 'failed',
      failureMessage: error instanceof Error ? error.message : String(error),
      updatedAt: ctx.now(),
    };
    const saved = await ctx.store.transaction((tx) => recordRefundOutcome(ctx, tx, payment.id, { refund: failed }));
    ctx.emit('refund.failed', { payment: saved?.payment ?? payment, refund: saved?.refund ?? failed, error });
    return saved?.refund ?? failed;
  }
  const next: RefundRecord = {
    ...refund,
    status: answer.status,
    providerRefundId: answer.providerRefundId,
    failureMessage: answer.status === 'failed' ? 'refused by the payment provider' : null,
    updatedAt: ctx.now(),
  };
  const saved = await ctx.store.transaction((tx) => recordRefundOutcome(ctx, tx, payment.id, { refund: next }));
  if (!saved) return null;
  if (saved.succeededNow) await ctx.runEffects(refundEffects(ctx, saved.payment, saved.refund));
  if (saved.refund.status === 'failed') {
    ctx.emit('refund.failed', {
      payment: saved.payment,
      refund: saved.refund,
      error: new Error('refused by the payment provider'),
    });
  }
  return saved.refund;
}

/**
 * A refund event from the provider: matches a refund careslot made (by its id or the
 * provider's) or records one made elsewhere (e.g. the Stripe dashboard), debiting once.
 */
async function applyRefundEvent(
  ctx: EngineContext,
  event: Extract<PaymentEvent, { type: 'refund.updated' }>,
): Promise<PaymentEventResult> {
  const result = await ctx.store.transaction(async (tx) => {
    if (await tx.hasProcessedEvent(event.id)) return { kind: 'duplicate' as const };
    await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
    const payment = await tx.findPaymentTransaction({
      provider: ctx.payments.provider,
      providerPaymentId: event.paymentId,
    });
    if (!payment) return { kind: 'ignored' as const, bookingId: null, reason: 'unknown payment' };
    if (event.currency !== payment.currency) {
      return {
        kind: 'ignored' as const,
        bookingId: payment.bookingId,
        reason: 'refund currency differs from the payment',
      };
    }
    const existing = payment.refunds.find(
      (r) => (event.refundId !== null && r.id === event.refundId) || r.providerRefundId === event.providerRefundId,
    );
    const now = ctx.now();
    const refund: RefundRecord = existing
      ? { ...existing, status: event.status, providerRefundId: event.providerRefundId, updatedAt: now }
      : {
          id: `ext-${event.providerRefundId}`,
          amount: event.amount,
          status: event.status,
          providerRefundId: event.providerRefundId,
          reason: 'provider_refund',
          failureMessage: null,
          createdAt: now,
          updatedAt: now,
        };
    const saved = await recordRefundOutcome(ctx, tx, payment.id, { refund });
    return { kind: 'applied' as const, saved, bookingId: payment.bookingId };
  });
  if (result.kind === 'duplicate') return { outcome: 'duplicate', bookingId: null };
  if (result.kind === 'ignored') {
    ctx.emit('payment.ignored', { event, reason: result.reason });
    return { outcome: 'ignored', bookingId: result.bookingId };
  }
  if (result.saved?.succeededNow) await ctx.runEffects(refundEffects(ctx, result.saved.payment, result.saved.refund));
  return { outcome: 'refund_updated', bookingId: result.bookingId };
}
