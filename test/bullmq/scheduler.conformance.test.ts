// BullMQScheduler passes the shared scheduler conformance suite on a real redis-server, with a recording worker.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { BullMQScheduler } from '../../src/adapters/bullmq/index.js';
import type { JobData, JobName } from '../../src/ports/job-scheduler.js';
import { describeSchedulerConformance, type RanJob } from '../conformance/scheduler-conformance.js';
import { RedisServer } from '../support/redis-server.js';
import { describeWithRedis, sleep, waitFor } from './harness.js';

/** A scheduler on a fresh queue and one worker (one job at a time, so the run order is the due order). */
function openQueue(server: RedisServer, record: (name: JobName, data: JobData) => void) {
  const queueName = `careslot-conformance-${randomUUID()}`;
  const connection = new Redis(server.connection);
  const scheduler = new BullMQScheduler({ connection, queueName, onError: () => {} });
  const worker = scheduler.createWorker({
    engine: {
      runJob: async (name, data) => {
        record(name, { ...data });
        return null;
      },
    },
    concurrency: 1,
    onError: () => {},
  });
  return {
    scheduler,
    worker,
    close: async () => {
      await worker.close(true);
      await scheduler.queue.obliterate({ force: true }).catch(() => {});
      await scheduler.close();
      await connection.quit();
    },
  };
}

describeWithRedis('BullMQScheduler on a real Redis', () => {
  let server: RedisServer | null = null;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });
  const running = (): RedisServer => {
    if (!server) throw new Error('the redis-server has not started');
    return server;
  };

  describeSchedulerConformance('BullMQScheduler', {
    fresh: async () => {
      const ran: RanJob[] = [];
      const queue = openQueue(running(), (name, data) => ran.push({ name, data }));
      await queue.worker.waitUntilReady();
      const start = Date.now();
      return {
        scheduler: queue.scheduler,
        at: (ms) => new Date(start + ms),
        runUntil: async (ms) => {
          const until = start + ms;
          await waitFor(`every job due ${ms} ms after the start to run`, async () => {
            if (Date.now() < until) return false;
            const counts = await queue.scheduler.queue.getJobCounts('waiting', 'active', 'prioritized');
            if ((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0) > 0) return false;
            const delayed = await queue.scheduler.queue.getDelayed();
            return delayed.every((job) => job.timestamp + (job.opts.delay ?? 0) > until);
          });
          return [...ran];
        },
        close: queue.close,
      };
    },
    repeat: async (register, periods) => {
      const everyMs = 200;
      const ran: JobName[] = [];
      const queue = openQueue(running(), (name) => ran.push(name));
      try {
        await queue.worker.waitUntilReady();
        await register(queue.scheduler, everyMs);
        // Recurring jobs run on BullMQ's own timing, which no injected clock drives.
        await sleep(periods * everyMs + everyMs / 2);
        return [...ran];
      } finally {
        await queue.close();
      }
    },
  });
});
