// Prints, once per run, which service-backed suites run here and which skip and why.
import {
  chromiumAvailability,
  mongodAvailability,
  postgresAvailability,
  redisAvailability,
  stripeMockAvailability,
} from './services.js';

export default function setup(): void {
  const lines = [
    ['Redis (BullMQ) tests', redisAvailability()],
    ['MongoDB tests', mongodAvailability()],
    ['PostgreSQL server tests', postgresAvailability()],
    ['stripe-mock tests', stripeMockAvailability()],
    ['Browser (Chromium) tests', chromiumAvailability()],
  ] as const;
  console.log('\ncareslot test services:');
  for (const [name, status] of lines) {
    console.log(status.available ? `  ${name}: running (${status.detail})` : `  ${name} skipped: ${status.detail}`);
  }
  console.log('');
}
