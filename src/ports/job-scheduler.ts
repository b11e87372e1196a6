// The timed-jobs port; names are the original system's so existing queues keep working.

export const JOB_NAMES = {
  /** Hold timeout: release an unpaid pending slot. */
  holdTimeout: 'makeDoctorAppointmentScheduleAvailableIfNotBooked',
  /** After the end of a booked slot: slot expired, booking completed, next-day slot. */
  completeBooked: 'makeDoctorAppointmentScheduleAvailable',
  /** After the end of an unbooked slot: slot expired. */
  expireUnbooked: 'expireDoctorAppointmentScheduleAfterEndTime',
  /** Daily: delete expired slots older than the retention. */
  cleanup: 'cleanupExpiredSchedules',
  /** Periodic: finish whatever a lost job, a lost webhook or a crash left behind. */
  reconcile: 'reconcileBookings',
  /** Periodic: deliver the outbox (retries, and subscribers that deliver off the request path). */
  outbox: 'deliverCareslotOutbox',
  /** Before a scheduled booking's start: send its due reminders (each once). */
  reminder: 'sendAppointmentReminder',
} as const;

export type JobName = (typeof JOB_NAMES)[keyof typeof JOB_NAMES];

export const ALL_JOB_NAMES: readonly JobName[] = Object.values(JOB_NAMES);

export interface JobData {
  bookingId?: string;
  scheduleId?: string;
}

export interface ScheduledJob {
  name: JobName;
  /** Deterministic (`hold-<bookingId>`, `complete-<scheduleId>`, ...); no ':' (BullMQ rejects it). */
  id: string;
  runAt: Date;
  data: JobData;
}

export interface RecurringJob {
  name: JobName;
  everyMs: number;
}

/** Runs a job by name: what `engine.runJob` is, and what every queue processor calls. */
export type JobRunner = (name: JobName, data: JobData) => Promise<unknown>;

/**
 * Runs jobs later. Timers are an optimisation: every job re-reads state, and
 * `engine.reconcile()` does the work of any job that was lost.
 */
export interface JobScheduler {
  /** Adds a job; a second call with the same id while the first is waiting adds nothing. */
  schedule(job: ScheduledJob): Promise<void>;
  /** Removes a waiting job; no-op when it is absent or already ran. */
  cancel(args: { name: JobName; id: string }): Promise<void>;
  /** Registers a repeating job; calling it again (every process start) keeps one. */
  scheduleRecurring(job: RecurringJob): Promise<void>;
  /**
   * Called once by the engine's constructor. In-process schedulers keep the runner to run
   * due jobs; queue-backed schedulers ignore it (their workers call `engine.runJob`).
   */
  bind?(runner: JobRunner): void;
}
