// 'careslot/mongoose': the BookingStore on the host's mongoose Connection.
export {
  type AvailabilityDocument,
  type AvailabilityRulesDocument,
  type BookingDocument,
  type BookingHistoryDocument,
  DEFAULT_COLLECTION_NAMES,
  DEFAULT_MODEL_NAMES,
  type DoctorLockDocument,
  type LedgerEntryDocument,
  type MigrationDocument,
  type MoneyDocument,
  type MongooseStoreModelKey,
  type OutboxDocument,
  type PatientLockDocument,
  type PaymentCustomerDocument,
  type PaymentTransactionDocument,
  type PaymentTransactionStatus,
  type ProcessedEventDocument,
  type RefundDocument,
  type ScheduleDocument,
  type TimeOffDocument,
  type WalletBalanceDocument,
  type WeeklyWindowDocument,
} from './documents.js';
export type { HostId, HostIdMode } from './ids.js';
export { ACTIVE_BOOKING_INDEX, type IndexSpec, MONGOOSE_STORE_INDEXES, SUPERSEDED_INDEXES } from './indexes.js';
export {
  MongooseStore,
  type MongooseStoreModels,
  type MongooseStoreOptions,
  type MongooseStoreWarningCode,
  type WalletBackfillResult,
} from './mongoose-store.js';
