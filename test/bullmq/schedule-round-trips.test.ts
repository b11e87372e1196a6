// BullMQScheduler.schedule on a real redis-server: one round trip for a new or pending id, and a kept finished job replaced.
import { type Command, Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { BullMQScheduler, createBookingWorker } from '../../src/adapters/bullmq/index.js';
import { JOB_NAMES, type JobData, type JobName } from '../../src/index.js';
import { describeWithRedis, useRedisEnv, waitFor } from './harness.js';

const inMs = (ms: number) => new Date(Date.now() + ms);

interface Sent {
  name: string;
  /** How many of the recorded commands Redis had answered when this one was sent. */
  answeredBefore: number;
}

/** Records every command the connection sends, and how many answers had come back by then. */
function recordCommands(connection: Redis) {
  let sent: Sent[] = [];
  let answered = 0;
  const send = connection.sendCommand.bind(connection);
  connection.sendCommand = ((command: Command, ...rest: unknown[]) => {
    sent.push({ name: command.name, answeredBefore: answered });
    const settle = () => {
      answered += 1;
    };
    command.promise.then(settle, settle);
    return (send as (command: Command, ...rest: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
  return {
    /** Runs `work` and returns the commands it sent and its round trips (the waits for an answer before sending more). */
    async during(work: () => Promise<unknown>): Promise<{ names: string[]; roundTrips: number }> {
      sent = [];
      await work();
      const names = sent.map((s) => s.name);
      return { names, roundTrips: new Set(sent.map((s) => s.answeredBefore)).size };
    },
  };
}

describeWithRedis('BullMQScheduler.schedule round trips', () => {
  const redis = useRedisEnv();

  /** A scheduler on its own recorded connection, on the env's fresh queue, warmed up so BullMQ's scripts are loaded. */
  async function openRecorded(options: { attempts?: number; timeoutMs?: number } = {}) {
    const env = await redis.open();
    const connection = new Redis(redis.server().connection);
    env.track(() => connection.quit());
    const scheduler = new BullMQScheduler({
      connection,
      queueName: env.queueName,
      backoffMs: 100,
      onError: () => {},
      ...options,
    });
    env.track(() => scheduler.close());
    await scheduler.queue.waitUntilReady();
    // BullMQ's first commands on a connection (its version check, the first script sent in full) are not schedule's.
    await scheduler.schedule({ name: JOB_NAMES.holdTimeout, id: 'hold-warm-up', runAt: inMs(3_600_000), data: {} });
    const runs: string[] = [];
    let release = () => {};
    const engine = {
      fail: false,
      /** While set, a job runs until `finish()` is called. */
      block: false,
      runJob: async (name: JobName, data: JobData) => {
        runs.push(`${name}/${data.scheduleId ?? data.bookingId}`);
        if (engine.block) await new Promise<void>((resolve) => (release = resolve));
        if (engine.fail) throw new Error('transient');
        return 'ok';
      },
    };
    const startWorker = () => {
      const worker = createBookingWorker({
        engine,
        connection: redis.server().connection,
        queueName: env.queueName,
        onError: () => {},
      });
      env.track(() => worker.close(true));
      return worker;
    };
    return { scheduler, commands: recordCommands(connection), engine, runs, startWorker, finish: () => release() };
  }

  it('schedules a new id in one round trip: the add goes out with a one-field read of the job, before Redis answers either', async () => {
    const { scheduler, commands } = await openRecorded();
    const job = { name: JOB_NAMES.holdTimeout, id: 'hold-b1', runAt: inMs(60_000), data: { bookingId: 'b1' } };

    const sent = await commands.during(() => scheduler.schedule(job));

    // A state check awaited before the add (getJobState, another EVALSHA) would make two round trips.
    expect(sent).toEqual({ names: ['hget', 'evalsha'], roundTrips: 1 });
    expect(await scheduler.queue.getJobState('hold-b1')).toBe('delayed');
    expect((await scheduler.queue.getJob('hold-b1'))?.data).toEqual({ bookingId: 'b1' });
  });

  it('leaves a delayed or waiting job with the same id as it was, in one round trip: same data, due time and timestamp, nothing removed', async () => {
    const { scheduler, commands } = await openRecorded();
    const delayed = { name: JOB_NAMES.holdTimeout, id: 'hold-b1', runAt: inMs(60_000), data: { bookingId: 'b1' } };
    const waiting = {
      name: JOB_NAMES.completeBooked,
      id: 'complete-s1',
      runAt: inMs(-1_000),
      data: { scheduleId: 's1' },
    };
    await scheduler.schedule(delayed);
    await scheduler.schedule(waiting);
    const before = [await scheduler.queue.getJob('hold-b1'), await scheduler.queue.getJob('complete-s1')];

    const again = await commands.during(async () => {
      await scheduler.schedule({ ...delayed, runAt: inMs(120_000), data: { bookingId: 'other' } });
      await scheduler.schedule({ ...waiting, runAt: inMs(30_000), data: { scheduleId: 'other' } });
    });

    expect(again.names).toEqual(['hget', 'evalsha', 'hget', 'evalsha']);
    expect(again.roundTrips).toBe(2); // one per call
    const after = [await scheduler.queue.getJob('hold-b1'), await scheduler.queue.getJob('complete-s1')];
    expect(after.map((j) => [j?.data, j?.opts.delay, j?.timestamp])).toEqual(
      before.map((j) => [j?.data, j?.opts.delay, j?.timestamp]),
    );
    expect(await scheduler.queue.getJobState('hold-b1')).toBe('delayed');
    expect(await scheduler.queue.getJobState('complete-s1')).toBe('waiting');
    // The warm-up job and these two.
    expect(await scheduler.queue.getJobCountByTypes('delayed', 'waiting')).toBe(3);
  });

  it('leaves a running job with the same id alone: nothing is added or removed, and it runs once', async () => {
    const { scheduler, commands, engine, runs, startWorker, finish } = await openRecorded();
    engine.block = true;
    const job = { name: JOB_NAMES.completeBooked, id: 'complete-s1', runAt: new Date(), data: { scheduleId: 's1' } };
    await scheduler.schedule(job);
    startWorker();
    await waitFor('the job to run', () => runs.length === 1);
    expect(await scheduler.queue.getJobState('complete-s1')).toBe('active');

    const sent = await commands.during(() => scheduler.schedule({ ...job, data: { scheduleId: 'other' } }));

    expect(sent).toEqual({ names: ['hget', 'evalsha'], roundTrips: 1 });
    expect(await scheduler.queue.getJobState('complete-s1')).toBe('active');
    finish();
    await waitFor(
      'the job to complete',
      async () => (await scheduler.queue.getJobState('complete-s1')) === 'completed',
    );
    expect(runs).toEqual([`${JOB_NAMES.completeBooked}/s1`]);
    expect(await scheduler.queue.getJobCountByTypes('waiting', 'prioritized')).toBe(0);
  });

  for (const outcome of ['completed', 'failed'] as const) {
    it(`replaces a ${outcome} job kept with the same id: removes it and adds the new job with the new data and due time`, async () => {
      const { scheduler, commands, engine, startWorker } = await openRecorded({ attempts: 1 });
      engine.fail = outcome === 'failed';
      const job = { name: JOB_NAMES.completeBooked, id: 'complete-s1', runAt: new Date(), data: { scheduleId: 's1' } };
      await scheduler.schedule(job);
      const worker = startWorker();
      await waitFor(
        `the job to be ${outcome}`,
        async () => (await scheduler.queue.getJobState('complete-s1')) === outcome,
      );
      await worker.close();
      const finished = await scheduler.queue.getJob('complete-s1');
      expect(finished?.finishedOn).toBeGreaterThan(0);

      const sent = await commands.during(() =>
        scheduler.schedule({ ...job, runAt: inMs(60_000), data: { scheduleId: 's1', bookingId: 'b2' } }),
      );

      // The read and the (no-op) add together, then the remove, then the add again.
      expect(sent).toEqual({ names: ['hget', 'evalsha', 'evalsha', 'evalsha'], roundTrips: 3 });
      expect(await scheduler.queue.getJobState('complete-s1')).toBe('delayed');
      const replaced = await scheduler.queue.getJob('complete-s1');
      expect(replaced?.data).toEqual({ scheduleId: 's1', bookingId: 'b2' });
      expect(replaced?.opts.delay).toBeGreaterThan(58_000);
      expect(replaced?.opts.attempts).toBe(1);
      expect(replaced?.timestamp).toBeGreaterThan(finished?.timestamp ?? Number.POSITIVE_INFINITY);
      expect(replaced?.finishedOn).toBeUndefined();
      expect(await scheduler.queue.getJobCountByTypes('completed', 'failed')).toBe(0);
    });
  }

  it('still gives up after timeoutMs when Redis does not answer the round trip', async () => {
    const { scheduler } = await openRecorded({ timeoutMs: 200 });
    const admin = new Redis(redis.server().connection);
    redis.env().track(() => admin.quit());
    // Redis holds every client's commands for a second.
    await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
    const before = Date.now();
    await expect(
      scheduler.schedule({
        name: JOB_NAMES.holdTimeout,
        id: 'hold-b1',
        runAt: inMs(60_000),
        data: { bookingId: 'b1' },
      }),
    ).rejects.toThrow(/Redis did not answer within 200 ms \(schedule .* \(hold-b1\)\)/);
    expect(Date.now() - before).toBeLessThan(900);
  });
});
