// InProcessScheduler passes the shared scheduler conformance suite on a manual clock (timers off, runDue()).
import { describe, expect, it, vi } from 'vitest';
import { InProcessScheduler } from '../../src/adapters/memory/in-process-scheduler.js';
import { JOB_NAMES, type JobName } from '../../src/ports/job-scheduler.js';
import { ManualClock } from '../../src/testing/manual-clock.js';
import { describeSchedulerConformance, type RanJob } from '../conformance/scheduler-conformance.js';

const START = new Date('2030-03-01T09:00:00Z').getTime();

describeSchedulerConformance('InProcessScheduler', {
  fresh: async () => {
    const clock = new ManualClock(START);
    const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
    const ran: RanJob[] = [];
    scheduler.bind(async (name, data) => {
      ran.push({ name, data });
    });
    return {
      scheduler,
      at: (ms) => new Date(START + ms),
      runUntil: async (ms) => {
        clock.set(START + ms);
        await scheduler.runDue();
        return [...ran];
      },
      close: async () => scheduler.close(),
    };
  },
  // Recurring jobs only repeat on timers, so they run here on vitest's fake timers.
  repeat: async (register, periods) => {
    const everyMs = 60_000;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const scheduler = new InProcessScheduler({ clock: new ManualClock(START), timers: true, onError: () => {} });
    try {
      const ran: JobName[] = [];
      scheduler.bind(async (name) => {
        ran.push(name);
      });
      await register(scheduler, everyMs);
      await vi.advanceTimersByTimeAsync(periods * everyMs + everyMs / 2);
      return ran;
    } finally {
      scheduler.close();
      vi.useRealTimers();
    }
  },
});

describe('InProcessScheduler.runDue with many waiting jobs', () => {
  it('runs 20,000 due jobs soonest first, equal times in scheduling order, skipping cancelled ones, and ones they schedule', async () => {
    const clock = new ManualClock(START);
    const scheduler = new InProcessScheduler({ clock, timers: false, onError: () => {} });
    const ran: string[] = [];
    scheduler.bind(async (_name, data) => {
      ran.push(data.bookingId ?? '');
      // A job that schedules another already due one: it runs in the same pass, in its turn.
      if (data.bookingId === 'b-17') {
        await scheduler.schedule({
          name: JOB_NAMES.holdTimeout,
          id: 'late',
          runAt: new Date(START),
          data: { bookingId: 'late' },
        });
      }
    });
    const expected: { at: number; i: number }[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Scrambled times with many ties, all due.
      const at = START - ((i * 7919) % 1000) * 1000;
      await scheduler.schedule({
        name: JOB_NAMES.holdTimeout,
        id: `j-${i}`,
        runAt: new Date(at),
        data: { bookingId: `b-${i}` },
      });
      expected.push({ at, i });
    }
    for (let i = 0; i < 20_000; i += 100) await scheduler.cancel({ name: JOB_NAMES.holdTimeout, id: `j-${i}` });
    // One not yet due stays.
    await scheduler.schedule({
      name: JOB_NAMES.holdTimeout,
      id: 'future',
      runAt: new Date(START + 1),
      data: { bookingId: 'future' },
    });
    const order = expected
      .filter(({ i }) => i % 100 !== 0)
      .sort((a, b) => a.at - b.at || a.i - b.i)
      .map(({ i }) => `b-${i}`);
    expect(await scheduler.runDue()).toBe(order.length + 1);
    // `late` is due at START, later than every other (all earlier, the ones at START cancelled): last.
    expect(ran).toEqual([...order, 'late']);
    expect(scheduler.pending().map((j) => j.id)).toEqual(['future']);
  });
});
