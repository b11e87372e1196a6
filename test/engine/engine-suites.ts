// The engine suites every store runs: each store's runner calls this after useStoreForFixtures.
/** Every engine suite, in the order they run. */
export const ENGINE_SUITES = {
  'booking-flow': () => import('./booking-flow.test.js'),
  payments: () => import('./payments.test.js'),
  slots: () => import('./slots.test.js'),
  lifecycle: () => import('./lifecycle.test.js'),
  resilience: () => import('./resilience.test.js'),
  'bad-input': () => import('../reliability/bad-input.test.js'),
  load: () => import('../reliability/load.test.js'),
  'money-edges': () => import('./money-edges.test.js'),
  outbox: () => import('./outbox.test.js'),
  'outbox-edges': () => import('./outbox-edges.test.js'),
  wallet: () => import('./wallet.test.js'),
  availability: () => import('./availability.test.js'),
  'availability-properties': () => import('./availability.property.test.js'),
  policies: () => import('./policies.test.js'),
  reminders: () => import('./reminders.test.js'),
  'no-show': () => import('./no-show.test.js'),
} as const;

export type EngineSuite = keyof typeof ENGINE_SUITES;

/**
 * Registers every engine suite on the store the runner chose. `except` names suites the runner
 * runs in a file of its own (e.g. a slow load test), so none is left out by accident.
 */
export async function importEngineSuites(options: { except?: readonly EngineSuite[] } = {}): Promise<void> {
  for (const [name, load] of Object.entries(ENGINE_SUITES)) {
    if (!options.except?.includes(name as EngineSuite)) await load();
  }
}
