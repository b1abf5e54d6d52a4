/**
 * A promise bounded by a deadline: whichever comes first, the promise's settlement or the expiry
 * (whose value, or throw, then stands). The timer never outlives the race. The promise itself is
 * not cancelled: callers that own a resource (a session, a freeze) end it on their own clock.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onExpiry: () => T): Promise<T> {
  if (!Number.isFinite(ms)) return p;
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onExpiry());
      } catch (e) {
        reject(e);
      }
    }, Math.max(0, ms));
  });
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}
