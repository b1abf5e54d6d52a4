/**
 * The JavaScript side of the event bridge: VSS (or the test-only loopback driver) calls from its
 * own thread, the handler runs here, and its outcome goes back as an HRESULT: 0, the VssError's
 * writer code, or VSS_E_WRITERERROR_NONRETRYABLE for any other throw or rejection. The native side
 * enforces the per-event deadline, so a handler that never settles costs the calling thread
 * exactly that.
 */
import { loadNative, type NativeEventBridge } from '../platform/native.js';
import { writerFailureCode, type WriterEvent } from '../vss/writer-events.js';

export type { NativeEventBridge } from '../platform/native.js';

export type EventDispatcher = (event: WriterEvent, payload: unknown) => unknown | Promise<unknown>;

export function createEventBridge(dispatch: EventDispatcher): NativeEventBridge {
  return new (loadNative().EventBridge)((event, payload, callId, complete) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      parsed = payload;
    }
    // A handler that answers synchronously is answered at once: no promise, no microtask, and the
    // waiting VSS thread wakes one event-loop turn earlier. An async one is answered when it settles.
    let result: unknown;
    try {
      result = dispatch(event as WriterEvent, parsed);
    } catch (e) {
      complete(callId, writerFailureCode(e) >>> 0);
      return;
    }
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === 'function') {
      Promise.resolve(result).then(
        () => complete(callId, 0),
        (e) => complete(callId, writerFailureCode(e) >>> 0),
      );
    } else {
      complete(callId, 0);
    }
  });
}
