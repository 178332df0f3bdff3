/** Replication: applying another DC's change to this replica (last writer wins per attribute). */
import { absorbSchemaEntry, inSchema } from './ad.schema.js';
import type { Ace } from './ad.events.js';
import { noteWrite } from './ad.index.js';
import { generalizedTime, type AdEntry, type NamingContexts, type Replica } from './ad.store.js';

export interface ChangeRecord {
  seq: number;
  origin: string;
  dueAt: number;
  op: 'add' | 'modify' | 'delete';
  key: string;
  dn: string;
  entry?: AdEntry;
  changed?: Record<string, string[] | null>;
  aces?: Ace[];
}

export function applyChange(replica: Replica, change: ChangeRecord, now: number, ncs: NamingContexts, inPlace = false): Replica {
  const usn = replica.usn + 1;
  const directory = inPlace ? replica.directory : { ...replica.directory };
  if (change.op === 'delete') delete directory[change.key];
  else if (change.op === 'add' && change.entry) {
    const attrs = { ...change.entry.attributes, uSNCreated: [String(usn)], uSNChanged: [String(usn)], whenChanged: [generalizedTime(now)] };
    directory[change.key] = { ...change.entry, attributes: attrs };
  } else {
    const current = directory[change.key];
    if (current) {
      const attrs = { ...current.attributes };
      for (const [n, v] of Object.entries(change.changed ?? {})) {
        if (v) attrs[n] = [...v];
        else delete attrs[n];
      }
      attrs.uSNChanged = [String(usn)];
      attrs.whenChanged = [generalizedTime(now)];
      directory[change.key] = { ...current, attributes: attrs, ...(change.aces ? { aces: change.aces } : {}) };
    }
  }
  const applied = directory[change.key];
  noteWrite(replica.directory, directory, change.key, applied);
  const schema = applied && inSchema(change.key, ncs) ? absorbSchemaEntry(replica.schema, applied, inPlace) : replica.schema;
  if (inPlace) return Object.assign(replica, { usn, schema });
  return { directory, usn, schema };
}
