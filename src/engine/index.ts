// The use cases behind BookingEngine.
export type { BookInput, BookResult } from './book.js';
export { BookingEngine, type ListBookingsQuery, type Wallet } from './booking-engine.js';
export type { CancelInput, CancelOutcome } from './cancel.js';
export { BOOKING_ENGINE_EVENTS, type BookingEngineEvents } from './events.js';
export type { BookingEngineOptions, NotificationTypes } from './options.js';
export type { PaymentEventOutcome, PaymentEventResult, ReleaseOutcome } from './payments.js';
export type { ReconcileReport } from './reconcile.js';
export type { RefundInput, RefundOutcome } from './refund.js';
export type { RescheduleInput, RescheduleOutcome } from './reschedule.js';
export type { CreateScheduleInput, FinishSlotOutcome, ListSchedulesQuery } from './schedules.js';
