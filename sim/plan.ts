/**
 * Plans (decision 0016): what an action does to a real server, as protocol operations. The planner
 * rehearses the action on the lab and reads what it wrote (the directory, the DNS zones); those writes
 * become LDAP operations a real domain controller accepts. What the action did elsewhere (Setup, IIS,
 * SQL, a host's services) has no protocol here: it stays the operator's, in the product's words.
 */
import type { Lab } from './lab.js';
import type { Topology } from './topology.js';
import type { Dialer } from './probes.wire.js';

/** An access control entry to grant, by names the target resolves (trustee sAMAccountName, property set or class). */
export interface GrantAce {
  trustee: string;
  rights: string[];
  objectType?: string;
  inheritedObjectType?: string;
  inherit: boolean;
}

export type PlanOp =
  /** Values of attributes named in `binary` are hex. `ifExists: 'addValues'` adds the values to an entry already there. */
  | {
      op: 'add';
      dn: string;
      attributes: Record<string, string[]>;
      binary?: string[];
      ifExists?: 'skip' | 'addValues';
      /** Done only when this add created the entry (a user's password: never reset on an account that was there). */
      then?: PlanOp[];
    }
  | { op: 'delete'; dn: string }
  | { op: 'modify'; dn: string; changes: Array<{ operation: 'add' | 'replace' | 'delete'; attribute: string; values: string[] }>; secret?: boolean }
  /** Read the DACL, add the ACEs it lacks, write it back (SD_FLAGS: DACL only). */
  | { op: 'grant'; dn: string; aces: GrantAce[] }
  /** Reload the schema cache (`schemaUpdateNow` on the rootDSE). */
  | { op: 'schemaUpdateNow' };

export interface StepPlan {
  ops: PlanOp[];
  /** What the action did that no protocol here performs: the operator does it (empty when nothing). */
  operator: string[];
  /** Why the protocol part cannot be applied to this target (the schema's OIDs, say): the operator does it all. */
  refused?: string;
}

/** What a component's part of a plan needs to know about the target. */
export interface PlanContext {
  topology: Topology;
  /** The target file allows the lab's documentation OIDs for schema objects whose real OIDs it lacks. */
  labSchemaOids: boolean;
  /** The lab at the end of the whole rehearsal (what the schema must allow, such as parent classes). */
  end?: Lab;
}

export interface Planner {
  /** What the planner needs to see of the lab before an action. */
  capture(lab: Lab): unknown;
  /** The operations the action performed, from what `capture` saw before and the lab now. */
  plan(lab: Lab, before: unknown, ctx: PlanContext): { ops: PlanOp[]; operator?: string[]; refused?: string };
}

export type OpResult = { op: PlanOp; status: 'done' | 'skipped'; note?: string } | { op: PlanOp; status: 'failed'; error: string };

export interface ApplyTarget {
  dialer: Dialer;
  topology: Topology;
  admin: { name: string; password: string };
  timeoutMs?: number;
  /** The target file allows passwords (unicodePwd) over plain LDAP: Samba with strong auth off; never Windows. */
  plainLdapPasswords?: boolean;
  /** TLS to the DC (the target file's `ldap.tls` and trust anchors). */
  tls?: { mode: 'starttls' | 'ldaps'; ca?: string };
}

/**
 * Puts a replay's lab clients (Communicator) on the target: they reach its servers through the dialer,
 * trust its certification authority and keep the machine's time (emulators/communicator).
 */
export type ClientsOnTarget = (lab: Lab, target: { dialer: Dialer; topology: Topology; trustRoots: () => string[] }) => void;

export interface Applier {
  apply(ops: readonly PlanOp[], target: ApplyTarget): Promise<OpResult[]>;
}

/** One line per operation, as the plan shows it before it is confirmed. Secrets are never shown. */
export function describeOp(op: PlanOp): string {
  switch (op.op) {
    case 'add': {
      const classes = op.attributes.objectClass?.join(', ') ?? '';
      const then = op.then?.length ? `; if it was created: ${op.then.map(describeOp).join('; ')}` : '';
      return `LDAP add ${op.dn} (${classes})${op.ifExists === 'addValues' ? ', or add its values where it exists' : op.ifExists === 'skip' ? ', unless it exists' : ''}${then}`;
    }
    case 'delete':
      return `LDAP delete ${op.dn}`;
    case 'modify':
      return `LDAP modify ${op.dn}: ${op.changes.map((c) => `${c.operation} ${c.attribute}${op.secret ? '' : c.values.length ? ` ${c.values.join('; ')}` : ''}`).join(', ')}`;
    case 'grant':
      return `LDAP modify ${op.dn}: nTSecurityDescriptor (DACL) grant ${op.aces.map((a) => `${a.trustee} ${a.rights.join('+')}${a.objectType ? ` on ${a.objectType}` : ''}${a.inheritedObjectType ? ` inherited by ${a.inheritedObjectType}` : ''}`).join('; ')}`;
    case 'schemaUpdateNow':
      return 'LDAP modify rootDSE: schemaUpdateNow 1';
  }
}
