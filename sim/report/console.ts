/**
 * The console report: each step as it finishes (✓ passed, ✗ failed, – skipped), with what it changed
 * and the event log entries it caused, then one summary line per scenario. Setup steps replayed from a
 * `from` chain are shown as one line unless one of them fails.
 */
import { formatDuration } from '../clock.js';
import { formatEventRecord } from '../core.steps.js';
import type { ProgressEvent, RunReport, StepResult } from '../runner.js';

export interface ConsoleOptions {
  write: (text: string) => void;
  color: boolean;
  /** Only failures and the summary. */
  quiet?: boolean;
}

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
type Style = keyof typeof CODES;

export interface ConsoleReporter {
  onProgress(event: ProgressEvent): void;
  /** The closing line for several scenarios; wall time measured by the caller. */
  summary(reports: readonly RunReport[], wallMs: number): void;
}

export function createConsoleReporter(options: ConsoleOptions): ConsoleReporter {
  const paint = (style: Style, text: string) => (options.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text);
  const line = (text = '') => options.write(`${text}\n`);

  const stepLines = (r: StepResult): string[] => {
    const mark = r.status === 'passed' ? paint('green', '✓') : r.status === 'failed' ? paint('red', '✗') : paint('dim', '–');
    const where = r.phase === 'setup' ? `setup ${r.scenario} ${r.index}` : String(r.index);
    const time = r.status === 'skipped' ? '' : ` ${paint('dim', `(${formatDuration(r.durationMs)})`)}`;
    const out = [`${mark} ${where}. ${r.title}${time}`];
    const showDetail = !options.quiet || r.status === 'failed';
    if (showDetail) {
      for (const c of r.changes) out.push(`    ${c}`);
      for (const e of r.events) out.push(`    ${paint(e.level === 'Error' || e.level === 'Critical' ? 'red' : e.level === 'Warning' ? 'yellow' : 'dim', formatEventRecord(e))}`);
    }
    if (r.status === 'failed') {
      out.push(`    ${paint('red', r.reason ?? 'failed')}`);
      for (const d of r.details) out.push(`      ${d}`);
      out.push(`    ${paint('dim', `at ${r.position.file}:${r.position.line}:${r.position.column}`)}`);
    } else if (!options.quiet) {
      if (r.reason) out.push(`    ${paint('dim', r.reason)}`);
      // What an action's wizard or tool printed (validation results, LCSCmd log lines) is worth reading.
      if (r.kind === 'action' && r.status === 'passed') for (const d of r.details) out.push(`    ${paint('dim', d)}`);
    }
    return out;
  };

  return {
    onProgress(event) {
      switch (event.type) {
        case 'run.started':
          line(paint('bold', `${event.scenario.title} (${event.scenario.id}, seed ${event.seed})`));
          break;
        case 'setup.finished': {
          if (!event.from.length) break;
          const ok = event.results.every((r) => r.status === 'passed');
          const mark = ok ? paint('green', '✓') : paint('red', '✗');
          const chain = [...event.from].reverse().join(' → ');
          const what = event.restored ? `${event.results.length} steps of ${chain} restored from a snapshot` : `replayed ${event.results.length} steps of ${chain}`;
          line(`${mark} setup: ${what} ${paint('dim', `(${formatDuration(event.durationMs)})`)}`);
          break;
        }
        case 'step.finished':
          if (options.quiet && event.result.status !== 'failed') break;
          for (const l of stepLines(event.result)) line(l);
          break;
        case 'run.finished': {
          const { report } = event;
          const t = report.totals;
          const verdict = report.status === 'passed' ? paint('green', 'PASSED') : report.status === 'failed' ? paint('red', 'FAILED') : paint('red', 'ERROR');
          const counts = [`${t.passed} passed`, `${t.failed} failed`, `${t.skipped} skipped`].join(', ');
          line(`${verdict} ${report.scenario.id}: ${counts} of ${t.steps} steps; ${formatDuration(t.simulatedMs)} simulated`);
          if (report.error) line(paint('red', `internal error: ${report.error.message}`));
          line();
          break;
        }
        case 'step.started':
          break;
      }
    },
    summary(reports, wallMs) {
      const n = (s: string) => reports.filter((r) => r.status === s).length;
      const simulated = reports.reduce((sum, r) => sum + r.totals.simulatedMs, 0);
      const steps = reports.reduce((sum, r) => sum + r.totals.steps, 0);
      const wall = wallMs < 1000 ? `${Math.round(wallMs)} ms` : `${(wallMs / 1000).toFixed(1)} s`;
      const parts = [`${reports.length} scenario${reports.length === 1 ? '' : 's'}`, `${n('passed')} passed`, `${n('failed')} failed`];
      if (n('error')) parts.push(`${n('error')} with internal errors`);
      line(`${parts.join(', ')}; ${steps} steps; ${formatDuration(simulated)} simulated in ${wall}`);
    },
  };
}
