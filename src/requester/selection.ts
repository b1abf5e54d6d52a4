/**
 * Which writers and components take part in a backup: the ones selected (by writer id or friendly
 * name; every writer's selectable components by default) and, transitively, every component they
 * depend on. Pure: it reads metadata only, so it is decided before anything is frozen, and a
 * dependency nobody here provides fails the backup before it starts.
 */
import { VssError } from '../vss/errors.js';
import { isGuid, parseGuid } from '../vss/guid.js';
import { HR } from '../vss/hresult.js';
import { SQL_WRITER_ID } from '../vss/known-writers.js';
import { componentKey, type WriterComponent, type WriterMetadata } from '../vss/writer-metadata.js';
import type { InProcessWriter } from '../vss/writer-events.js';

export interface Candidate {
  /** Present for in-process writers (their handlers run); absent for metadata-only ones. */
  writer?: InProcessWriter;
  metadata: WriterMetadata;
}

export interface Selection {
  writer?: InProcessWriter;
  metadata: WriterMetadata;
  /** In the order they were pulled in: selected first, each followed by its dependencies. */
  components: WriterComponent[];
}

/** In-process writers, then registered ones not already given in-process (same writer id). */
export function candidates(writers: InProcessWriter[] = [], registered: WriterMetadata[] = []): Candidate[] {
  return [
    ...writers.map((w) => ({ writer: w, metadata: w.metadata })),
    ...registered.filter((m) => !writers.some((w) => w.metadata.identity.writerId === m.identity.writerId)).map((m) => ({ metadata: m })),
  ];
}

function findWriter(all: Candidate[], sel: string): Candidate | undefined {
  return all.find((w) => (isGuid(sel) ? w.metadata.identity.writerId === parseGuid(sel) : w.metadata.identity.friendlyName.toLowerCase() === sel.toLowerCase()));
}

/**
 * The selected writers' components with their dependency closure. With `select`, every component
 * of each named writer; without it, every selectable component of every writer.
 */
export function selectComponents(all: Candidate[], select?: string[]): Selection[] {
  const chosen = new Map<string, { entry: Candidate; components: Map<string, WriterComponent> }>();
  const include = (entry: Candidate, c: WriterComponent, chain: string[]) => {
    const key = componentKey(c);
    let slot = chosen.get(entry.metadata.identity.writerId);
    if (!slot) chosen.set(entry.metadata.identity.writerId, (slot = { entry, components: new Map() }));
    if (slot.components.has(key)) return;
    slot.components.set(key, c);
    for (const d of c.dependencies) {
      const onWriter = all.find((w) => w.metadata.identity.writerId === parseGuid(d.writerId));
      const onComponent = onWriter?.metadata.components.find((x) => x.componentName === d.componentName && (x.logicalPath ?? '') === (d.logicalPath ?? ''));
      if (!onWriter || !onComponent) {
        throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, {
          message: `component ${[...chain, key].join(' → ')} depends on writer {${d.writerId}} component ${componentKey(d)}, which ${onWriter ? 'that writer does not have' : 'no writer here provides'}`,
          category: 'precondition',
          hint: onWriter ? undefined : d.writerId === SQL_WRITER_ID
            ? 'Give the backup the topology (--topology FILE) so that the SQL Server writer (T-SQL snapshot backup) takes part.'
            : undefined,
        });
      }
      include(onWriter, onComponent, [...chain, key]);
    }
  };
  const selected = select?.length
    ? select.map((s) => {
      const w = findWriter(all, s);
      if (!w) throw new VssError(HR.VSS_E_OBJECT_NOT_FOUND, { message: `no writer matches '${s}' (known: ${all.map((x) => x.metadata.identity.friendlyName).join(', ') || 'none'})`, category: 'input' });
      return w;
    })
    : all;
  for (const w of selected) for (const c of w.metadata.components.filter((x) => x.selectable || select?.length)) include(w, c, []);
  if (chosen.size === 0) throw new VssError(HR.E_INVALIDARG, { message: 'nothing to back up: no writer with components was selected', category: 'input' });
  // VSS tells writer instances apart by instance id, and so does the backup set (writers/<instance
  // id>.xml, writer-files/<instance id>/): two taking part under one id would overwrite each other.
  const byInstance = new Map<string, string>();
  for (const { entry } of chosen.values()) {
    const { instanceId, friendlyName } = entry.metadata.identity;
    const other = byInstance.get(instanceId);
    if (other !== undefined) throw new VssError(HR.E_INVALIDARG, { message: `writers '${other}' and '${friendlyName}' have the same instance id {${instanceId}}; each writer instance needs its own`, category: 'input' });
    byInstance.set(instanceId, friendlyName);
  }
  return [...chosen.values()].map(({ entry, components }) => ({ ...(entry.writer ? { writer: entry.writer } : {}), metadata: entry.metadata, components: [...components.values()] }));
}
