import { formatHResult, hresultInfo, HR } from './hresult.js';

/**
 * What kind of failure an error is, for callers that must act on it (the CLI's exit codes, an
 * installer's decision to retry): `input` is bad input or usage and changed nothing; `precondition`
 * is something about the machine (privileges, SQL Server, a missing writer); `failed` is an
 * operation that failed and was undone; `incomplete` is a failure whose undo did not complete;
 * `aborted` is an operation the caller stopped (an AbortSignal), undone like a failure.
 */
export type VssErrorCategory = 'input' | 'precondition' | 'failed' | 'incomplete' | 'aborted';

export interface VssErrorOptions {
  message?: string;
  cause?: unknown;
  category?: VssErrorCategory;
  /** A hint for the operator: what to do next. */
  hint?: string;
  /** Structured detail for --json output (e.g. the steps of a rolled-back transaction). */
  details?: unknown;
}

/** The one error type of mbam-vss: an HRESULT with its VSS name, a retry verdict and a message. */
export class VssError extends Error {
  readonly hresult: number;
  /** The HRESULT's symbolic name, e.g. `VSS_E_WRITERERROR_RETRYABLE`. */
  readonly hresultName: string;
  readonly retryable: boolean;
  readonly category: VssErrorCategory;
  readonly hint: string | undefined;
  details: unknown;

  constructor(hresult: number, options: VssErrorOptions = {}) {
    const info = hresultInfo(hresult);
    super(options.message ?? info.meaning, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'VssError';
    this.hresult = info.code;
    this.hresultName = info.name;
    this.retryable = info.retryable;
    this.category = options.category ?? defaultCategory(info.code);
    this.hint = options.hint;
    this.details = options.details;
  }

  /** `VSS_E_OBJECT_NOT_FOUND (0x80042308)` */
  get codeText(): string {
    const hex = formatHResult(this.hresult);
    return this.hresultName === hex ? hex : `${this.hresultName} (${hex})`;
  }

  override toString(): string {
    return `${this.codeText}: ${this.message}${this.hint ? `\n  ${this.hint}` : ''}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      hresult: this.hresult,
      hresultHex: formatHResult(this.hresult),
      name: this.hresultName,
      retryable: this.retryable,
      category: this.category,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }

  static is(e: unknown, hresult?: number): e is VssError {
    return e instanceof VssError && (hresult === undefined || e.hresult === hresult >>> 0);
  }
}

function defaultCategory(code: number): VssErrorCategory {
  switch (code) {
    case HR.E_INVALIDARG:
    case HR.VSS_E_INVALID_XML_DOCUMENT:
    case HR.VSS_E_CORRUPT_XML_DOCUMENT:
      return 'input';
    case HR.E_ACCESSDENIED:
    case HR.VSS_E_WRITER_INFRASTRUCTURE:
    case HR.VSS_E_WRITER_NOT_RESPONDING:
    case HR.E_NOTIMPL:
      return 'precondition';
    default:
      return 'failed';
  }
}

/** Bad input: names the field (a JSON path or XML location) and what was expected. */
export function invalidInput(field: string, expected: string, got?: unknown): VssError {
  const shown = got === undefined ? '' : ` (got ${describe(got)})`;
  return new VssError(HR.E_INVALIDARG, { message: `${field}: expected ${expected}${shown}`, category: 'input' });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/**
 * The error an operation a caller stopped (an AbortSignal) ends with: a VssError given as the
 * signal's reason as it is (the CLI's "interrupted by SIGINT"), else E_ABORT naming what was
 * stopped and why.
 */
export function abortError(signal: AbortSignal | undefined, what: string): VssError {
  const r: unknown = signal?.reason;
  if (r instanceof VssError) return r;
  return new VssError(HR.E_ABORT, { message: `${what} was aborted${r instanceof Error && r.name !== 'AbortError' ? `: ${r.message}` : ''}`, category: 'aborted', ...(r !== undefined ? { cause: r } : {}) });
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

