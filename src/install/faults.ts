/**
 * Fault injection for the registration transaction, so that tests can fail or kill the process at
 * every step. Off unless MBAM_VSS_ENABLE_FAULT_INJECTION=1; then MBAM_VSS_FAULT=<step>:<mode>:
 *   fail         the step fails before its act (after its intent is journaled)
 *   crash        SIGKILL right after the step's intent is journaled
 *   crash-after  SIGKILL right after the step's act, before it is journaled as done
 */
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';

export type FaultMode = 'fail' | 'crash' | 'crash-after';

function activeFault(): { step: string; mode: FaultMode } | undefined {
  if (process.env['MBAM_VSS_ENABLE_FAULT_INJECTION'] !== '1') return undefined;
  const spec = process.env['MBAM_VSS_FAULT'];
  if (!spec) return undefined;
  const i = spec.lastIndexOf(':');
  const step = spec.slice(0, i);
  const mode = spec.slice(i + 1);
  if (mode !== 'fail' && mode !== 'crash' && mode !== 'crash-after') return undefined;
  return { step, mode };
}

/**
 * Refuses a fault spec that names no declared step (or no mode): it would inject nothing, and a
 * test relying on it would pass without exercising the failure it means to.
 */
export function checkFaultSpec(knownSteps: ReadonlySet<string>): void {
  if (process.env['MBAM_VSS_ENABLE_FAULT_INJECTION'] !== '1') return;
  const spec = process.env['MBAM_VSS_FAULT'];
  if (!spec) return;
  const f = activeFault();
  if (f && knownSteps.has(f.step)) return;
  throw new VssError(HR.E_INVALIDARG, {
    message: `MBAM_VSS_FAULT=${spec}: expected <step>:<fail|crash|crash-after> with a step among ${[...knownSteps].join(', ')}`,
    category: 'input',
  });
}

export function injectFault(step: string, point: 'intent' | 'after'): void {
  const f = activeFault();
  if (!f || f.step !== step) return;
  if (point === 'intent' && f.mode === 'fail') {
    throw new VssError(HR.E_FAIL, { message: `injected failure at step '${step}' (MBAM_VSS_FAULT)`, category: 'failed' });
  }
  if ((point === 'intent' && f.mode === 'crash') || (point === 'after' && f.mode === 'crash-after')) {
    process.kill(process.pid, 'SIGKILL');
    // The signal is normally delivered before kill() returns; never run past this point anyway.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  }
}
