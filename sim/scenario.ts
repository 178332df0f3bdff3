/**
 * Scenarios: YAML files naming a topology (or another scenario to start from), steps, faults and final
 * expectations. This module reads them with positions, validates them against the step vocabulary it is
 * given and the topology, and reports every problem of a file as `file:line:column: message`.
 *
 * Reading happens in two passes: `readScenarioDocument` needs nothing but the text (YAML syntax, the
 * top-level keys, the header); `compileScenario` needs the step vocabulary and resolves `from` chains.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isCollection, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { refChoices, type RefKind, type StepDefinition } from './steps.js';
import { DEFAULT_TOPOLOGY, resolveTopology, type Topology } from './topology.js';
import { parseDuration } from './clock.js';
import { parseFaultArgument, resolveFaultTarget, type FaultDefinition, type FaultPlan, type FaultWhen } from './faults.js';

export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

export interface ScenarioError extends SourcePosition {
  message: string;
  /** The valid choices, when there are any worth listing. */
  hint?: string;
}

/** `scenarios/x.yaml:12:7: unknown step "ocs.addServerToPol"; did you mean "ocs.addServerToPool"?` (hint on the next line). */
export function formatScenarioError(e: ScenarioError): string {
  const head = `${e.file}:${e.line}:${e.column}: ${e.message}`;
  return e.hint ? `${head}\n  ${e.hint}` : head;
}

export function sortErrors(errors: readonly ScenarioError[]): ScenarioError[] {
  return [...errors].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

// ---------------------------------------------------------------------------------------------------
// Suggestions

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The valid names closest to `word` (case-insensitive edit distance), best first, at most three. */
export function closest(word: string, choices: readonly string[]): string[] {
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(w.length / 3));
  return choices
    .map((c) => ({ c, d: editDistance(w, c.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c);
}

function didYouMean(word: string, choices: readonly string[]): string {
  const near = closest(word, choices);
  return near.length ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : '';
}

// ---------------------------------------------------------------------------------------------------
// Pass 1: the document

type Path = readonly (string | number)[];

export interface ScenarioHeader {
  id: string;
  title: string;
  tags: string[];
  description?: string;
  seed?: string;
  from?: string;
}

/** One YAML file, parsed with positions. `header` is present when the top level is valid. */
export interface ScenarioDocument {
  file: string;
  doc: Document;
  lines: LineCounter;
  header?: ScenarioHeader;
  /** The document as plain data, converted once (with the alias limit) when it was read. */
  value?: Record<string, unknown>;
  /** Problems found without the step vocabulary: YAML syntax, top-level keys, header fields, faults. */
  errors: ScenarioError[];
}

const TOP_LEVEL_KEYS = ['id', 'title', 'tags', 'description', 'seed', 'topology', 'from', 'steps', 'faults', 'expect'] as const;

const ScenarioTopLevel = z.strictObject({
  id: z.string().regex(/^[a-z0-9-]+$/, 'a scenario id: lower-case letters, digits and "-"'),
  title: z.string().min(1),
  tags: z.array(z.string()).default([]),
  description: z.string().optional(),
  seed: z.union([z.string().min(1), z.number()]).optional(),
  topology: z.union([z.literal('default'), z.record(z.string(), z.unknown())]).optional(),
  from: z.string().min(1).optional(),
  steps: z.array(z.unknown()).default([]),
  faults: z.array(z.unknown()).default([]),
  expect: z.array(z.unknown()).default([]),
});

/** Where a path points in the document: the key of the last segment when `key`, else its value. */
export function positionOf(d: Pick<ScenarioDocument, 'file' | 'doc' | 'lines'>, path: Path, key = false): SourcePosition {
  let node: unknown = d.doc.contents;
  let offset = (node as YamlNode | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as YamlNode;
      if (last && key) {
        offset = keyNode.range?.[0] ?? offset;
        break;
      }
      const value = pair.value as YamlNode | null;
      // A key with no value (`server:`) points at the key.
      offset = value?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  const { line, col } = d.lines.linePos(offset);
  return { file: d.file, line, column: col };
}

function errorAt(d: Pick<ScenarioDocument, 'file' | 'doc' | 'lines'>, path: Path, message: string, options: { key?: boolean; hint?: string } = {}): ScenarioError {
  const e: ScenarioError = { ...positionOf(d, path, options.key), message };
  if (options.hint) e.hint = options.hint;
  return e;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

function valueAt(root: unknown, path: Path): { found: boolean; value: unknown } {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !(String(seg) in (v as object))) return { found: false, value: undefined };
    v = (v as Record<string, unknown>)[String(seg)];
  }
  return { found: true, value: v };
}

/** Zod messages written as a noun phrase ("a fully qualified domain name") read as what was expected. */
function expectation(message: string): string {
  return /^(a|an) /.test(message) ? `expected ${message}` : message;
}

interface IssueNames {
  /** What the keys are: "key", "parameter". */
  what: string;
  /** Whose keys they are: "toy.startService". */
  of?: string;
  /** The valid keys at the top level of `value`. */
  keys: readonly string[];
}

/**
 * Turns zod issues on `value` (found at `base` in the document) into positioned errors. A missing key
 * is reported at `itemPath` (the mapping that lacks it).
 */
function issuesToErrors(d: ScenarioDocument, base: Path, value: unknown, issues: readonly z.core.$ZodIssue[], names: IssueNames, itemPath: Path = base): ScenarioError[] {
  const out: ScenarioError[] = [];
  const owner = names.of ? `${names.of} ` : '';
  for (const issue of issues) {
    const rel = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const path = [...base, ...rel];
    const label = rel.length ? `${owner}${names.what} "${rel.map(String).join('.')}"` : `${owner}${names.what}s`;
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const choices = rel.length ? [] : names.keys;
        const message = `unknown ${names.what} "${k}"${names.of ? ` for ${names.of}` : ''}${didYouMean(k, choices)}`;
        out.push(errorAt(d, [...path, k], message, { key: true, ...(choices.length ? { hint: `valid: ${choices.join(', ')}` } : {}) }));
      }
      continue;
    }
    const here = valueAt(value, rel);
    if (!here.found && rel.length) {
      const expected = issue.code === 'invalid_type' ? ` (${issue.expected})` : '';
      const parent = [...base, ...rel.slice(0, -1)];
      const key = `"${rel.map(String).join('.')}"`;
      out.push(errorAt(d, parent.length > itemPath.length ? parent : itemPath, `missing ${names.what} ${key}${names.of ? ` for ${names.of}` : ''}${expected}`));
      continue;
    }
    const found = describeValue(here.value);
    let message: string;
    if (issue.code === 'invalid_type') message = `${label}: expected ${issue.expected}, found ${found}`;
    else if (issue.code === 'invalid_value') {
      const values = issue.values.map(String);
      const near = typeof here.value === 'string' ? didYouMean(here.value, values) : '';
      message = `${label}: expected one of ${values.join(', ')}, found ${found}${near}`;
    } else if (issue.code === 'invalid_union') message = `${label}: ${unionExpectations(issue)}, found ${found}`;
    else message = `${label}: ${expectation(issue.message)}, found ${found}`;
    out.push(errorAt(d, path, message));
  }
  return out;
}

function unionExpectations(issue: z.core.$ZodIssueInvalidUnion): string {
  const expected = issue.errors.flatMap((branch) => branch.map((i) => (i.code === 'invalid_type' ? i.expected : i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)).join(' | ') : i.message)));
  return `expected ${[...new Set(expected)].join(' or ')}`;
}

/**
 * What a scenario file may cost to read. A file past them is bad input (a "billion laughs" alias bomb,
 * nesting built to exhaust the stack, a file of gigabytes), reported like any other, never a crash.
 */
export const SCENARIO_LIMITS = {
  /** The largest file: the biggest shipped scenario is a few KiB. */
  maxBytes: 1024 * 1024,
  /** Collections inside collections: a scenario needs about six (steps, a step, its params, a list). */
  maxDepth: 64,
  /** Alias expansions (the `yaml` library's own default, stated so the message can say it). */
  maxAliasCount: 100,
} as const;

const tooLarge = (file: string, bytes: number): ScenarioError => ({ file, line: 1, column: 1, message: `the file is ${bytes} bytes; a scenario file is at most ${SCENARIO_LIMITS.maxBytes} bytes` });

/** The first collection nested deeper than the limit (walked without recursing past it). */
function tooDeep(doc: Document): YamlNode | undefined {
  const stack: Array<{ node: unknown; depth: number }> = [{ node: doc.contents, depth: 1 }];
  let found: YamlNode | undefined;
  while (stack.length) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (!isCollection(node)) continue;
    if (depth > SCENARIO_LIMITS.maxDepth) {
      if (!found || (node.range?.[0] ?? 0) < (found.range?.[0] ?? 0)) found = node;
      continue;
    }
    for (const item of node.items) {
      if (isPair(item)) stack.push({ node: item.key, depth: depth + 1 }, { node: item.value, depth: depth + 1 });
      else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return found;
}

/** Where an alias bomb shows: the first alias of a node that holds aliases itself, else the first alias. */
function aliasBombAt(doc: Document): { offset: number; alias: string } {
  let first: { offset: number; alias: string } | undefined;
  let nested: { offset: number; alias: string } | undefined;
  visit(doc, {
    Alias(_, alias) {
      const here = { offset: alias.range?.[0] ?? 0, alias: `*${alias.source}` };
      first ??= here;
      let holdsAliases = false;
      const target = alias.resolve(doc);
      if (target) visit(target, { Alias: () => ((holdsAliases = true), visit.BREAK) });
      if (holdsAliases) {
        nested = here;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return nested ?? first ?? { offset: 0, alias: 'an alias' };
}

/** Parses one file: YAML syntax, the top-level keys and the header. Needs no step vocabulary. */
export function readScenarioDocument(file: string, text: string): ScenarioDocument {
  const lines = new LineCounter();
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SCENARIO_LIMITS.maxBytes) return { file, doc: parseDocument(''), lines, errors: [tooLarge(file, bytes)] };
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const d: ScenarioDocument = { file, doc, lines, errors: [] };
  if (doc.errors.length) {
    // The parser ran out of stack (nesting built to exhaust it): it reports that at every level it
    // unwinds, and what else it saw is noise. The innermost report is the one to read.
    const exhausted = doc.errors.filter((e) => e.code === 'RESOURCE_EXHAUSTION').sort((a, b) => a.pos[0] - b.pos[0])[0];
    for (const err of exhausted ? [exhausted] : doc.errors) {
      const { line, col } = lines.linePos(err.pos[0]);
      const text = err.message.split('\n')[0] ?? err.code;
      d.errors.push({ file, line, column: col, message: exhausted ? `YAML nesting too deep to read (${text})` : `YAML syntax: ${text}` });
    }
    d.errors = sortErrors(d.errors);
    return d;
  }
  const deep = tooDeep(doc);
  if (deep) {
    const { line, col } = lines.linePos(deep.range?.[0] ?? 0);
    d.errors.push({ file, line, column: col, message: `YAML nesting deeper than ${SCENARIO_LIMITS.maxDepth} levels; a scenario needs far fewer` });
    return d;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: SCENARIO_LIMITS.maxAliasCount });
  } catch (error) {
    // `yaml` refuses to expand aliases past maxAliasCount ("Excessive alias count …"): bad input.
    if (!(error instanceof ReferenceError)) throw error;
    const at = aliasBombAt(doc);
    const { line, col } = lines.linePos(at.offset);
    d.errors.push({ file, line, column: col, message: `YAML aliases expand too far: ${at.alias} repeats a node that holds aliases itself (more than ${SCENARIO_LIMITS.maxAliasCount} alias expansions); write the values out` });
    return d;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    d.errors.push(errorAt(d, [], 'a scenario is a YAML mapping with id, title, steps and expect'));
    return d;
  }
  const strict = ScenarioTopLevel.safeParse(value);
  if (!strict.success) d.errors.push(...issuesToErrors(d, [], value, strict.error.issues, { what: 'key', keys: TOP_LEVEL_KEYS }));
  // An unknown key is reported above; the rest of the file is still checked.
  const parsed = ScenarioTopLevel.strip().safeParse(value);
  d.value = value as Record<string, unknown>;
  if (parsed.success) {
    const h = parsed.data;
    d.header = { id: h.id, title: h.title, tags: h.tags };
    if (h.description !== undefined) d.header.description = h.description;
    if (h.seed !== undefined) d.header.seed = String(h.seed);
    if (h.from !== undefined) d.header.from = h.from;
    if (h.from !== undefined && h.topology !== undefined) {
      d.errors.push(errorAt(d, ['topology'], `a scenario that starts from "${h.from}" inherits its topology; remove \`topology\``, { key: true }));
    }
  }
  d.errors = sortErrors(d.errors);
  return d;
}

// ---------------------------------------------------------------------------------------------------
// Catalogue: every scenario file found

/** Every `*.yaml` file under `dir`, recursively, in a stable order. */
export function discoverScenarioFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const full = join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (name.endsWith('.yaml')) out.push(full);
    }
  };
  walk(dir);
  return out;
}

/** Reads and parses one file; `display` is the name errors use (a path relative to the working directory). */
export function loadScenarioFile(path: string, display: string = path): ScenarioDocument {
  const bytes = statSync(path).size;
  if (bytes > SCENARIO_LIMITS.maxBytes) return { file: display, doc: parseDocument(''), lines: new LineCounter(), errors: [tooLarge(display, bytes)] };
  return readScenarioDocument(display, readFileSync(path, 'utf8'));
}

export interface ScenarioCatalog {
  documents: ScenarioDocument[];
  /** Documents with a valid header, by id (the first file wins; a duplicate is an error of the second). */
  byId: Map<string, ScenarioDocument>;
  /** Duplicate ids, as errors of the later files. */
  errors: ScenarioError[];
}

export function buildCatalog(documents: readonly ScenarioDocument[]): ScenarioCatalog {
  const byId = new Map<string, ScenarioDocument>();
  const errors: ScenarioError[] = [];
  const seen = new Set<ScenarioDocument>();
  for (const d of documents) {
    if (seen.has(d)) continue;
    seen.add(d);
    if (!d.header) continue;
    const first = byId.get(d.header.id);
    if (first) {
      if (first.file !== d.file) errors.push(errorAt(d, ['id'], `duplicate scenario id "${d.header.id}"; ${first.file} already uses it`));
      continue;
    }
    byId.set(d.header.id, d);
  }
  return { documents: [...seen], byId, errors };
}

// ---------------------------------------------------------------------------------------------------
// Pass 2: steps, topology references, `from` chains

export interface ScenarioStep {
  /** 1-based, in the order the scenario runs its steps then its expectations. */
  index: number;
  kind: 'action' | 'check';
  name: string;
  definition: StepDefinition;
  /** Validated by the step's schema, defaults applied. */
  params: Record<string, unknown>;
  title: string;
  /** A name faults can refer to (`step: start-services`). */
  id?: string;
  /** The step must fail with a reason containing this text. */
  expectFailure?: string;
  position: SourcePosition;
}

export interface Scenario {
  id: string;
  title: string;
  tags: string[];
  description?: string;
  seed?: string;
  file: string;
  topology: Topology;
  /** The chain of scenarios this one starts from, nearest first. */
  from: Scenario[];
  steps: ScenarioStep[];
  expect: ScenarioStep[];
  /** Faults injected in this scenario's run (a base's faults run in its setup steps). */
  faults: FaultPlan[];
}

export type CompileResult = { ok: true; scenario: Scenario } | { ok: false; errors: ScenarioError[] };

const STEP_KEYS = ['action', 'check', 'id', 'title', 'expectFailure'] as const;

function paramNames(def: StepDefinition): string[] {
  try {
    const schema = z.toJSONSchema(def.params, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown> };
    return Object.keys(schema.properties ?? {});
  } catch {
    return [];
  }
}

function componentOf(name: string): string {
  return name.split('.')[0] ?? name;
}

interface StepContextForCompile {
  d: ScenarioDocument;
  steps: readonly StepDefinition[];
  topology: Topology | undefined;
  errors: ScenarioError[];
}

function compileStep(ctx: StepContextForCompile, path: Path, item: unknown, index: number, list: 'steps' | 'expect'): ScenarioStep | undefined {
  const { d, steps, errors } = ctx;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    errors.push(errorAt(d, path, `a step is a mapping with \`action:\` or \`check:\`, found ${describeValue(item)}`));
    return undefined;
  }
  const raw = item as Record<string, unknown>;
  const hasAction = 'action' in raw;
  const hasCheck = 'check' in raw;
  if (hasAction === hasCheck) {
    errors.push(errorAt(d, path, hasAction ? 'a step has either `action:` or `check:`, not both' : 'a step needs `action: <name>` or `check: <name>`'));
    return undefined;
  }
  const kind = hasAction ? 'action' : 'check';
  const name = raw[kind];
  if (typeof name !== 'string') {
    errors.push(errorAt(d, [...path, kind], `the step name must be text, found ${describeValue(name)}`));
    return undefined;
  }
  let ok = true;
  for (const key of ['id', 'title', 'expectFailure'] as const) {
    if (key in raw && typeof raw[key] !== 'string') {
      errors.push(errorAt(d, [...path, key], `\`${key}\` must be text, found ${describeValue(raw[key])}`));
      ok = false;
    }
  }
  if (list === 'expect' && kind === 'action') {
    errors.push(errorAt(d, [...path, 'action'], `\`expect\` holds checks only; move "${name}" to \`steps\``, { key: true }));
    return undefined;
  }
  const def = steps.find((s) => s.name === name);
  if (!def) {
    const ofKind = steps.filter((s) => s.kind === kind).map((s) => s.name);
    const sameComponent = steps.filter((s) => componentOf(s.name) === componentOf(name)).map((s) => s.name);
    const other = steps.find((s) => s.name.toLowerCase() === name.toLowerCase());
    const hint = sameComponent.length
      ? `${componentOf(name)} steps: ${sameComponent.join(', ')}`
      : `components: ${[...new Set(steps.map((s) => componentOf(s.name)))].join(', ')}`;
    const suggestion = other ? `; did you mean "${other.name}"?` : didYouMean(name, steps.map((s) => s.name).length ? steps.map((s) => s.name) : ofKind);
    errors.push(errorAt(d, [...path, kind], `unknown ${kind === 'check' ? 'check' : 'step'} "${name}"${suggestion}`, { hint }));
    return undefined;
  }
  if (def.kind !== kind) {
    errors.push(errorAt(d, [...path, kind], `"${name}" is ${def.kind === 'check' ? 'a check' : 'an action'}; write \`${def.kind}: ${name}\``, { key: true }));
    return undefined;
  }
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!(STEP_KEYS as readonly string[]).includes(k)) params[k] = v;
  const parsed = def.params.safeParse(params);
  if (!parsed.success) {
    const names = paramNames(def);
    errors.push(...issuesToErrors(d, path, params, parsed.error.issues, { what: 'parameter', of: name, keys: names }).map((e) => (e.message.startsWith('unknown') && !e.hint ? { ...e, hint: names.length ? `parameters: ${names.join(', ')}` : `${name} takes no parameters` } : e)));
    return undefined;
  }
  const value = parsed.data as Record<string, unknown>;
  if (ctx.topology) {
    for (const [param, refKind] of Object.entries(def.refs ?? {})) {
      if (!refKind) continue;
      const v = value[param];
      const names = typeof v === 'string' ? [[param, v] as const] : Array.isArray(v) ? v.map((x, j) => [j, x] as const) : [];
      for (const [where, ref] of names) {
        if (typeof ref !== 'string') continue;
        ok = checkRef(ctx, typeof where === 'number' ? [...path, param, where] : [...path, param], refKind, ref) && ok;
      }
    }
  }
  if (!ok || !ctx.topology) return undefined;
  const step: ScenarioStep = {
    index,
    kind,
    name,
    definition: def,
    params: value,
    title: typeof raw.title === 'string' ? raw.title : def.title(value, ctx.topology),
    position: positionOf(d, path),
  };
  if (typeof raw.expectFailure === 'string') step.expectFailure = raw.expectFailure;
  if (typeof raw.id === 'string') step.id = raw.id;
  return step;
}

const REF_NOUN: Record<RefKind, string> = { host: 'host', frontEnd: 'front-end server', pool: 'pool', user: 'user', sipDomain: 'SIP domain' };

/** A topology's names of each kind, lower-cased, built once per topology (a scenario may name 10,000 users). */
const refSets = new WeakMap<Topology, Map<RefKind, Set<string>>>();

function refSet(kind: RefKind, topology: Topology): Set<string> {
  let byKind = refSets.get(topology);
  if (!byKind) refSets.set(topology, (byKind = new Map()));
  let names = byKind.get(kind);
  if (!names) byKind.set(kind, (names = new Set(refChoices(kind, topology).map((c) => c.toLowerCase()))));
  return names;
}

function checkRef(ctx: StepContextForCompile, path: Path, kind: RefKind, name: string): boolean {
  const topology = ctx.topology;
  if (!topology) return false;
  if (refSet(kind, topology).has(name.toLowerCase())) return true;
  const choices = refChoices(kind, topology);
  ctx.errors.push(errorAt(ctx.d, path, `no ${REF_NOUN[kind]} "${name}" in the topology${didYouMean(name, choices)}`, { hint: choices.length ? `valid: ${choices.join(', ')}` : `the topology has no ${REF_NOUN[kind]}` }));
  return false;
}

function compileTopology(d: ScenarioDocument, raw: Record<string, unknown>, errors: ScenarioError[]): Topology | undefined {
  const input = raw.topology === undefined || raw.topology === 'default' ? DEFAULT_TOPOLOGY : raw.topology;
  const r = resolveTopology(input);
  if (r.ok) return r.topology;
  for (const p of r.problems) {
    const path = ['topology', ...p.path];
    const exists = valueAt(raw, path).found;
    const where = exists ? path : ['topology', ...p.path.slice(0, -1)];
    const found = exists && p.path.length ? `, found ${describeValue(valueAt(raw, path).value)}` : '';
    const message = exists || !p.path.length ? `${expectation(p.message)}${found}` : `missing (${p.message})`;
    errors.push(errorAt(d, raw.topology === undefined ? [] : where, `topology${p.path.length ? ` ${p.path.join('.')}` : ''}: ${message}`));
  }
  return undefined;
}

/**
 * Validates a scenario against the step vocabulary and its topology, resolving its `from` chain through
 * the catalogue. Reports every problem of every file involved, sorted by position.
 */
export function compileScenario(target: ScenarioDocument, catalog: ScenarioCatalog, steps: readonly StepDefinition[], faults: readonly FaultDefinition[] = []): CompileResult {
  const cache = new Map<ScenarioDocument, CompileResult>();
  const errors: ScenarioError[] = [];
  const r = compileWithChain(target, catalog, { steps, faults }, cache, []);
  if (r.ok) return r;
  errors.push(...r.errors);
  // Errors of a base scenario appear once, even when reached twice.
  const unique = new Map(errors.map((e) => [formatScenarioError(e), e]));
  return { ok: false, errors: sortErrors([...unique.values()]) };
}

interface Vocabulary {
  steps: readonly StepDefinition[];
  faults: readonly FaultDefinition[];
}

function compileWithChain(d: ScenarioDocument, catalog: ScenarioCatalog, vocabulary: Vocabulary, cache: Map<ScenarioDocument, CompileResult>, visiting: ScenarioDocument[]): CompileResult {
  const { steps } = vocabulary;
  const cached = cache.get(d);
  if (cached) return cached;
  const errors: ScenarioError[] = [...d.errors, ...catalog.errors.filter((e) => e.file === d.file)];
  const header = d.header;
  if (!header || d.doc.errors.length) {
    const r: CompileResult = { ok: false, errors: errors.length ? errors : [errorAt(d, [], 'not a valid scenario')] };
    cache.set(d, r);
    return r;
  }
  const raw = d.value ?? {};

  let base: Scenario | undefined;
  let topology: Topology | undefined;
  if (header.from !== undefined) {
    const baseDoc = catalog.byId.get(header.from);
    if (!baseDoc) {
      const ids = [...catalog.byId.keys()].sort();
      errors.push(errorAt(d, ['from'], `no scenario with id "${header.from}"${didYouMean(header.from, ids)}`, { hint: ids.length ? `scenarios: ${ids.join(', ')}` : 'no scenarios found' }));
    } else if (baseDoc === d || visiting.includes(baseDoc)) {
      const chain = [...visiting.slice(baseDoc === d ? visiting.length : visiting.indexOf(baseDoc)), d, baseDoc].map((x) => x.header?.id ?? x.file);
      errors.push(errorAt(d, ['from'], `\`from\` makes a cycle: ${chain.join(' → ')}`));
    } else {
      const b = compileWithChain(baseDoc, catalog, vocabulary, cache, [...visiting, d]);
      if (b.ok) {
        base = b.scenario;
        topology = base.topology;
      } else {
        errors.push(...b.errors);
        errors.push(errorAt(d, ['from'], `scenario "${header.from}" (${baseDoc.file}) has errors; this scenario starts from it`));
      }
    }
  } else {
    topology = compileTopology(d, raw, errors);
  }

  const ctx: StepContextForCompile = { d, steps, topology, errors };
  const compiled: ScenarioStep[] = [];
  const expect: ScenarioStep[] = [];
  let index = 0;
  for (const list of ['steps', 'expect'] as const) {
    const items = raw[list];
    if (!Array.isArray(items)) continue;
    items.forEach((item, i) => {
      index++;
      const s = compileStep(ctx, [list, i], item, index, list);
      if (s) (list === 'steps' ? compiled : expect).push(s);
    });
  }

  const faults = topology ? compileFaults(d, raw, header.id, topology, [...compiled, ...expect], vocabulary.faults, errors) : [];

  let result: CompileResult;
  if (errors.length || !topology) result = { ok: false, errors: errors.length ? errors : [errorAt(d, [], 'not a valid scenario')] };
  else {
    const scenario: Scenario = { id: header.id, title: header.title, tags: header.tags, file: d.file, topology, from: base ? [base, ...base.from] : [], steps: compiled, expect, faults };
    if (header.description !== undefined) scenario.description = header.description;
    const seed = header.seed ?? base?.seed;
    if (seed !== undefined) scenario.seed = seed;
    result = { ok: true, scenario };
  }
  cache.set(d, result);
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Faults: `- fault: <id>` with an optional `target:` and one of `at: start`, `step: <n|name|id>`, `after: <duration>`

const FAULT_KEYS = ['fault', 'target', 'at', 'step', 'after'] as const;

/** "1 host.installFeatures, 2 ocs.addServerToPool (add-server), …": what a fault's `step:` may name. */
function stepList(steps: readonly ScenarioStep[]): string {
  return steps.map((x) => `${x.index} ${x.name}${x.id ? ` (${x.id})` : ''}`).join(', ');
}

/** Finds the step a fault refers to: its number, its `id:`, or the first step with that name. */
export function findStepRef(steps: readonly ScenarioStep[], ref: string | number): ScenarioStep | undefined {
  if (typeof ref === 'number') return steps.find((s) => s.index === ref);
  return steps.find((s) => s.id === ref) ?? steps.find((s) => s.name === ref);
}

function compileFaults(d: ScenarioDocument, raw: Record<string, unknown>, scenarioId: string, topology: Topology, steps: readonly ScenarioStep[], catalogue: readonly FaultDefinition[], errors: ScenarioError[]): FaultPlan[] {
  const items = raw.faults;
  if (!Array.isArray(items)) return [];
  const plans: FaultPlan[] = [];
  items.forEach((item, i) => {
    const path: Path = ['faults', i];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      errors.push(errorAt(d, path, `a fault is a mapping with \`fault: <id>\`, found ${describeValue(item)}`));
      return;
    }
    const f = item as Record<string, unknown>;
    for (const k of Object.keys(f)) {
      if (!(FAULT_KEYS as readonly string[]).includes(k)) errors.push(errorAt(d, [...path, k], `unknown key "${k}" in a fault${didYouMean(k, FAULT_KEYS)}`, { key: true, hint: `keys: ${FAULT_KEYS.join(', ')}` }));
    }
    const id = f.fault;
    if (typeof id !== 'string') {
      errors.push(errorAt(d, path, 'a fault needs `fault: <id>` (see `ocslab faults`)'));
      return;
    }
    const def = catalogue.find((x) => x.id === id);
    if (!def) {
      const ids = catalogue.map((x) => x.id);
      errors.push(errorAt(d, [...path, 'fault'], `unknown fault "${id}"${didYouMean(id, ids)}`, { hint: 'ocslab faults lists the catalogue' }));
      return;
    }
    if (f.target !== undefined && typeof f.target !== 'string') {
      errors.push(errorAt(d, [...path, 'target'], `\`target\` must be text, found ${describeValue(f.target)}`));
      return;
    }
    const target = resolveFaultTarget(def, topology, f.target as string | undefined);
    if ('error' in target) {
      errors.push(errorAt(d, f.target !== undefined ? [...path, 'target'] : [...path, 'fault'], target.error));
      return;
    }
    const whenKeys = (['at', 'step', 'after'] as const).filter((k) => f[k] !== undefined);
    if (whenKeys.length > 1) {
      errors.push(errorAt(d, [...path, whenKeys[1] as string], `a fault has one of \`at: start\`, \`step:\` or \`after:\`, not ${whenKeys.join(' and ')}`, { key: true }));
      return;
    }
    let when: FaultWhen = { at: 'start' };
    if (f.at !== undefined && f.at !== 'start') {
      errors.push(errorAt(d, [...path, 'at'], `\`at\` takes only "start", found ${describeValue(f.at)}; use \`step:\` or \`after:\``));
      return;
    }
    if (f.step !== undefined) {
      if (typeof f.step !== 'number' && typeof f.step !== 'string') {
        errors.push(errorAt(d, [...path, 'step'], `\`step\` is a step number, a step id or a step name, found ${describeValue(f.step)}`));
        return;
      }
      const s = findStepRef(steps, f.step);
      if (!s) {
        const names = [...new Set(steps.map((x) => x.id ?? x.name))];
        errors.push(errorAt(d, [...path, 'step'], `no step ${typeof f.step === 'number' ? `number ${f.step}` : `"${f.step}"`} in this scenario${typeof f.step === 'string' ? didYouMean(f.step, names) : ''}`, { hint: `steps: ${stepList(steps)}` }));
        return;
      }
      when = { step: s.index };
    }
    if (f.after !== undefined) {
      const ms = typeof f.after === 'string' || typeof f.after === 'number' ? parseDuration(f.after) : undefined;
      if (ms === undefined) {
        errors.push(errorAt(d, [...path, 'after'], `\`after\` is a simulated duration such as "90s", "15m" or "2h", found ${describeValue(f.after)}`));
        return;
      }
      when = { afterMs: ms };
    }
    const pos = positionOf(d, path);
    plans.push({ definition: def, target: target.target, when, scenario: scenarioId, origin: `${pos.file}:${pos.line}:${pos.column}` });
  });
  return plans;
}


/**
 * Plans `--fault ID[:target][@when]` arguments for a compiled scenario: the fault must be in the
 * catalogue, the target in the topology, and a step reference among the scenario's own steps.
 */
export function planFaultArguments(scenario: Scenario, args: readonly string[], catalogue: readonly FaultDefinition[]): { plans: FaultPlan[] } | { errors: string[] } {
  const plans: FaultPlan[] = [];
  const errors: string[] = [];
  const steps = [...scenario.steps, ...scenario.expect];
  for (const text of args) {
    const origin = `--fault ${text}`;
    const arg = parseFaultArgument(text);
    if ('error' in arg) {
      errors.push(`${origin}: ${arg.error}`);
      continue;
    }
    const def = catalogue.find((f) => f.id === arg.id);
    if (!def) {
      errors.push(`${origin}: unknown fault "${arg.id}"${didYouMean(arg.id, catalogue.map((f) => f.id))} (ocslab faults lists the catalogue)`);
      continue;
    }
    const target = resolveFaultTarget(def, scenario.topology, arg.target);
    if ('error' in target) {
      errors.push(`${origin}: ${target.error}`);
      continue;
    }
    let when: FaultWhen;
    if ('stepRef' in arg.when) {
      const s = findStepRef(steps, arg.when.stepRef);
      if (!s) {
        errors.push(`${origin}: no step ${typeof arg.when.stepRef === 'number' ? `number ${arg.when.stepRef}` : `"${arg.when.stepRef}"`} in ${scenario.id}; steps: ${stepList(steps)}`);
        continue;
      }
      when = { step: s.index };
    } else when = arg.when;
    plans.push({ definition: def, target: target.target, when, scenario: scenario.id, origin });
  }
  return errors.length ? { errors } : { plans };
}
