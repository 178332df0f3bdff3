/**
 * The JSON report `ocslab run --json` prints. Objects are written with sorted keys, so equal runs give
 * equal bytes whatever order the code built them in. The internal error's stack is left out.
 */
import type { RunReport } from '../runner.js';

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function stableJson(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

export function jsonReport(reports: readonly RunReport[], options: { includeStack?: boolean } = {}): string {
  const cleaned = reports.map((r) => (r.error && !options.includeStack ? { ...r, error: { message: r.error.message } } : r));
  return `${stableJson({ ok: reports.every((r) => r.ok), reports: cleaned })}\n`;
}
