// What hosts see of the outbox: the events they subscribe to, the subscription options, and the delivery report.
import type { OutboxRecord } from '../ports/outbox.js';
import { BOOKING_ENGINE_EVENTS, type BookingEngineEvents } from './events.js';

/** The `engine.events` names that are not outbox events: reports about deliveries, and ignored input. */
const NOT_OUTBOX_EVENTS = ['effect.failed', 'outbox.dead', 'payment.ignored'] as const;

/**
 * The domain events careslot appends to the outbox, in the transaction of the change they
 * describe: every `engine.events` name except the delivery reports (`effect.failed`,
 * `outbox.dead`) and `payment.ignored` (an ignored event changes nothing, so it is only emitted
 * on `engine.events` in the process that saw it).
 */
export type OutboxEventType = Exclude<keyof BookingEngineEvents, (typeof NOT_OUTBOX_EVENTS)[number]>;

export const OUTBOX_EVENT_TYPES: readonly OutboxEventType[] = BOOKING_ENGINE_EVENTS.filter(
  (name): name is OutboxEventType => !(NOT_OUTBOX_EVENTS as readonly string[]).includes(name),
);

/** One committed event, as a subscriber receives it. */
export interface OutboxEvent {
  /** Stable across retries, processes and consumers: dedupe on it. */
  id: string;
  type: OutboxEventType;
  bookingId: string | null;
  scheduleId: string | null;
  createdAt: Date;
  /** The payload's schema version (1). */
  version: number;
  /** The event's data as JSON: records with their Dates as ISO strings. */
  payload: Record<string, unknown>;
  /** 1 on the first attempt, 2 on the first retry, ... */
  attempt: number;
}

export type OutboxHandler = (event: OutboxEvent) => Promise<void> | void;

export interface SubscribeOptions {
  /** The event types this subscriber receives. @defaultValue every type in `OUTBOX_EVENT_TYPES` */
  events?: readonly OutboxEventType[];
  /** Failed attempts before the delivery is dead. @defaultValue 10 */
  maxAttempts?: number;
  /** Or dead once this long has passed since the event, whichever comes first. @defaultValue none */
  maxAgeMs?: number;
  /** The first retry's delay; each further one doubles, up to `maxDelayMs`. @defaultValue 1000 */
  baseDelayMs?: number;
  /** @defaultValue 3_600_000 (an hour) */
  maxDelayMs?: number;
  /**
   * Deliver right after the commit, in the process that made the change (`true`), or only from
   * the outbox job (`engine.start()` registers it every `outboxEveryMs`), so queue workers deliver
   * and a slow receiver never delays a request (`false`; the webhook sender's choice).
   * @defaultValue true
   */
  fastPath?: boolean;
}

/** Thrown by a handler to give up at once: the delivery goes dead without further retries. */
export class PermanentDeliveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentDeliveryError';
  }
}

/** What one `drain()` did, per consumer. */
export interface DrainReport {
  delivered: number;
  failed: number;
  dead: number;
}

/** The outbox as the engine exposes it (`engine.outbox`). */
export interface EngineOutbox {
  /**
   * Delivers every event committed after this call to `handler`, at least once, in order per
   * booking, with retries and backoff; `name` is the durable consumer name (the same in every
   * process). Subscribe before the engine takes traffic: events committed before a consumer
   * existed are not delivered to it. Returns an unsubscribe function (deliveries stay pending).
   */
  subscribe(name: string, handler: OutboxHandler, options?: SubscribeOptions): () => void;
  /** Delivers everything due, for every consumer, until nothing due is left. The sweep calls it. */
  drain(): Promise<DrainReport>;
  /** Deliveries that exhausted their retries, oldest first. */
  listDead(query?: { consumer?: string; limit?: number }): Promise<OutboxRecord[]>;
  /** Puts a dead delivery back in line (attempts from 0); false if it was not dead. */
  redrive(key: string): Promise<boolean>;
}
