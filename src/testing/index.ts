// 'careslot/testing': fakes and helpers for hosts' tests and demos.
export { ManualClock } from './manual-clock.js';
export { MemoryPatientDirectory } from './memory-patient-directory.js';
export {
  TEST_SIGNATURE_HEADER,
  type TestCheckoutSession,
  type TestGatewayMethod,
  TestPaymentGateway,
  type TestPaymentGatewayOptions,
  type TestRefund,
} from './test-payment-gateway.js';
