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
