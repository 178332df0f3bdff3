/** The trace file (`--trace out.jsonl`): every run's journal, one JSON line per entry, runs one after another. */
import type { RunReport } from '../runner.js';

export function traceReport(reports: readonly RunReport[]): string {
  return reports.map((r) => r.trace).join('');
}
