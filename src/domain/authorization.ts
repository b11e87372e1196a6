// Who may act on a booking: its patient, its doctor, an admin, or careslot itself.
import type { Actor, Booking } from './entities.js';
import { BookingError } from './errors.js';

/** True when `actor` may cancel or reschedule `booking`. */
export function mayActOnBooking(actor: Actor, booking: Pick<Booking, 'patientId' | 'doctorId'>): boolean {
  switch (actor.role) {
    case 'admin':
    case 'system':
      return true;
    case 'patient':
      return actor.id === booking.patientId;
    case 'doctor':
      return actor.id === booking.doctorId;
    default:
      return false;
  }
}

/** Throws NOT_ALLOWED unless `actor` may act on `booking`; `what` names the action in the message. */
export function assertMayAct(actor: Actor, booking: Pick<Booking, 'patientId' | 'doctorId'>, what: string): void {
  if (!mayActOnBooking(actor, booking)) {
    throw new BookingError('NOT_ALLOWED', `Only the booking's patient, its doctor or an admin may ${what} it`);
  }
}

/** Throws NOT_ALLOWED unless `actor` is the slot's doctor, an admin or careslot (a patient never is). */
export function assertMayManageSlot(actor: Actor, slot: { doctorId: string }, what: string): void {
  const allowed =
    actor.role === 'admin' || actor.role === 'system' || (actor.role === 'doctor' && actor.id === slot.doctorId);
  if (!allowed) throw new BookingError('NOT_ALLOWED', `Only the slot's doctor or an admin may ${what} it`);
}
