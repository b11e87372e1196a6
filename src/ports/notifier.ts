// The notification port: how doctors, admins and patients hear about bookings.
import type { Notification } from '../domain/entities.js';

/** Which delivery a notification is: the same `deliveryId` on every retry of it. */
export interface NotificationDelivery {
  /** Stable per notification across retries and processes: a mailer dedupes on it. */
  deliveryId: string;
  /** 1 on the first attempt. */
  attempt: number;
}

/**
 * Delivers notifications. Called only after a change has committed, from the outbox: a throw is
 * retried with backoff (at least once in all), never undoes the booking, and is reported on
 * `engine.events` ('effect.failed') only when the retries are exhausted.
 */
export interface Notifier {
  notify(notification: Notification, delivery?: NotificationDelivery): Promise<void> | void;
}
