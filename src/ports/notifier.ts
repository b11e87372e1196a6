// The notification port: how doctors, admins and patients hear about bookings.
import type { Notification } from '../domain/entities.js';

/**
 * Delivers notifications. Called only after a change has committed; a throw is reported on
 * `engine.events` ('effect.failed') and never undoes the booking.
 */
export interface Notifier {
  notify(notification: Notification): Promise<void> | void;
}
