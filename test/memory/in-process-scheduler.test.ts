// InProcessScheduler passes the shared scheduler conformance suite on a manual clock (timers off, runDue()).
import { vi } from 'vitest';
import { InProcessScheduler } from '../../src/adapters/memory/in-process-scheduler.js';
import type { JobName } from '../../src/ports/job-scheduler.js';
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
