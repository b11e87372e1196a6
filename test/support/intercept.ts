// Tests that make one store operation misbehave inside transactions: a lost answer, a failure, a commit in between.
import type { BookingStore, StoreOperations } from '../../src/index.js';

type Operation<K extends keyof StoreOperations> = StoreOperations[K] extends (...args: infer A) => infer R
  ? (...args: A) => R
  : never;

/**
 * Replaces `name` on the operations of every transaction `store` runs from now on with
 * `replacement(original, ...args)`; every other operation is the store's own. Returns a function
 * that puts the store's `transaction` back.
 */
export function interceptOperation<K extends keyof StoreOperations>(
  store: BookingStore,
  name: K,
  replacement: (original: Operation<K>, ...args: Parameters<Operation<K>>) => ReturnType<Operation<K>>,
): () => void {
  const transaction = store.transaction.bind(store);
  store.transaction = ((work: Parameters<BookingStore['transaction']>[0]) =>
    transaction((tx) =>
      work(
        new Proxy(tx, {
          get(target, key) {
            const value = Reflect.get(target, key);
            if (typeof value !== 'function') return value;
            const bound = value.bind(target);
            return key === name
              ? (...args: Parameters<Operation<K>>) => replacement(bound as Operation<K>, ...args)
              : bound;
          },
        }),
      ),
    )) as BookingStore['transaction'];
  return () => {
    store.transaction = transaction;
  };
}
