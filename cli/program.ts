/**
 * The `ocslab` commands: run, list, faults, steps, serve. Exit codes follow the command-line contract: 0 all
 * expectations held, 1 a step or expectation failed, 2 bad input or usage, 3 internal error. Nothing here
 * reads the environment (see config.ts) or prints a stack trace unless debugging.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadTargetFile } from '../sim/target-file.js';
import { replayScenario, resolvePassword, TerminalQuestions, terminalConfirm, terminalPrompt, ReplayInputError, type OperatorQuestion, type ReplayReport, type ReplayStep } from '../sim/replay.js';
import { describeOp, type StepPlan } from '../sim/plan.js';
import { parity, parityJunit, parityText } from '../sim/parity.js';
import { Command, CommanderError, Option } from 'commander';
import { z } from 'zod';
import { formatDuration } from '../sim/clock.js';
import { withCoreSteps } from '../sim/core.steps.js';
import { createConsoleReporter, jsonReport, junitXml, stableJson, traceReport } from '../sim/report/index.js';
import { runScenario, type Registry, type RunReport } from '../sim/runner.js';
import {
  buildCatalog,
  closest,
  compileScenario,
  discoverScenarioFiles,
  formatScenarioError,
  loadScenarioFile,
  readScenarioDocument,
  SCENARIO_LIMITS,
  planFaultArguments,
  sortErrors,
  type Scenario,
  type ScenarioDocument,
  type ScenarioError,
} from '../sim/scenario.js';
import type { StepDefinition } from '../sim/steps.js';
import type { FaultPlan } from '../sim/faults.js';
import type { CliConfig } from './config.js';
import { FileSetupCache, labVersion } from './setup-cache.js';

export const DEFAULT_SCENARIO = 'seed-part3';

export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 3 } as const;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface CliDeps {
  config: CliConfig;
  io: CliIo;
  /** The emulators and their steps; loaded only by commands that need them. */
  loadRegistry: () => Promise<Registry>;
  /** Resolves when the process is told to stop (SIGINT/SIGTERM); `serve` runs until then. */
  untilStopped?: () => Promise<string>;
}

/** Bad input or usage found by a command: printed as is, exit code 2. */
class UsageError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

interface RunFlags {
  cache?: boolean;
  seed?: string;
  trace?: string;
  json?: boolean;
  junit?: string;
  quiet?: boolean;
  debug?: boolean;
  fault?: string[];
  target?: string;
  apply?: boolean;
  /** --no-ask: false. */
  ask?: boolean;
  yes?: boolean;
}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const { io, config } = deps;
  let exitCode: number = EXIT.ok;
  let debug = config.debug;

  const program = new Command('ocslab')
    .description('Rehearse an Office Communications Server 2007 R2 Enterprise Edition deployment on an emulated lab.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(ocslab --help lists the commands)')
    .helpCommand(false);

  const debugOption = () => new Option('--debug', 'show stack traces of internal errors (also OCSLAB_DEBUG=1)');

  program
    .command('run')
    .description(`rehearse scenarios on the embedded lab (default: ${DEFAULT_SCENARIO})`)
    .argument('[scenario...]', 'scenario files or ids')
    .option('--seed <n>', 'seed for every generated id (overrides the scenario)')
    .option('--trace <file>', 'write the trace (one JSON line per journal entry)')
    .option('--json', 'print the report as JSON on stdout, nothing else')
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--quiet', 'show only failures and the summary')
    .option('--no-cache', 'replay every from: chain instead of starting from its saved end state')
    .option('--fault <ID[:target][@when]>', 'inject a fault from the catalogue (ocslab faults): when = start, a step number, a step name or id, or a time such as 15m; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--target <file>', 'replay the scenario against real endpoints (a target file, or the endpoints file of ocslab serve): read-only, printing the plan of every action, and report parity with the lab')
    .option('--apply', 'with --target: perform each action\'s protocol operations on the target, step by step after its plan is confirmed, each followed by its checks')
    .option('--yes', 'with --apply: confirm every plan without asking (CI)')
    .option('--no-ask', 'with --target on a terminal: do not ask the operator about the checks no protocol reaches (they are reported as not observed)')
    .addOption(debugOption())
    .action(async (scenarios: string[], flags: RunFlags) => {
      debug ||= flags.debug === true;
      if ((flags.apply || flags.yes) && flags.target === undefined) throw new UsageError(['ocslab run: --apply and --yes go with --target FILE (the embedded lab is rehearsed, not applied to)']);
      exitCode = flags.target !== undefined ? await replayCommand(scenarios, flags, deps) : await runCommand(scenarios, flags, deps);
    });

  program
    .command('list')
    .description('list the scenarios found, with id, title and tags')
    .option('--json', 'print JSON')
    .addOption(debugOption())
    .action((flags: { json?: boolean; debug?: boolean }) => {
      debug ||= flags.debug === true;
      exitCode = listCommand(flags, deps);
    });

  program
    .command('serve')
    .description('open the lab at a scenario\'s end state to real clients on loopback, on the wall clock, until SIGINT/SIGTERM')
    .option('--scenario <id|file>', 'the scenario whose end state to serve', DEFAULT_SCENARIO)
    .option('--port-base <n>', 'first of consecutive ports (0: free ports)', '15000')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--endpoints-file <file>', 'write the endpoints as JSON once everything listens')
    .option('--seed <n>', 'seed for every generated id (overrides the scenario)')
    .option('--speed <x>', 'simulated seconds per wall-clock second while serving', '1')
    .option('--fault <ID[:target][@when]>', 'inject a fault, as with run; repeatable', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--no-cache', 'rehearse the whole scenario instead of going on from the rehearsal an earlier serve saved')
    .option('--sip-digest', 'offer Digest authentication on SIP instead of NTLM and Kerberos, for generic SIP clients such as baresip (a lab extension: OCS offers NTLM and Kerberos only)')
    .addOption(debugOption())
    .action(async (flags: ServeFlags) => {
      debug ||= flags.debug === true;
      exitCode = await serveCommand(flags, deps);
    });

  program
    .command('faults')
    .description('list the fault catalogue: id, title, where it can be injected, the symptoms, the fix')
    .option('--json', 'print JSON')
    .addOption(debugOption())
    .action(async (flags: { json?: boolean; debug?: boolean }) => {
      debug ||= flags.debug === true;
      exitCode = faultsCommand(flags, deps, await deps.loadRegistry());
    });

  program
    .command('steps')
    .description('list the step vocabulary: actions and checks with their parameters')
    .option('--json', 'print JSON')
    .addOption(debugOption())
    .action(async (flags: { json?: boolean; debug?: boolean }) => {
      debug ||= flags.debug === true;
      exitCode = stepsCommand(flags, deps, await deps.loadRegistry());
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof UsageError) {
      io.stderr(`${e.lines.join('\n')}\n`);
      return EXIT.usage;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr(`ocslab: internal error: ${err.message}\n`);
    if (debug && err.stack) io.stderr(`${err.stack}\n`);
    else io.stderr('(run with --debug or OCSLAB_DEBUG=1 for the stack trace)\n');
    return EXIT.internal;
  }
}

// ---------------------------------------------------------------------------------------------------

/** How a file is named in messages: relative to the working directory when it is below it. */
function displayPath(config: CliConfig, path: string): string {
  const rel = relative(config.cwd, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

interface Loaded {
  documents: Map<string, ScenarioDocument>;
}

function loadDiscovered(config: CliConfig): Loaded {
  const documents = new Map<string, ScenarioDocument>();
  for (const file of discoverScenarioFiles(config.scenariosDir)) documents.set(file, loadScenarioFile(file, displayPath(config, file)));
  return { documents };
}

/** A top-level `id:` as scenarios write it, read off the text without parsing the YAML. */
const TOP_LEVEL_ID = /^id:[ \t]*(['"]?)([A-Za-z0-9._-]+)\1[ \t]*(?:#.*)?$/gm;

/**
 * The discovered scenarios a command naming `ids` needs, parsed; the others only glanced at. Parsing every
 * file costs a serve or a run of one scenario a fifth of a second, so a file is parsed only when it may be
 * needed: its id, read off its text, is asked for or is in a `from:` chain of one that is, or its id
 * cannot be read off (written another way, or twice) and only parsing tells. A duplicate id is thus
 * still found: every file that reads as that id is parsed. `ids` lists every id read off.
 */
function loadNeeded(config: CliConfig, wanted: readonly string[]): Loaded & { ids: string[] } {
  const documents = new Map<string, ScenarioDocument>();
  const byId = new Map<string, string[]>();
  const texts = new Map<string, string>();
  const parse = (file: string) => {
    if (documents.has(file)) return;
    const text = texts.get(file);
    documents.set(file, text === undefined ? loadScenarioFile(file, displayPath(config, file)) : readScenarioDocument(displayPath(config, file), text));
  };
  for (const file of discoverScenarioFiles(config.scenariosDir)) {
    let text: string;
    try {
      if (statSync(file).size > SCENARIO_LIMITS.maxBytes) throw new Error('too large');
      text = readFileSync(file, 'utf8');
    } catch {
      parse(file);
      continue;
    }
    texts.set(file, text);
    const found = [...text.matchAll(TOP_LEVEL_ID)].map((m) => m[2] ?? '');
    if (found.length !== 1) {
      parse(file);
      continue;
    }
    const id = found[0] ?? '';
    byId.set(id, [...(byId.get(id) ?? []), file]);
  }
  const queue = [...wanted, ...[...documents.values()].flatMap((d) => (d.header?.from ? [d.header.from] : []))];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    for (const file of byId.get(id) ?? []) {
      if (documents.has(file)) continue;
      parse(file);
      const from = documents.get(file)?.header?.from;
      if (from) queue.push(from);
    }
  }
  return { documents, ids: [...byId.keys()] };
}

function looksLikePath(arg: string): boolean {
  return /\.ya?ml$/i.test(arg) || arg.includes('/') || arg.includes('\\');
}

function printErrors(io: CliIo, errors: readonly ScenarioError[]): void {
  for (const e of sortErrors(errors)) io.stderr(`${formatScenarioError(e)}\n`);
}

interface Prepared {
  scenarios: Scenario[];
  registry: Registry;
  vocabulary: StepDefinition[];
  extraFaults: Map<Scenario, FaultPlan[]>;
}

/** Finds, reads and compiles the scenarios named on the command line, with their `--fault` arguments. */
async function prepareScenarios(command: string, args: string[], faultArgs: readonly string[], deps: CliDeps): Promise<Prepared | { exit: number }> {
  const { config, io } = deps;
  const names = args.length ? args : [DEFAULT_SCENARIO];
  const loaded = loadNeeded(config, names.filter((a) => !looksLikePath(a)));
  const requested: ScenarioDocument[] = [];
  const explicit: ScenarioDocument[] = [];
  for (const arg of args) {
    if (!looksLikePath(arg)) continue;
    const abs = resolve(config.cwd, arg);
    if (!existsSync(abs) || !statSync(abs).isFile()) throw new UsageError([`ocslab ${command}: no such scenario file: ${arg}`]);
    const doc = loaded.documents.get(abs) ?? loadScenarioFile(abs, displayPath(config, abs));
    loaded.documents.set(abs, doc);
    explicit.push(doc);
  }
  // A file named on the command line may start from a discovered scenario: that chain is read too.
  const chained = explicit.flatMap((d) => (d.header?.from ? [d.header.from] : []));
  if (chained.length) for (const [file, doc] of loadNeeded(config, chained).documents) if (!loaded.documents.has(file)) loaded.documents.set(file, doc);
  const catalog = buildCatalog([...explicit, ...loaded.documents.values()]);
  let e = 0;
  for (const arg of names) {
    if (looksLikePath(arg)) {
      const doc = explicit[e++];
      if (doc) requested.push(doc);
      continue;
    }
    const doc = catalog.byId.get(arg);
    if (!doc) {
      const ids = [...new Set([...loaded.ids, ...catalog.byId.keys()])].sort();
      const near = closest(arg, ids);
      throw new UsageError([
        `ocslab ${command}: no scenario with id "${arg}" in ${displayPath(config, config.scenariosDir)}${near.length ? `; did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : ''}`,
        ids.length ? `  scenarios: ${ids.join(', ')}` : '  no scenarios found (OCSLAB_SCENARIOS_DIR sets where to look)',
      ]);
    }
    requested.push(doc);
  }

  // A file that is not even YAML has nothing more to check.
  const syntax = requested.filter((d) => d.doc.errors.length || !d.header);
  if (syntax.length) {
    printErrors(io, syntax.flatMap((d) => d.errors));
    return { exit: EXIT.usage };
  }

  let registry: Registry;
  try {
    registry = await deps.loadRegistry();
  } catch (err) {
    // Without the vocabulary, the problems found so far are still worth reporting as bad input.
    const early = requested.flatMap((d) => d.errors);
    if (early.length) {
      printErrors(io, early);
      return { exit: EXIT.usage };
    }
    throw err;
  }

  const vocabulary = withCoreSteps(registry.steps);
  const scenarios: Scenario[] = [];
  const errors = new Map<string, ScenarioError>();
  for (const doc of unique(requested)) {
    const r = compileScenario(doc, catalog, vocabulary, registry.faults ?? []);
    if (r.ok) scenarios.push(r.scenario);
    else for (const err of r.errors) errors.set(formatScenarioError(err), err);
  }
  if (errors.size) {
    printErrors(io, [...errors.values()]);
    return { exit: EXIT.usage };
  }
  const extraFaults = new Map<Scenario, FaultPlan[]>();
  for (const scenario of scenarios) {
    const planned = planFaultArguments(scenario, faultArgs, registry.faults ?? []);
    if ('errors' in planned) throw new UsageError(planned.errors.map((e) => `ocslab ${command}: ${e}`));
    extraFaults.set(scenario, planned.plans);
  }

  return { scenarios, registry, vocabulary, extraFaults };
}

interface ServeFlags {
  scenario: string;
  portBase: string;
  host: string;
  endpointsFile?: string;
  seed?: string;
  speed: string;
  fault: string[];
  cache?: boolean;
  sipDigest?: boolean;
  debug?: boolean;
}

async function serveCommand(flags: ServeFlags, deps: CliDeps): Promise<number> {
  const { io, config } = deps;
  const portBase = Number(flags.portBase);
  if (!Number.isInteger(portBase) || portBase < 0 || portBase > 65500) throw new UsageError([`ocslab serve: --port-base takes a port number from 0 to 65500, found "${flags.portBase}"`]);
  const speed = Number(flags.speed);
  if (!(speed > 0) || speed > 3600) throw new UsageError([`ocslab serve: --speed takes a number above 0 and at most 3600, found "${flags.speed}"`]);
  if (!deps.untilStopped) throw new Error('serve needs a stop signal source');
  const prepared = await prepareScenarios('serve', [flags.scenario], flags.fault, deps);
  if ('exit' in prepared) return prepared.exit;
  const [scenario] = prepared.scenarios;
  if (!scenario) throw new UsageError([`ocslab serve: no scenario ${flags.scenario}`]);
  // Listening for the stop signal from now on: a SIGTERM while the lab is still rehearsing stops it as
  // soon as it can, cleanly, rather than killing the process with its endpoints file written.
  const stopped = deps.untilStopped();
  // Loaded only here: the wire adapters (express, ws, sip.js) cost start-up time every other command saves.
  const { endpointsTable, serve } = await import('./serve.js');
  let served: Awaited<ReturnType<typeof serve>>;
  try {
    served = await serve({
      scenario,
      registry: { ...prepared.registry, steps: prepared.vocabulary },
      faults: prepared.extraFaults.get(scenario) ?? [],
      ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
      host: flags.host,
      portBase,
      ...(flags.endpointsFile !== undefined ? { endpointsFile: resolve(config.cwd, flags.endpointsFile) } : {}),
      speed,
      ...(flags.sipDigest ? { sipDigest: true } : {}),
      onError: (e) => io.stderr(`ocslab serve: the lab hit an internal error and keeps serving: ${e instanceof Error ? e.message : String(e)}\n`),
      ...(flags.cache !== false && config.setupCacheDir ? { setupCache: new FileSetupCache(config.setupCacheDir, () => labVersion(config.projectRoot)) } : {}),
    });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const port = (e as { port?: number }).port;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UsageError([`ocslab serve: cannot listen on ${flags.host}${port ? `:${port}` : ''} (${code}); choose another --port-base (0 picks free ports) or --host`]);
    }
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES' || code === 'ENOTDIR') throw new UsageError([`ocslab serve: ${systemErrorText(e)}`]);
    throw e;
  }
  const r = served.report;
  if (r.status === 'error') {
    await served.stop();
    io.stderr(`ocslab serve: the rehearsal of ${scenario.id} hit an internal error: ${r.error?.message ?? ''}\n`);
    return EXIT.internal;
  }
  const verdict = r.status === 'passed' ? 'rehearsed' : 'rehearsed with failures (serving its end state as it is)';
  const from = served.resumedFrom;
  // The rest of the rehearsal ran from the saved lab: say where it went on from, and that it is a resume.
  const at = from ? [...r.setup, ...r.steps][from.before] : undefined;
  const where = at ? (at.phase === 'setup' ? `setup step ${at.index} of ${at.scenario}` : `step ${at.index} (${at.name})`) : '';
  const resumed = from ? ` (went on from ${where} of the rehearsal an earlier serve saved ${formatDuration(from.pausedMs)} ago; --no-cache rehearses it all)` : '';
  io.stdout(`ocslab serve: ${scenario.id} ${verdict}: ${r.totals.passed} passed, ${r.totals.failed} failed, ${r.totals.skipped} skipped${resumed}; listening ${Math.round(performance.now())} ms after the process started\n`);
  for (const line of endpointsTable(served.endpoints, served.examples)) io.stdout(`  ${line}\n`);
  if (served.sipProblem) io.stdout(`  (SIP is not listening: ${served.sipProblem})\n`);
  if (flags.endpointsFile) io.stdout(`  endpoints written to ${flags.endpointsFile}\n`);
  const signal = await stopped;
  await served.stop();
  io.stdout(`ocslab serve: stopped (${signal})\n`);
  return EXIT.ok;
}

async function runCommand(args: string[], flags: RunFlags, deps: CliDeps): Promise<number> {
  const { config, io } = deps;
  if (flags.seed !== undefined && !flags.seed.trim()) throw new UsageError(['ocslab run: --seed needs a value']);
  const prepared = await prepareScenarios('run', args, flags.fault ?? [], deps);
  if ('exit' in prepared) return prepared.exit;
  const { scenarios, registry, vocabulary, extraFaults } = prepared;
  const progressOut = flags.json ? io.stderr : io.stdout;
  const reporter = createConsoleReporter({ write: progressOut, color: config.color && !flags.json, quiet: flags.quiet === true });
  const started = performance.now();
  const reports: RunReport[] = [];
  const setupCache = flags.cache !== false && config.setupCacheDir ? new FileSetupCache(config.setupCacheDir, () => labVersion(config.projectRoot)) : undefined;
  for (const scenario of scenarios) {
    const options = {
      scenario,
      registry: { ...registry, steps: vocabulary },
      faults: extraFaults.get(scenario) ?? [],
      onProgress: flags.json && flags.quiet ? undefined : reporter.onProgress,
      ...(setupCache ? { setupCache } : {}),
    };
    reports.push(await runScenario(flags.seed !== undefined ? { ...options, seed: flags.seed } : options));
  }
  if (!(flags.json && flags.quiet)) reporter.summary(reports, performance.now() - started);

  if (flags.json) io.stdout(jsonReport(reports, { includeStack: config.debug || flags.debug === true }));
  if (flags.trace) writeOutput(config, flags.trace, traceReport(reports));
  if (flags.junit) writeOutput(config, flags.junit, junitXml(reports));

  for (const r of reports) {
    for (const f of r.faults.filter((x) => x.injectedAt === 'not reached')) io.stderr(`ocslab run: ${f.origin} was not injected in ${r.scenario.id}: ${f.note}\n`);
  }
  const debugging = config.debug || flags.debug === true;
  for (const r of reports) {
    if (r.error && debugging && r.error.stack && !flags.json) io.stderr(`${r.error.stack}\n`);
  }
  if (reports.some((r) => r.status === 'error')) return EXIT.internal;
  if (reports.some((r) => r.status === 'failed')) return EXIT.failed;
  return EXIT.ok;
}

/** `ocslab run S --target FILE`: the replay on the target, the rehearsal on the lab, and their parity. */
async function replayCommand(args: string[], flags: RunFlags, deps: CliDeps): Promise<number> {
  const { config, io } = deps;
  if (args.length !== 1) throw new UsageError(['ocslab run --target: give exactly one scenario']);
  if (flags.fault?.length) throw new UsageError(['ocslab run --target: --fault belongs to the emulated lab; a real target has only the faults it has']);
  const prepared = await prepareScenarios('run', args, [], deps);
  if ('exit' in prepared) return prepared.exit;
  const { scenarios, registry, vocabulary } = prepared;
  const scenario = scenarios[0] as Scenario;
  const targetPath = resolve(config.cwd, flags.target ?? '');
  const loaded = loadTargetFile(targetPath, scenario.topology);
  if (!loaded.ok) {
    printErrors(io, loaded.errors.map((e) => ({ ...e, file: flags.target ?? e.file })));
    return EXIT.usage;
  }
  const target = { ...loaded.target, file: flags.target ?? loaded.target.file };
  const out = flags.json ? io.stderr : io.stdout;
  if (flags.yes && !flags.apply) throw new UsageError(['ocslab run: --yes confirms the plans of --apply; give --apply too']);
  const interactive = process.stdin.isTTY === true;
  if (flags.apply && !flags.yes && !interactive) throw new UsageError(['ocslab run --apply: this run is not interactive, so nobody can confirm the plans; add --yes to confirm them all']);
  let replay: ReplayReport & { rehearsal: RunReport };
  let questions: TerminalQuestions | undefined;
  try {
    const password = await resolvePassword(target, process.env, interactive ? terminalPrompt : undefined);
    out(flags.apply
      ? `Applying ${scenario.id} to ${target.name} step by step: each action's plan is shown${flags.yes ? ' and confirmed (--yes)' : ' and asked for'}, then its checks are judged on the target\n`
      : `Replaying ${scenario.id} read-only against ${target.name}: nothing is written; each action shows its plan; checks before the last action are superseded by it\n`);
    // Opened after the password prompt, which reads the terminal its own way (without echo).
    // The same reader confirms the plans of --apply, so answers typed ahead reach the right question.
    questions = interactive ? new TerminalQuestions() : undefined;
    const asking = flags.ask !== false ? questions : undefined;
    const show = (s: ReplayStep) => {
      if (flags.quiet && s.status !== 'failed' && s.status !== 'not applied') return;
      out(`  ${s.status.padEnd(12)} ${s.scenario} ${s.phase} ${s.index} ${s.title}${s.reason ? `: ${s.reason}` : ''}\n`);
      if (s.status !== 'passed' && s.status !== 'superseded') for (const d of s.details) out(`               ${d}\n`);
    };
    replay = await replayScenario({
      scenario,
      registry: { ...registry, steps: vocabulary },
      target,
      password,
      labSchemaOids: target.labSchemaOids,
      ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
      ...(flags.apply
        ? {
            apply: {
              confirm: async (step: ReplayStep, plan: StepPlan) => {
                out(`  plan of ${step.scenario} ${step.phase} ${step.index} ${step.title}:\n`);
                for (const op of plan.ops) out(`               ${describeOp(op)}\n`);
                for (const line of plan.operator) out(`               operator: ${line}\n`);
                return flags.yes === true || (questions ? /^y(es)?$/i.test((await questions.line('  Perform these operations on the target? [y/N] ')).trim()) : await terminalConfirm('  Perform these operations on the target? [y/N] '));
              },
            },
          }
        : {}),
      // Interactive: what no protocol reaches is asked of the operator, with the place to look.
      ...(asking ? { ask: (q: OperatorQuestion) => asking.answer(q) } : {}),
      onStep: show,
    });
  } catch (e) {
    if (e instanceof ReplayInputError) {
      io.stderr(`ocslab run: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  } finally {
    questions?.close();
  }
  const { rehearsal, ...report } = replay;
  const p = parity(rehearsal, report);
  const t = report.totals;
  out(`${report.status.toUpperCase()}: ${t.passed} passed, ${t.failed} failed, ${t['not observed']} not observed, ${t.superseded} superseded; actions: ${t.applied} applied, ${t.planned} planned, ${t.operator} for the operator, ${t['not applied']} not applied, ${t.skipped} skipped\n`);
  for (const line of parityText(p)) out(`${line}\n`);
  if (flags.json) io.stdout(`${stableJson({ replay: report, parity: p })}\n`);
  if (flags.junit) writeOutput(config, flags.junit, parityJunit(p));
  return report.status === 'failed' ? EXIT.failed : EXIT.ok;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function writeOutput(config: CliConfig, file: string, text: string): void {
  const abs = resolve(config.cwd, file);
  try {
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, text);
  } catch (e) {
    throw new UsageError([`ocslab: cannot write ${file}: ${systemErrorText(e)}`]);
  }
}

/** "EISDIR: illegal operation on a directory" without the syscall and path noise. */
function systemErrorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code} (${(err.message ?? '').replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')})` : String(e);
}

// ---------------------------------------------------------------------------------------------------

function listCommand(flags: { json?: boolean }, deps: CliDeps): number {
  const { config, io } = deps;
  const docs = [...loadDiscovered(config).documents.values()];
  const catalog = buildCatalog(docs);
  const listed = [...catalog.byId.values()].flatMap((d) => (d.header ? [{ id: d.header.id, title: d.header.title, tags: d.header.tags, from: d.header.from ?? null, file: d.file }] : []));
  listed.sort((a, b) => (a.id < b.id ? -1 : 1));
  if (flags.json) io.stdout(`${stableJson(listed)}\n`);
  else {
    const width = Math.max(0, ...listed.map((s) => s.id.length));
    for (const s of listed) io.stdout(`${s.id.padEnd(width)}  ${s.title}${s.tags.length ? `  [${s.tags.join(', ')}]` : ''}\n`);
    if (!listed.length) io.stdout(`no scenarios in ${displayPath(config, config.scenariosDir)}\n`);
  }
  const problems = [...docs.flatMap((d) => d.errors), ...catalog.errors];
  printErrors(io, problems);
  return problems.length ? EXIT.usage : EXIT.ok;
}

interface ParamInfo {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  ref?: string;
}

function describeParams(def: StepDefinition): { schema: unknown; params: ParamInfo[] } {
  let schema: { properties?: Record<string, Record<string, unknown>>; required?: string[] } = {};
  try {
    schema = z.toJSONSchema(def.params, { io: 'input', unrepresentable: 'any' }) as typeof schema;
  } catch {
    schema = {};
  }
  const required = new Set(schema.required ?? []);
  const params = Object.entries(schema.properties ?? {}).map(([name, p]) => {
    const info: ParamInfo = { name, type: typeText(p), required: required.has(name) };
    if ('default' in p) info.default = p.default;
    const ref = def.refs?.[name];
    if (ref) info.ref = ref;
    return info;
  });
  return { schema, params };
}

function typeText(p: Record<string, unknown>): string {
  if (Array.isArray(p.enum)) return p.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(p.anyOf)) return p.anyOf.map((x) => typeText(x as Record<string, unknown>)).join(' | ');
  if (p.type === 'array' && p.items && typeof p.items === 'object') return `${typeText(p.items as Record<string, unknown>)}[]`;
  if (Array.isArray(p.type)) return p.type.join(' | ');
  return typeof p.type === 'string' ? p.type : 'any';
}

function stepsCommand(flags: { json?: boolean }, deps: CliDeps, registry: Registry): number {
  const { io } = deps;
  const steps = withCoreSteps(registry.steps);
  if (flags.json) {
    io.stdout(`${stableJson(steps.map((s) => ({ name: s.name, kind: s.kind, summary: s.summary, refs: s.refs ?? {}, params: describeParams(s).schema })))}\n`);
    return EXIT.ok;
  }
  let component = '';
  for (const s of steps) {
    const c = s.name.split('.')[0] ?? '';
    if (c !== component) {
      if (component) io.stdout('\n');
      io.stdout(`${c}\n`);
      component = c;
    }
    io.stdout(`  ${s.kind === 'check' ? 'check ' : 'action'}  ${s.name}  ${s.summary}\n`);
    for (const p of describeParams(s).params) {
      const extra = [p.required ? 'required' : 'optional', p.default !== undefined ? `default ${JSON.stringify(p.default)}` : '', p.ref ? `a ${p.ref} of the topology` : ''].filter(Boolean).join(', ');
      io.stdout(`            ${p.name}: ${p.type}  (${extra})\n`);
    }
  }
  return EXIT.ok;
}

function faultsCommand(flags: { json?: boolean }, deps: CliDeps, registry: Registry): number {
  const { io } = deps;
  const faults = [...(registry.faults ?? [])].sort((a, b) => a.category.localeCompare(b.category) || a.id.localeCompare(b.id));
  if (flags.json) {
    io.stdout(`${stableJson(faults.map((f) => ({ id: f.id, title: f.title, category: f.category, target: f.target, where: f.where, symptoms: f.symptoms, fix: f.fix, certainty: f.certainty, ...(f.note ? { note: f.note } : {}) })))}\n`);
    return EXIT.ok;
  }
  let category = '';
  for (const f of faults) {
    if (f.category !== category) {
      category = f.category;
      io.stdout(`\n${category}\n`);
    }
    io.stdout(`  ${f.id}  ${f.title}\n`);
    io.stdout(`      inject: ${f.where}${f.target === 'lab' ? '' : ` (target: a ${f.target})`}\n`);
    for (const s of f.symptoms) io.stdout(`      symptom: ${s}\n`);
    io.stdout(`      fix: ${f.fix}\n`);
    if (f.certainty !== 'verified') io.stdout(`      sourced: ${f.certainty}${f.note ? ` — ${f.note}` : ''}\n`);
  }
  io.stdout(`\n${faults.length} faults\n`);
  return EXIT.ok;
}

