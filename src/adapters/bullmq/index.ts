// 'careslot/bullmq': timed jobs on BullMQ in the host's Redis — the scheduler and the worker.
export {
  type BookingWorkerOptions,
  createBookingProcessor,
  createBookingWorker,
  isRetryableJobError,
  type SchedulerWorkerOptions,
} from './booking-worker.js';
export { BullMQScheduler, type BullMQSchedulerOptions, type KeepJobsOption } from './bullmq-scheduler.js';
export { DEFAULT_PREFIX, DEFAULT_QUEUE_NAME } from './defaults.js';
