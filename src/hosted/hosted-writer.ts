/**
 * A writer that receives VSS events in this process. On Windows it subscribes a CVssWriter-
 * compatible native object whose handlers reach these TypeScript handlers through the event
 * bridge; on POSIX the requester (backup()) drives the same handler interface in-process.
 */
import { ApplicationLevel, SourceType } from '../vss/enums.js';
import { VssError } from '../vss/errors.js';
import { HR } from '../vss/hresult.js';
import { windowsAddon, type NativeHostedWriter } from '../platform/native.js';
import { expressWriterSpec } from '../vss/express-writer.js';
import type { WriterMetadata } from '../vss/writer-metadata.js';
import { EVENT_HANDLER, type InProcessWriter, type WriterEventContext, type WriterHandlers } from '../vss/writer-events.js';
import { createEventBridge, type NativeEventBridge } from './bridge.js';

export interface HostedWriterOptions extends WriterHandlers {
  metadata: WriterMetadata;
  applicationLevel?: InProcessWriter['applicationLevel'];
  /** Freeze-to-Thaw limit VSS enforces (CVssWriter::Initialize dwTimeoutFreeze), and the bridge's deadline for Freeze and Thaw. */
  freezeTimeoutMs?: number;
  /** The bridge's deadline for every other event. */
  eventTimeoutMs?: number;
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
    const ctx = (): WriterEventContext => ({ snapshotSetId: '', backupType: 'FULL', components: this.metadata.components, log: () => {} });
    this.bridge = createEventBridge(async (event) => {
      const handler = this.o[EVENT_HANDLER[event].handler] as ((c: WriterEventContext) => unknown) | undefined;
      await handler?.call(this.o, ctx());
    });
    try {
      const host = new (windowsAddon().HostedWriterHost)(this.bridge, expressWriterSpec(this.metadata), {
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

  async unsubscribe(): Promise<void> {
    const host = this.host;
    this.host = undefined;
    if (host) await host.unsubscribe();
    this.bridge?.close();
    this.bridge = undefined;
  }
}
