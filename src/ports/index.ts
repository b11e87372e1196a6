// The interfaces the engine talks to; adapters implement them.
export * from './booking-store.js';
export * from './clock.js';
export * from './job-scheduler.js';
export * from './notifier.js';
export * from './outbox.js';
export * from './patient-directory.js';
export * from './payment-gateway.js';
