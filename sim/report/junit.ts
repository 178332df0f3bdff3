/**
 * JUnit XML for CI: one <testsuite> per scenario, one <testcase> per step (setup steps included, with
 * classname "<id>.setup"). Times are simulated seconds, so the file is the same on every run.
 */
import type { RunReport, StepResult } from '../runner.js';

/** Escapes text for XML attributes and content, dropping characters XML 1.0 cannot carry. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function testcase(report: RunReport, r: StepResult): string {
  const classname = r.phase === 'setup' ? `${report.scenario.id}.setup` : report.scenario.id;
  const attrs = `classname="${xmlEscape(classname)}" name="${xmlEscape(`${r.index}. ${r.title}`)}" time="${seconds(r.durationMs)}" file="${xmlEscape(r.position.file)}" line="${r.position.line}"`;
  const body: string[] = [];
  if (r.status === 'failed') {
    const detail = [r.reason ?? 'failed', ...r.details].join('\n');
    const tag = r.reason?.startsWith('internal error:') ? 'error' : 'failure';
    body.push(`      <${tag} message="${xmlEscape(r.reason ?? 'failed')}" type="${r.kind}">${xmlEscape(detail)}</${tag}>`);
  } else if (r.status === 'skipped') body.push(`      <skipped message="${xmlEscape(r.reason ?? 'skipped')}"/>`);
  const out = [...r.changes, ...r.events.map((e) => `${e.host} ${e.log} ${e.level} ${e.eventId} ${e.source}: ${e.message}`)];
  if (out.length) body.push(`      <system-out>${xmlEscape(out.join('\n'))}</system-out>`);
  return body.length ? `    <testcase ${attrs}>\n${body.join('\n')}\n    </testcase>` : `    <testcase ${attrs}/>`;
}

export function junitXml(reports: readonly RunReport[]): string {
  const count = (rs: StepResult[], pred: (r: StepResult) => boolean) => rs.filter(pred).length;
  const isError = (r: StepResult) => r.status === 'failed' && (r.reason ?? '').startsWith('internal error:');
  const isFailure = (r: StepResult) => r.status === 'failed' && !isError(r);
  const suites = reports.map((report) => {
    const rs = [...report.setup, ...report.steps];
    const props = [`      <property name="seed" value="${xmlEscape(report.seed)}"/>`, `      <property name="target" value="${xmlEscape(report.target)}"/>`];
    if (report.scenario.from.length) props.push(`      <property name="from" value="${xmlEscape(report.scenario.from.join(' '))}"/>`);
    const attrs = `name="${xmlEscape(report.scenario.id)}" tests="${rs.length}" failures="${count(rs, isFailure)}" errors="${count(rs, isError)}" skipped="${count(rs, (r) => r.status === 'skipped')}" time="${seconds(report.totals.simulatedMs)}" file="${xmlEscape(report.scenario.file)}"`;
    return [`  <testsuite ${attrs}>`, '    <properties>', ...props, '    </properties>', ...rs.map((r) => testcase(report, r)), '  </testsuite>'].join('\n');
  });
  const all = reports.flatMap((r) => [...r.setup, ...r.steps]);
  const total = reports.reduce((s, r) => s + r.totals.simulatedMs, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="ocslab" tests="${all.length}" failures="${count(all, isFailure)}" errors="${count(all, isError)}" skipped="${count(all, (r) => r.status === 'skipped')}" time="${seconds(total)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
