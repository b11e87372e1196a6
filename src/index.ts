// 'careslot': the engine, its ports and types, the embedded defaults, and the webhook handler.
export * from './adapters/memory/index.js';
export { BookingEngine } from './booking-engine.js';
export * from './domain/index.js';
export * from './engine/index.js';
export * from './http/index.js';
export * from './ports/index.js';
