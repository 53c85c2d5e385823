/**
 * Serializes asynchronous operations by the resources they touch: an operation runs once every
 * operation queued before it on any of its keys has settled, and operations with disjoint keys
 * run concurrently. Each operation takes, at the moment it is queued, the tails of all its keys
 * at once, so waits only ever point to earlier operations: no deadlock is possible.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `operation` after the earlier operations on any of `keys`; settles as it does. */
  run<T>(keys: Iterable<string>, operation: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)];
    const earlier = unique.flatMap((key) => {
      const tail = this.#tails.get(key);
      return tail === undefined ? [] : [tail];
    });
    const result = Promise.all(earlier).then(operation);
    const done = result.then(
      () => undefined,
      () => undefined,
    );
    for (const key of unique) {
      this.#tails.set(key, done);
    }
    void done.then(() => {
      for (const key of unique) {
        if (this.#tails.get(key) === done) {
          this.#tails.delete(key);
        }
      }
    });
    return result;
  }

  /** How many keys have an operation queued or running (for tests and leak checks). */
  get size(): number {
    return this.#tails.size;
  }
}
