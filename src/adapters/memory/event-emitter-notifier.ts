// The default notifier: emits each notification so the host can forward it (SSE, sockets, email).
import { EventEmitter } from 'eventemitter3';
import type { Notification } from '../../domain/entities.js';
import type { NotificationDelivery, Notifier } from '../../ports/notifier.js';

export interface NotifierEvents {
  notification: (notification: Notification, delivery?: NotificationDelivery) => void;
}

/**
 * Emits `'notification'` for every notification, with its delivery (id and attempt). Listeners
 * run synchronously; a listener that throws makes `notify` reject, and the outbox retries it.
 */
export class EventEmitterNotifier extends EventEmitter<NotifierEvents> implements Notifier {
  notify(notification: Notification, delivery?: NotificationDelivery): void {
    this.emit('notification', notification, delivery);
  }
}
