// Every notification careslot sends: who hears what, and the structured data a host's notifier renders.
import type { Booking, Notification, PaymentTransaction, RefundRecord, Schedule } from '../domain/entities.js';
import { formatMoney } from '../domain/money.js';
import { type CancelReason, isPaymentRelease } from '../domain/status.js';
import { formatLocal } from '../domain/time.js';
import type { Effect, EngineContext } from './context.js';

/** The ids and start every notification about a booking carries in `data`. */
export function describeBooking(booking: Booking): Record<string, string> {
  return {
    bookingId: booking.id,
    scheduleId: booking.scheduleId,
    doctorId: booking.doctorId,
    patientId: booking.patientId,
    startTime: booking.slotStart.toISOString(),
  };
}

function notify(notification: Notification, bookingId: string): Effect {
  return { name: `notify:${notification.type}`, bookingId, spec: { kind: 'notify', notification } };
}

const words = (reason: string) => reason.replaceAll('_', ' ');
const PARTIES = ['patient', 'doctor'] as const;
const partyId = (booking: Booking, role: (typeof PARTIES)[number]) =>
  role === 'patient' ? booking.patientId : booking.doctorId;

/** A booking became scheduled: the doctor ("Patient X booked …") and the admin hear of it, one delivery each. */
export function bookedNotifications(ctx: EngineContext, booking: Booking): Effect[] {
  const { doctorBooking, adminBooking } = ctx.options.notificationTypes;
  return (['doctor', 'admin'] as const).map((recipient) => ({
    name: `notify:${recipient === 'doctor' ? doctorBooking : adminBooking}`,
    bookingId: booking.id,
    scheduleId: booking.scheduleId,
    spec: { kind: 'notify.booked', booking, recipient },
  }));
}

/** The doctor's or the admin's "new booking" notification, with the patient's name looked up now. */
export async function renderBooked(
  ctx: EngineContext,
  booking: Booking,
  recipient: 'doctor' | 'admin',
): Promise<Notification> {
  const { notificationTypes, adminId } = ctx.options;
  const patient = await ctx.patients.getPatient(booking.patientId);
  const who = patient?.name ?? booking.patientId;
  const when = formatLocal(booking.slotStart, booking.timeZone);
  const data = describeBooking(booking);
  return recipient === 'doctor'
    ? {
        type: notificationTypes.doctorBooking,
        recipient: { role: 'doctor', id: booking.doctorId },
        title: 'New appointment',
        message: `Patient ${who} booked ${when}`,
        data,
      }
    : {
        type: notificationTypes.adminBooking,
        recipient: { role: 'admin', id: adminId },
        title: 'New booking',
        message: `New booking: patient ${who} with doctor ${booking.doctorId} at ${when}`,
        data,
      };
}

/** A pending booking ended: the patient hears it was not booked (no payment) or was cancelled. */
export function pendingEndedNotification(ctx: EngineContext, booking: Booking, reason: CancelReason): Effect {
  const when = formatLocal(booking.slotStart, booking.timeZone);
  const unpaid = isPaymentRelease(reason);
  return notify(
    {
      type: ctx.options.notificationTypes.cancelled,
      recipient: { role: 'patient', id: booking.patientId },
      title: unpaid ? 'Appointment not booked' : 'Appointment cancelled',
      message: unpaid
        ? `Your appointment at ${when} was not booked: ${words(reason)}`
        : `Your appointment at ${when} was cancelled (${words(reason)})`,
      data: { ...describeBooking(booking), reason },
    },
    booking.id,
  );
}

/** A scheduled booking was cancelled: patient and doctor hear of it. */
export function cancelledNotifications(ctx: EngineContext, booking: Booking, reason: CancelReason): Effect[] {
  const when = formatLocal(booking.slotStart, booking.timeZone);
  const data = { ...describeBooking(booking), reason };
  return PARTIES.map((role) =>
    notify(
      {
        type: ctx.options.notificationTypes.cancelled,
        recipient: { role, id: partyId(booking, role) },
        title: 'Appointment cancelled',
        message: `${role === 'patient' ? 'Your' : 'The'} appointment at ${when} was cancelled (${words(reason)})`,
        data,
      },
      booking.id,
    ),
  );
}

/** Money went back: the patient hears how much. The booking is read at delivery for its times. */
export function refundedNotification(payment: PaymentTransaction, refund: RefundRecord): Effect {
  return { name: 'notify:refund', bookingId: payment.bookingId, spec: { kind: 'notify.refunded', payment, refund } };
}

/** The patient's refund notice; null when the booking is gone. */
export async function renderRefunded(
  ctx: EngineContext,
  payment: PaymentTransaction,
  refund: RefundRecord,
): Promise<Notification | null> {
  const booking = await ctx.store.getBooking(payment.bookingId);
  if (!booking) return null;
  const amount = formatMoney({ amount: refund.amount, currency: payment.currency });
  return {
    type: ctx.options.notificationTypes.refunded,
    recipient: { role: 'patient', id: booking.patientId },
    title: 'Payment refunded',
    message: `${amount} was refunded for your appointment at ${formatLocal(booking.slotStart, booking.timeZone)}`,
    data: {
      ...describeBooking(booking),
      refundId: refund.id,
      amount: String(refund.amount),
      currency: payment.currency,
    },
  };
}

/** A booking moved to another slot: patient and doctor hear from when to when. */
export function rescheduledNotifications(ctx: EngineContext, booking: Booking, from: Schedule, to: Schedule): Effect[] {
  const message = `The appointment moved from ${formatLocal(from.startTime, from.timeZone)} to ${formatLocal(to.startTime, to.timeZone)}`;
  const data = { ...describeBooking(booking), fromScheduleId: from.id };
  return PARTIES.map((role) =>
    notify(
      {
        type: ctx.options.notificationTypes.rescheduled,
        recipient: { role, id: partyId(booking, role) },
        title: 'Appointment rescheduled',
        message,
        data,
      },
      booking.id,
    ),
  );
}

/** A reminder to the patient, with what a host's Notifier needs to render and route it. */
export function reminderNotification(
  ctx: EngineContext,
  booking: Booking,
  reminder: { beforeMinutes: number; channel: string },
): Effect {
  const when = formatLocal(booking.slotStart, booking.timeZone);
  return notify(
    {
      type: ctx.options.notificationTypes.reminder,
      recipient: { role: 'patient', id: booking.patientId },
      title: 'Appointment reminder',
      message: `Reminder: your appointment is at ${when}`,
      data: {
        ...describeBooking(booking),
        timeZone: booking.timeZone,
        beforeMinutes: String(reminder.beforeMinutes),
        channel: reminder.channel,
      },
    },
    booking.id,
  );
}

/** The doctor or an admin marked the booking a no-show: the patient hears of it. */
export function noShowNotification(ctx: EngineContext, booking: Booking): Effect {
  const when = formatLocal(booking.slotStart, booking.timeZone);
  return notify(
    {
      type: ctx.options.notificationTypes.noShow,
      recipient: { role: 'patient', id: booking.patientId },
      title: 'Missed appointment',
      message: `You were marked as not attending your appointment at ${when}`,
      data: describeBooking(booking),
    },
    booking.id,
  );
}
