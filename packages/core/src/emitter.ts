/**
 * A small typed event emitter shared by the server and the SDK (browser-safe: no Node imports).
 *
 * Event maps use named tuples: `{ ended: [reason: CallEndReason] }`.
 * A listener that throws never breaks the emitter: {@link TypedEmitter.emit} contains the
 * exception and re-emits it as `listenererror` (or logs it to `console.error` when nobody listens).
 */
export type EventMap = Record<string, unknown[]>;

export type Listener<Args extends unknown[]> = (...args: Args) => void;

/** Events every {@link TypedEmitter} can emit, whatever its own map. */
export interface EmitterBaseEvents {
  listenererror: [eventName: string, error: unknown];
}

export class TypedEmitter<E extends EventMap> {
  #listeners = new Map<string, Listener<never[]>[]>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof (E & EmitterBaseEvents) & string>(
    event: K,
    listener: Listener<(E & EmitterBaseEvents)[K]>,
  ): () => void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as Listener<never[]>);
    this.#listeners.set(event, list);
    return () => {
      this.off(event, listener);
    };
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof (E & EmitterBaseEvents) & string>(
    event: K,
    listener: Listener<(E & EmitterBaseEvents)[K]>,
  ): () => void {
    const wrapper = ((...args: (E & EmitterBaseEvents)[K]) => {
      off();
      listener(...args);
    }) as Listener<(E & EmitterBaseEvents)[K]>;
    const off = this.on(event, wrapper);
    return off;
  }

  off<K extends keyof (E & EmitterBaseEvents) & string>(
    event: K,
    listener: Listener<(E & EmitterBaseEvents)[K]>,
  ): void {
    const list = this.#listeners.get(event);
    if (!list) {
      return;
    }
    const index = list.indexOf(listener as Listener<never[]>);
    if (index !== -1) {
      list.splice(index, 1);
    }
    if (list.length === 0) {
      this.#listeners.delete(event);
    }
  }

  /** Removes every listener of one event, or of all events. */
  removeAllListeners(event?: keyof (E & EmitterBaseEvents) & string): void {
    if (event === undefined) {
      this.#listeners.clear();
    } else {
      this.#listeners.delete(event);
    }
  }

  listenerCount(event: keyof (E & EmitterBaseEvents) & string): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /**
   * Calls every listener of `event` in registration order with `args`.
   * Exceptions thrown by listeners are contained (see the class comment).
   * Returns whether there was at least one listener.
   */
  emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) {
      return false;
    }
    // Copy: a listener may remove itself (once) or others while we iterate.
    for (const listener of [...list]) {
      try {
        (listener as unknown as Listener<E[K]>)(...args);
      } catch (error) {
        this.#reportListenerError(event, error);
      }
    }
    return true;
  }

  #reportListenerError(event: string, error: unknown): void {
    const list = this.#listeners.get('listenererror');
    if (event === 'listenererror' || !list || list.length === 0) {
      console.error(`listener for "${event}" threw`, error);
      return;
    }
    for (const listener of [...list]) {
      try {
        (listener as unknown as Listener<EmitterBaseEvents['listenererror']>)(event, error);
      } catch (nested) {
        console.error('listenererror listener threw', nested);
      }
    }
  }
}
