// The use cases behind BookingEngine.
export type {
  AddTimeOffInput,
  AddTimeOffOutcome,
  ComputedSlot,
  FindSlotsQuery,
  SetAvailabilityInput,
  SlotPage,
} from './availability.js';
export type { BookComputedInput, BookInput, BookOptions, BookResult, BookSlotInput } from './book.js';
export { BookingEngineCore, type ListBookingsQuery } from './booking-engine.js';
export type { CancelInput, CancellationQuote, CancelOutcome } from './cancel.js';
export type { ConfirmOutcome } from './confirm.js';
export { BOOKING_ENGINE_EVENTS, type BookingEngineEvents } from './events.js';
export type { Wallet, WalletPage } from './ledger.js';
export type { BookingEngineCoreOptions, BookingEngineOptions, NotificationTypes, Reminder } from './options.js';
export {
  type DrainReport,
  type EngineOutbox,
  OUTBOX_EVENT_TYPES,
  type OutboxEvent,
  type OutboxEventType,
  type OutboxHandler,
  PermanentDeliveryError,
  type SubscribeOptions,
} from './outbox-types.js';
export type { HandlePaymentEventOptions, PaymentEventOutcome, PaymentEventResult } from './payment-events.js';
export type { ReconcileReport } from './reconcile.js';
export type { RefundEventResult, RefundInput, RefundOutcome } from './refund.js';
export type { ReleaseOutcome } from './release.js';
export type { RescheduleInput, RescheduleOutcome } from './reschedule.js';
export type { CreateScheduleInput, FinishSlotOutcome, ListSchedulesQuery } from './schedules.js';
