/**
 * Tests wait for conditions, never for a fixed sleep: `until` polls `probe` until it gives a value
 * (anything but undefined or false) and returns it, or throws naming `what` at the deadline, with
 * `context()` in the message for a diagnosis.
 */
export async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs: number, o: { intervalMs?: number; context?: () => unknown } = {}): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${o.context ? `\n${JSON.stringify(o.context(), null, 1)}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
}
