/**
 * The undo steps of a backup (snapshots to release, mounts and directories to remove), run newest
 * first. Every step runs even when an earlier one failed, and every failure is reported: a failed
 * release must never hide the error that started the cleanup, nor be hidden by it, because it
 * names something left behind (a snapshot on a SAN or in a cloud keeps costing until removed).
 */
export interface CleanupFailure {
  what: string;
  error: Error;
}

export class CleanupStack {
  private steps: { what: string; run: () => unknown }[] = [];

  /** `what` names the thing that would be left behind if the step failed. */
  push(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Runs (and forgets) every step, newest first; returns the failures. */
  async run(): Promise<CleanupFailure[]> {
    const failures: CleanupFailure[] = [];
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.run();
      } catch (e) {
        failures.push({ what: step.what, error: e instanceof Error ? e : new Error(String(e)) });
      }
    }
    return failures;
  }
}

export function describeFailures(failures: CleanupFailure[]): string {
  return failures.map((f) => `${f.what}: ${f.error.message}`).join('; ');
}
