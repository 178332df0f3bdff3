export { createConsoleReporter, type ConsoleOptions, type ConsoleReporter } from './console.js';
export { jsonReport, stableJson } from './json.js';
export { junitXml, xmlEscape } from './junit.js';
export { traceReport } from './trace.js';
