// The default notifier: emits each notification so the host can forward it (SSE, sockets, email).
import { EventEmitter } from 'eventemitter3';
import type { Notification } from '../../domain/entities.js';
import type { Notifier } from '../../ports/notifier.js';

export interface NotifierEvents {
  notification: (notification: Notification) => void;
}

/**
 * Emits `'notification'` for every notification. Listeners run synchronously; a listener that
 * throws makes `notify` reject, which the engine reports on `engine.events` ('effect.failed').
 */
export class EventEmitterNotifier extends EventEmitter<NotifierEvents> implements Notifier {
  notify(notification: Notification): void {
    this.emit('notification', notification);
  }
}
