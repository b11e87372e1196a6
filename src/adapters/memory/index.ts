// The embedded defaults: everything in this process, nothing to install.

export { EventEmitterNotifier } from './event-emitter-notifier.js';
export { InProcessScheduler, type InProcessSchedulerOptions } from './in-process-scheduler.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
