/**
 * The loopback event source, for tests only: a native driver (native/src/common/loopback.cc) that
 * calls an event bridge from its own threads in VSS's order and with VSS's rules. It is compiled
 * into the shipped addon, so that the bridge the tests, the AddressSanitizer soak, the Wine smoke
 * test and the benchmark exercise is the one users get, but nothing in src/ types or exports it.
 */
import { loadNative, type NativeEventBridge } from '../../src/platform/native.js';
import type { WriterEvent } from '../../src/vss/writer-events.js';

export interface LoopbackResult {
  thread: number;
  iteration: number;
  event: string;
  hr: number;
  elapsedMs: number;
}

interface LoopbackHook {
  loopbackRun(bridge: NativeEventBridge, o: { events: string[]; payload: string; timeoutMs: number; threads?: number; iterations?: number }): Promise<LoopbackResult[]>;
}

/** `timeoutMs` 0 queues each event without waiting for its answer (the benchmark's floor). */
export function loopbackRun(bridge: NativeEventBridge, o: { events: WriterEvent[]; payload?: unknown; timeoutMs: number; threads?: number; iterations?: number }): Promise<LoopbackResult[]> {
  const hook = loadNative() as unknown as LoopbackHook;
  return hook.loopbackRun(bridge, { ...o, payload: JSON.stringify(o.payload ?? {}) });
}
