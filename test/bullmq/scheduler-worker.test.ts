// scheduler.createWorker on a real redis-server: the worker finds the scheduler's queue, and closes only what it opened.
import { Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { BullMQScheduler, type BullMQSchedulerOptions } from '../../src/adapters/bullmq/index.js';
import { JOB_NAMES } from '../../src/index.js';
import { describeWithRedis, type Env, logWorker, useRedisEnv, type WorkerLog, waitFor } from './harness.js';

/** Open client connections on the server, as `CLIENT LIST` counts them (the observer's own included). */
async function clientCount(observer: Redis): Promise<number> {
  const list = (await observer.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.trim().length > 0).length;
}

describeWithRedis('BullMQScheduler.createWorker on a real Redis', () => {
  const redis = useRedisEnv();

  /**
   * An env whose scheduler has these options, a worker from `scheduler.createWorker`, and the
   * number of client connections the server had just before the worker was made.
   */
  async function workerOnScheduler(
    scheduler: Partial<BullMQSchedulerOptions>,
    worker: { concurrency?: number } = {},
  ): Promise<{ env: Env; worker: Worker; log: WorkerLog; observer: Redis; before: number }> {
    const env = await redis.open({ scheduler });
    const observer = new Redis(redis.server().connection);
    env.track(() => observer.quit());
    // The scheduler's queue connects on its first command; count from there.
    await env.scheduler.queue.waitUntilReady();
    const before = await clientCount(observer);
    const made = env.scheduler.createWorker({ engine: env.engine, onError: () => {}, ...worker });
    env.track(() => made.close(true));
    return { env, worker: made, log: logWorker(made), observer, before };
  }

  /** A host's own ioredis instance, closed after the test's env. */
  function hostRedis(options: { maxRetriesPerRequest?: null } = {}): Redis {
    const host = new Redis({ ...redis.server().connection, ...options });
    hosts.push(host);
    return host;
  }
  const hosts: Redis[] = [];
  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.quit().catch(() => {});
  });

  it("runs the jobs the scheduler added on its own queueName and prefix, and closes the connections it opened from the scheduler's connection options", async () => {
    const { env, worker, log, observer, before } = await workerOnScheduler({
      connection: redis.server().connection,
      prefix: 'clinic',
    });
    await worker.waitUntilReady();
    expect(await clientCount(observer)).toBeGreaterThan(before);
    const slot = await env.slot(200, 300);

    await waitFor('the slot to expire', async () => (await env.engine.getSchedule(slot.id)).status === 'expired');
    await waitFor('the job to be recorded', () => log.completed.length > 0);
    expect(log.completed).toEqual([
      { id: `expire-${slot.id}`, name: JOB_NAMES.expireUnbooked, result: 'expired', attemptsMade: 1 },
    ]);
    expect(worker.name).toBe(env.queueName);
    expect(worker.opts.prefix).toBe('clinic');
    // Every key of the queue is under the scheduler's prefix; none under BullMQ's default.
    expect(await observer.keys(`clinic:${env.queueName}:*`)).not.toEqual([]);
    expect(await observer.keys(`bull:${env.queueName}:*`)).toEqual([]);

    await worker.close();
    await waitFor('the worker connections to close', async () => (await clientCount(observer)) === before);
  });

  it("runs on a duplicate of the host's ioredis instance and closes that duplicate, never the instance", async () => {
    const host = hostRedis();
    expect(host.options.maxRetriesPerRequest).toBe(20);
    const { env, worker, log, observer, before } = await workerOnScheduler(
      { connection: host, prefix: 'clinic' },
      { concurrency: 2 },
    );
    const slot = await env.slot(200, 300);
    await waitFor('the job to complete', () => log.completed.some((c) => c.id === `expire-${slot.id}`));
    expect(worker.concurrency).toBe(2);

    await worker.close();
    expect(host.status).toBe('ready');
    expect(await host.ping()).toBe('PONG');
    expect(host.options.maxRetriesPerRequest).toBe(20);
    await waitFor('the duplicates to close', async () => (await clientCount(observer)) === before);
    // The scheduler still schedules on the host's connection after the worker closed.
    await env.scheduler.schedule({
      name: JOB_NAMES.holdTimeout,
      id: 'hold-after',
      runAt: new Date(Date.now() + 60_000),
      data: {},
    });
    expect(await env.scheduler.queue.getJobState('hold-after')).toBe('delayed');
  });

  it('shares a host instance that already has maxRetriesPerRequest: null and leaves it open when the worker closes', async () => {
    const host = hostRedis({ maxRetriesPerRequest: null });
    const { env, worker, log, observer, before } = await workerOnScheduler({ connection: host });
    const slot = await env.slot(200, 300);
    await waitFor('the job to complete', () => log.completed.some((c) => c.id === `expire-${slot.id}`));

    await worker.close();
    expect(host.status).toBe('ready');
    expect(await host.ping()).toBe('PONG');
    // Only BullMQ's own blocking connection was opened, and it is gone again.
    await waitFor('the blocking connection to close', async () => (await clientCount(observer)) === before);
  });

  it("works on the name, prefix and connection of a host's Queue, and leaves that Queue open", async () => {
    const env = await redis.open();
    const host = hostRedis();
    const queue = new Queue(`host-${env.queueName}`, { connection: host, prefix: 'hostprefix' });
    env.track(() => queue.close());
    const scheduler = new BullMQScheduler({ queue });

    const worker = scheduler.createWorker({ engine: env.engine, onError: () => {} });
    env.track(() => worker.close(true));
    const log = logWorker(worker);
    await scheduler.schedule({ name: JOB_NAMES.expireUnbooked, id: 'expire-none', runAt: new Date(), data: {} });
    // The job names no slot: the engine answers INVALID_INPUT, so the worker fails it without retry.
    const failed = await waitFor('the job to fail', () => log.failed.find((j) => j.id === 'expire-none'));
    expect(failed.error.message).toMatch(/^INVALID_INPUT: /);
    expect(failed.attemptsMade).toBe(1);
    expect(worker.name).toBe(`host-${env.queueName}`);
    expect(worker.opts.prefix).toBe('hostprefix');

    await worker.close();
    await scheduler.close();
    expect(host.status).toBe('ready');
    expect(await queue.getJobState('expire-none')).toBe('failed');
  });

  it('refuses a queueName, prefix or connection of its own, and a missing engine, with a message that says where to set them', async () => {
    const env = await redis.open();
    const create = (options: object) => () =>
      env.scheduler.createWorker({ engine: env.engine, onError: () => {}, ...options } as never);
    expect(create({ queueName: 'other' })).toThrow(
      /uses the scheduler's queueName; set it once on new BullMQScheduler\(\{ queueName \}\)/,
    );
    expect(create({ prefix: 'other' })).toThrow(/uses the scheduler's prefix/);
    expect(create({ connection: redis.server().connection })).toThrow(/uses the scheduler's connection/);
    expect(create({ engine: {} })).toThrow(/pass the BookingEngine/);
    expect(() => env.scheduler.createWorker(null as never)).toThrow(TypeError);
    expect(create({ concurrency: 0 })).toThrow(
      /BullMQScheduler.createWorker: concurrency must be a positive whole number/,
    );
  });
});
