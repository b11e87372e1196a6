// The embedded default scheduler: jobs kept in memory, run by timers or on demand.
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { JobName, JobRunner, JobScheduler, RecurringJob, ScheduledJob } from '../../ports/job-scheduler.js';

export interface InProcessSchedulerOptions {
  /**
   * What "due" means for `runDue()`; pass the engine's clock in tests.
   * @defaultValue the system clock
   */
  clock?: Clock;
  /**
   * Run jobs on real timers. Turn off in tests that move a manual clock and call `runDue()`.
   * @defaultValue true
   */
  timers?: boolean;
  /**
   * Called when a job throws (the job is dropped; `engine.reconcile()` repairs its work).
   * @defaultValue writes to `console.error`
   */
  onError?: (error: unknown, job: { name: JobName; id: string }) => void;
}

interface Pending {
  job: ScheduledJob;
  timer: ReturnType<typeof setTimeout> | null;
  /** Scheduling order: equal run times run in the order they were scheduled. */
  seq: number;
}

/**
 * A binary min-heap of waiting jobs by (runAt, seq). Cancelled or taken jobs are dropped lazily
 * when they reach the top, so `runDue()` costs O(log n) per job instead of a sort of every
 * waiting job per job run.
 */
class DueHeap {
  private readonly items: { at: number; seq: number; key: string; pending: Pending }[] = [];

  push(key: string, pending: Pending): void {
    const items = this.items;
    items.push({ at: pending.job.runAt.getTime(), seq: pending.seq, key, pending });
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** The soonest entry still waiting (`alive` says which are), or null. */
  peek(alive: (key: string, pending: Pending) => boolean): { at: number; key: string } | null {
    while (this.items.length > 0) {
      const top = this.items[0]!;
      if (alive(top.key, top.pending)) return top;
      this.pop();
    }
    return null;
  }

  clear(): void {
    this.items.length = 0;
  }

  private pop(): void {
    const items = this.items;
    const last = items.pop();
    if (items.length === 0 || last === undefined) return;
    items[0] = last;
    for (let i = 0; ; ) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && this.less(left, smallest)) smallest = left;
      if (right < items.length && this.less(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.items[a]!;
    const y = this.items[b]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const t = items[a]!;
    items[a] = items[b]!;
    items[b] = t;
  }
}

// setTimeout overflows above 2^31-1 ms (~24.8 days): longer waits are chained.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Keeps jobs in this process. They are lost on restart, which the reconciliation sweep
 * repairs. Timers are unref'd, so they never keep a process alive.
 */
export class InProcessScheduler implements JobScheduler {
  private readonly jobs = new Map<string, Pending>();
  private readonly due = new DueHeap();
  private seq = 0;
  private readonly recurring = new Map<JobName, ReturnType<typeof setInterval> | null>();
  private readonly clock: Clock;
  private readonly timers: boolean;
  private readonly onError: (error: unknown, job: { name: JobName; id: string }) => void;
  private runner: JobRunner | null = null;

  constructor(options: InProcessSchedulerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? true;
    this.onError =
      options.onError ?? ((error, job) => console.error(`careslot: job ${job.name} (${job.id}) failed`, error));
  }

  bind(runner: JobRunner): void {
    this.runner = runner;
  }

  async schedule(job: ScheduledJob): Promise<void> {
    const key = `${job.name}/${job.id}`;
    if (this.jobs.has(key)) return;
    const pending: Pending = { job: { ...job, data: { ...job.data } }, timer: null, seq: this.seq++ };
    this.jobs.set(key, pending);
    this.due.push(key, pending);
    if (this.timers) this.arm(key, pending);
  }

  async cancel(args: { name: JobName; id: string }): Promise<void> {
    const key = `${args.name}/${args.id}`;
    const pending = this.jobs.get(key);
    if (!pending) return;
    if (pending.timer) clearTimeout(pending.timer);
    this.jobs.delete(key);
  }

  async scheduleRecurring(job: RecurringJob): Promise<void> {
    if (this.recurring.has(job.name)) return;
    if (!this.timers) {
      this.recurring.set(job.name, null);
      return;
    }
    const interval = setInterval(() => void this.execute(job.name, { name: job.name, id: job.name }, {}), job.everyMs);
    interval.unref?.();
    this.recurring.set(job.name, interval);
  }

  /** Jobs still waiting, soonest first (for tests and the demo timeline). */
  pending(): ScheduledJob[] {
    return [...this.jobs.values()]
      .sort((a, b) => a.job.runAt.getTime() - b.job.runAt.getTime() || a.seq - b.seq)
      .map((p) => p.job);
  }

  /**
   * Runs every waiting job whose time has come by the clock, soonest first, including jobs
   * those jobs schedule that are already due. Returns how many ran.
   */
  async runDue(): Promise<number> {
    let ran = 0;
    const alive = (key: string, pending: Pending) => this.jobs.get(key) === pending;
    for (;;) {
      const next = this.due.peek(alive);
      if (!next || next.at > this.clock.now().getTime()) return ran;
      await this.take(next.key);
      ran++;
    }
  }

  /** Stops all timers; waiting jobs are dropped. */
  close(): void {
    for (const pending of this.jobs.values()) if (pending.timer) clearTimeout(pending.timer);
    for (const interval of this.recurring.values()) if (interval) clearInterval(interval);
    this.jobs.clear();
    this.due.clear();
    this.recurring.clear();
  }

  private arm(key: string, pending: Pending): void {
    const wait = Math.max(0, pending.job.runAt.getTime() - this.clock.now().getTime());
    const timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) this.arm(key, pending);
        else void this.take(key);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    timer.unref?.();
    pending.timer = timer;
  }

  private async take(key: string): Promise<void> {
    const pending = this.jobs.get(key);
    if (!pending) return;
    if (pending.timer) clearTimeout(pending.timer);
    this.jobs.delete(key);
    await this.execute(pending.job.name, pending.job, pending.job.data);
  }

  private async execute(name: JobName, job: { name: JobName; id: string }, data: ScheduledJob['data']): Promise<void> {
    if (!this.runner) {
      this.onError(new Error('InProcessScheduler is not bound to an engine: pass it to new BookingEngine()'), job);
      return;
    }
    try {
      await this.runner(name, data);
    } catch (error) {
      this.onError(error, job);
    }
  }
}
