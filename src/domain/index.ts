// Pure domain code: no I/O.

export * from './authorization.js';
export * from './availability.js';
export * from './cancellation-policy.js';
export * from './entities.js';
export * from './errors.js';
export * from './money.js';
export * from './payment-rules.js';
export * from './plan-policy.js';
export * from './status.js';
export * from './time.js';
