// Defaults and option checks the BullMQ scheduler and worker share, so both find the same queue.
import type { ConnectionOptions } from 'bullmq';
import { isRedisInstance } from 'bullmq';

/** The queue careslot's jobs go to unless `queueName` says otherwise. */
export const DEFAULT_QUEUE_NAME = 'careslot';

/** BullMQ's own key prefix; set `prefix` on both the scheduler and the worker to change it. */
export const DEFAULT_PREFIX = 'bull';

export function checkQueueName(owner: string, queueName: unknown): string {
  if (typeof queueName !== 'string' || queueName.length === 0 || queueName.includes(':')) {
    throw new TypeError(
      `${owner}: queueName must be a non-empty string without ':' (got ${JSON.stringify(queueName)}); use the same name in BullMQScheduler and createBookingWorker`,
    );
  }
  return queueName;
}

export function checkPrefix(owner: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0) {
    throw new TypeError(`${owner}: prefix must be a non-empty string (got ${JSON.stringify(prefix)})`);
  }
  return prefix;
}

export function checkPositive(owner: string, name: string, value: unknown, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${owner}: ${name} must be a positive ${integer ? 'whole ' : ''}number (got ${String(value)})`);
  }
  return value;
}

/** True for a client instance (ioredis, node-redis, ...) as opposed to plain connection options. */
export function isClientInstance(connection: ConnectionOptions): boolean {
  return isRedisInstance(connection);
}

export function checkConnection(owner: string, connection: unknown, hint: string): ConnectionOptions {
  if (connection === null || typeof connection !== 'object') {
    throw new TypeError(`${owner}: connection is required: ${hint}`);
  }
  return connection as ConnectionOptions;
}
