/**
 * A writer that receives VSS events in this process. On Windows it subscribes a CVssWriter-
 * compatible native object whose handlers reach these TypeScript handlers through the event
 * bridge; on POSIX the requester (backup()) drives the same handler interface in-process.
 */
import { ApplicationLevel, BackupType, SourceType, WriterRestore } from '../vss/enums.js';
import { VssError } from '../vss/errors.js';
import { parseGuid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { windowsAddon, type NativeHostedWriter } from '../platform/native.js';
import { expressWriterSpec, type ExpressWriterSpec } from '../vss/express-writer.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import { EVENT_HANDLER, type InProcessWriter, type WriterEventContext, type WriterHandlers } from '../vss/writer-events.js';
import { createEventBridge, type NativeEventBridge } from './bridge.js';

/** What the native writer reads from VSS on the event's thread (hosted_writer.cc Context()). */
export interface HostedEventPayload {
  snapshotSetId?: string;
  backupType?: number;
  restoreType?: number;
  componentsSelected?: boolean;
  components?: { logicalPath: string | null; componentName: string; backupSucceeded: boolean | null }[];
}

export interface HostedWriterOptions extends WriterHandlers {
  metadata: WriterMetadata;
  applicationLevel?: InProcessWriter['applicationLevel'];
  /** Freeze-to-Thaw limit VSS enforces (CVssWriter::Initialize dwTimeoutFreeze), and the bridge's deadline for Freeze and Thaw. */
  freezeTimeoutMs?: number;
  /** The bridge's deadline for every other event. */
  eventTimeoutMs?: number;
}

/**
 * The spec the hosted writer reports in OnIdentify. Unlike an express writer (which runs no code
 * and must say writerRestore NEVER), it asks for restore events: with NEVER, VSS sends no
 * PreRestore/PostRestore and the operator's restore commands would never run
 * (VSS_WRITERRESTORE_ENUM: "VSS_WRE_ALWAYS: a writer always expects to handle a PreRestore and PostRestore").
 */
export function hostedWriterSpec(metadata: WriterMetadata): ExpressWriterSpec {
  const spec = expressWriterSpec(metadata);
  if (spec.restoreMethod) spec.restoreMethod = { ...spec.restoreMethod, writerRestore: WriterRestore.value('ALWAYS') };
  return spec;
}

/**
 * The handlers' context from what VSS reported: the snapshot set, the backup type, and this
 * writer's components the requester selected (none when it selected none: a backup that did not
 * select the writer's components did not back them up as components).
 */
export function hostedEventContext(metadata: WriterMetadata, payload: HostedEventPayload, log: (m: string) => void): WriterEventContext {
  const ctx: WriterEventContext = {
    snapshotSetId: payload.snapshotSetId ? parseGuid(payload.snapshotSetId) : parseGuid('00000000-0000-0000-0000-000000000000'),
    backupType: (payload.backupType === undefined ? undefined : BackupType.fromValue(payload.backupType)) ?? 'UNDEFINED',
    // Events VSS gives no component list (PrepareForSnapshot, Freeze, Thaw, ...) concern them all.
    components: metadata.components,
    log,
  };
  if (payload.components) {
    const selected = payload.componentsSelected === false ? [] : payload.components;
    const key = (lp: string | null | undefined, name: string) => `${(lp ?? '').toLowerCase()}\\${name.toLowerCase()}`;
    const names = new Set(selected.map((s) => key(s.logicalPath, s.componentName)));
    ctx.components = metadata.components.filter((c) => names.has(key(c.logicalPath, c.componentName)));
    const states = selected.filter((s) => names.has(key(s.logicalPath, s.componentName))).map((s) => s.backupSucceeded);
    // VSS reports it per component; one it could not report counts as not succeeded.
    if (states.length) ctx.backupSucceeded = states.every((b) => b === true);
  }
  return ctx;
}

export class HostedWriter implements InProcessWriter {
  readonly metadata: WriterMetadata;
  readonly applicationLevel: NonNullable<InProcessWriter['applicationLevel']>;
  readonly freezeTimeoutMs: number;
  readonly eventTimeoutMs: number;
  private bridge: NativeEventBridge | undefined;
  private host: NativeHostedWriter | undefined;

  constructor(private readonly o: HostedWriterOptions) {
    this.metadata = o.metadata;
    this.applicationLevel = o.applicationLevel ?? 'FRONT_END';
    this.freezeTimeoutMs = o.freezeTimeoutMs ?? 60_000;
    this.eventTimeoutMs = o.eventTimeoutMs ?? 300_000;
    for (const spec of Object.values(EVENT_HANDLER)) {
      const h = o[spec.handler];
      if (h) Object.assign(this, { [spec.handler]: h.bind(o) });
    }
  }

  get subscribed(): boolean {
    return this.host !== undefined;
  }

  /** Windows: subscribes to VSS. Elsewhere there is no VSS to subscribe to: pass it to backup(). */
  async subscribe(): Promise<void> {
    if (process.platform !== 'win32') {
      throw new VssError(HR.E_NOTIMPL, { message: 'VSS subscription exists on Windows only; on this OS pass the writer to backup({ writers: [...] })', category: 'precondition' });
    }
    if (this.host !== undefined) return;
    this.bridge = createEventBridge(async (event, payload) => {
      const handler = this.o[EVENT_HANDLER[event].handler] as ((c: WriterEventContext) => unknown) | undefined;
      if (!handler) return;
      const p = payload && typeof payload === 'object' ? (payload as HostedEventPayload) : {};
      await handler.call(this.o, hostedEventContext(this.metadata, p, () => {}));
    });
    try {
      const host = new (windowsAddon().HostedWriterHost)(this.bridge, hostedWriterSpec(this.metadata), {
        ...(this.metadata.identity.instanceName ? { instanceName: this.metadata.identity.instanceName } : {}),
        source: SourceType.value(this.metadata.identity.dataSource),
        level: ApplicationLevel.value(this.applicationLevel),
        freezeTimeoutMs: this.freezeTimeoutMs,
        eventTimeoutMs: this.eventTimeoutMs,
      });
      await host.subscribe();
      this.host = host;
    } catch (e) {
      this.bridge.close();
      this.bridge = undefined;
      throw e;
    }
  }

  /**
   * The bridge closes FIRST: every handler VSS is waiting on is answered (RETRYABLE) at once and
   * no new event reaches a handler, so an event in flight cannot hold Unsubscribe for its whole
   * deadline; then the native side unsubscribes and frees the writer once no callback runs (one
   * still running after 60 s leaves the native writer leaked on purpose, never freed under it).
   */
  async unsubscribe(): Promise<void> {
    const bridge = this.bridge;
    const host = this.host;
    this.bridge = undefined;
    this.host = undefined;
    bridge?.close();
    if (host) await host.unsubscribe();
  }
}
