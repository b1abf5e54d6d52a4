/**
 * The JavaScript side of the event bridge: VSS (or the loopback driver) calls from its own thread,
 * the handler runs here, and its outcome goes back as an HRESULT: 0, the VssError's writer code,
 * or VSS_E_WRITERERROR_NONRETRYABLE for any other throw or rejection. The native side enforces the
 * per-event deadline, so a handler that never settles costs the calling thread exactly that.
 */
import { loadNative } from '../platform/native.js';
import { writerFailureCode, type WriterEvent } from '../vss/writer-events.js';

export interface NativeEventBridge {
  close(): void;
  pending(): number;
  ref(): void;
  unref(): void;
}

interface BridgeAddon {
  EventBridge: new (handler: (event: string, payload: string, complete: (hr: number) => void) => void) => NativeEventBridge;
  loopbackRun(bridge: NativeEventBridge, o: { events: string[]; payload?: string; timeoutMs: number; threads?: number; iterations?: number }): Promise<LoopbackResult[]>;
  eventBridgeLiveCalls(): number;
}

export interface LoopbackResult {
  thread: number;
  iteration: number;
  event: string;
  hr: number;
  elapsedMs: number;
}

export type EventDispatcher = (event: WriterEvent, payload: unknown) => unknown | Promise<unknown>;

export function createEventBridge(dispatch: EventDispatcher): NativeEventBridge {
  const addon = loadNative() as unknown as BridgeAddon;
  return new addon.EventBridge((event, payload, complete) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      parsed = payload;
    }
    Promise.resolve()
      .then(() => dispatch(event as WriterEvent, parsed))
      .then(
        () => complete(0),
        (e) => complete(writerFailureCode(e) >>> 0),
      );
  });
}

/** The native loopback event source (tests, benchmarks): calls the bridge from its own threads. */
export function loopbackRun(bridge: NativeEventBridge, o: { events: WriterEvent[]; payload?: unknown; timeoutMs: number; threads?: number; iterations?: number }): Promise<LoopbackResult[]> {
  const addon = loadNative() as unknown as BridgeAddon;
  return addon.loopbackRun(bridge, { ...o, payload: JSON.stringify(o.payload ?? {}) });
}

export function liveBridgeCalls(): number {
  return (loadNative() as unknown as BridgeAddon).eventBridgeLiveCalls();
}
