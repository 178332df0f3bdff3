/**
 * Parity: one scenario on the emulated lab and on a target, check by check (decision 0016). Each check
 * both sides observed is *same* when the observations are equal, *different* otherwise, with both side
 * by side; the rest say why they were not compared (not observed on the target, superseded, an action).
 * The share of same among the compared is the figure that says how far a dry run on the lab holds.
 */
import type { ReplayReport } from './replay.js';
import type { RunReport } from './runner.js';

export type ParityVerdict = 'same' | 'different' | 'not compared';

export interface ParityRow {
  phase: string;
  scenario: string;
  index: number;
  name: string;
  title: string;
  verdict: ParityVerdict;
  /** Why a row was not compared: the target's status ("not observed", "superseded"). */
  why?: string;
  lab?: { status: string; observation?: unknown };
  target?: { status: string; observation?: unknown };
}

export interface ParityReport {
  scenario: string;
  target: string;
  same: number;
  different: number;
  notCompared: number;
  rows: ParityRow[];
}

/** JSON with keys sorted, so equal observations compare equal whatever order a server sent. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
}

export function parity(lab: RunReport, target: ReplayReport): ParityReport {
  const labSteps = new Map([...lab.setup, ...lab.steps].map((s) => [`${s.phase}/${s.scenario}/${s.index}`, s]));
  const rows: ParityRow[] = [];
  for (const t of target.steps) {
    if (t.kind !== 'check') continue;
    const l = labSteps.get(`${t.phase}/${t.scenario}/${t.index}`);
    const row: ParityRow = { phase: t.phase, scenario: t.scenario, index: t.index, name: t.name, title: t.title, verdict: 'not compared' };
    if (l) row.lab = { status: l.status, ...(l.observation !== undefined ? { observation: l.observation } : {}) };
    row.target = { status: t.status, ...(t.observation !== undefined ? { observation: t.observation } : {}) };
    const judged = t.status === 'passed' || t.status === 'failed';
    if (!judged) row.why = t.status;
    else if (t.observedBy && l) {
      // The operator looked where the lab's check reads, or the lab's client asked the target as it asked
      // the lab: the same when both judged alike.
      row.verdict = (t.status === 'passed') === (l.status === 'passed') ? 'same' : 'different';
      row.why = t.observedBy === 'operator' ? 'answered by the operator' : "judged by the lab's client on both";
    } else if (t.observation !== undefined && l?.observation !== undefined) row.verdict = canonical(t.observation) === canonical(l.observation) ? 'same' : 'different';
    else row.why = 'the lab did not observe it';
    rows.push(row);
  }
  const count = (v: ParityVerdict) => rows.filter((r) => r.verdict === v).length;
  return { scenario: target.scenario.id, target: target.target, same: count('same'), different: count('different'), notCompared: count('not compared'), rows };
}

export function parityText(p: ParityReport): string[] {
  const lines = [`Parity of ${p.scenario}: lab vs ${p.target}: ${p.same} same, ${p.different} different, ${p.notCompared} not compared`];
  for (const r of p.rows) {
    const head = `  ${r.verdict === 'same' ? '=' : r.verdict === 'different' ? '≠' : '·'} ${r.scenario} ${r.phase} ${r.index} ${r.title}`;
    if (r.verdict === 'different' && r.why === 'answered by the operator') lines.push(`${head} (${r.why})`, `      lab:      ${r.lab?.status ?? ''}`, `      operator: ${r.target?.status === 'passed' ? 'seen' : 'not seen'}`);
    else if (r.verdict === 'different' && r.target?.observation === undefined) lines.push(`${head} (${r.why ?? ''})`, `      lab:    ${r.lab?.status ?? ''}`, `      target: ${r.target?.status ?? ''}`);
    else if (r.verdict === 'different') lines.push(head, `      lab:    ${canonical(r.lab?.observation)}`, `      target: ${canonical(r.target?.observation)}`);
    else lines.push(r.why ? `${head} (${r.why})` : head);
  }
  return lines;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One test case per check: a difference is a failure, a row not compared is skipped. */
export function parityJunit(p: ParityReport): string {
  const cases = p.rows.map((r) => {
    const name = xml(`${r.phase} ${r.index} ${r.title}`);
    const open = `    <testcase classname="${xml(`parity.${p.scenario}.${r.scenario}`)}" name="${name}">`;
    if (r.verdict === 'same') return `${open}</testcase>`;
    if (r.verdict === 'not compared') return `${open}<skipped message="${xml(r.why ?? '')}"/></testcase>`;
    return `${open}<failure message="the lab and ${xml(p.target)} observed differently">${xml(`lab:    ${canonical(r.lab?.observation)}\ntarget: ${canonical(r.target?.observation)}`)}</failure></testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="${xml(`parity ${p.scenario} vs ${p.target}`)}" tests="${p.rows.length}" failures="${p.different}" skipped="${p.notCompared}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`;
}
