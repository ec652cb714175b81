/**
 * One promise handed to every caller who asks the same thing while the same
 * work runs (private): the client's callers of an expired token while its
 * refresh runs here share one promise per query, so that a stampede's
 * thousand callers allocate and resume nothing each.
 *
 * @module
 */

/** Promises shared by work (any object that lives while it runs) and key. */
export class SharedCalls {
  #byWork = new WeakMap<object, Map<string, Promise<unknown>>>();

  /**
   * The promise of `key` while `work` runs: `start`ed by the first caller,
   * handed as it is to the others, forgotten once it settles.
   */
  share<T>(work: object, key: string, start: () => Promise<T>): Promise<T> {
    let byKey = this.#byWork.get(work);
    const found = byKey?.get(key);
    if (found !== undefined) return found as Promise<T>;
    const promise = start();
    if (byKey === undefined) this.#byWork.set(work, byKey = new Map());
    byKey.set(key, promise);
    const forget = () => {
      if (byKey.get(key) === promise) byKey.delete(key);
    };
    promise.then(forget, forget);
    return promise;
  }
}
