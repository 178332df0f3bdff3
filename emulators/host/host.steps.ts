/** Operator steps on a Windows host: Server Manager, services.msc / sc, the firewall, the certificate store. */
import { z } from 'zod';
import { defineStep, failed, passed, type StepContext, type StepDefinition } from '../../sim/steps.js';
import type { StepOutcome } from '../../sim/steps.js';
import { hostId, type StartupType } from './host.events.js';
import {
  hostAddServiceDependency,
  hostBoot,
  hostCertificates,
  hostClockOffset,
  hostSetClockOffset,
  hostSyncTime,
  hostFeatures,
  hostFirewallEnabled,
  hostInstallFeatures,
  hostRemoveFeatures,
  hostService,
  hostServices,
  hostSetFirewall,
  hostSetServiceLogon,
  hostSetStartupType,
  hostSettled,
  hostShutdown,
  hostStartService,
  hostStopService,
} from './host.client.js';
import type { Result } from '../../sim/result.js';
import { formatDuration, parseDuration } from '../../sim/clock.js';

/** "+10m", "-7m", "90s": a signed duration. */
const signedDuration = z.union([z.string(), z.number()]).refine((v) => parseSigned(v) !== undefined, { message: 'a signed duration such as "+10m", "-7m" or a number of milliseconds' });
function parseSigned(v: string | number): number | undefined {
  if (typeof v === 'number') return v;
  const m = /^([+-]?)(.+)$/.exec(v.trim());
  const d = m?.[2] !== undefined ? parseDuration(m[2]) : undefined;
  return d === undefined ? undefined : m?.[1] === '-' ? -d : d;
}
const signed = (ms: number) => `${ms < 0 ? '-' : '+'}${formatDuration(Math.abs(ms))}`;

const SERVICE_WAIT_MS = 5 * 60_000;
const STARTUP_TYPES = ['Automatic', 'Automatic (Delayed Start)', 'Manual', 'Disabled'] as const;
const SERVICE_STATES = ['Stopped', 'Start Pending', 'Running', 'Stop Pending'] as const;

const ref = (ctx: StepContext, server: string) => ctx.lab.get(hostId(server));
const outcome = (r: Result<unknown>, details?: string[]): StepOutcome => (r.ok ? passed(details) : failed(r.failure.message, details));

/** Lets the SCM finish (nothing pending on the host), then reports the service's state. */
function settle(ctx: StepContext, server: string): void {
  ctx.lab.waitFor(() => hostSettled(ref(ctx, server)), SERVICE_WAIT_MS);
}

export const hostSteps: StepDefinition[] = [
  defineStep({
    name: 'host.installFeatures',
    kind: 'action',
    summary: 'Install Windows roles, role services or features (Server Manager / ServerManagerCmd -install).',
    params: z.strictObject({ server: z.string(), features: z.array(z.string()).min(1) }),
    refs: { server: 'host' },
    title: (p) => `Install ${p.features.join(', ')} on ${p.server}`,
    emulated: (ctx, p) => {
      const r = hostInstallFeatures(ref(ctx, p.server), { features: p.features });
      settle(ctx, p.server);
      return outcome(r);
    },
  }),
  defineStep({
    name: 'host.removeFeatures',
    kind: 'action',
    summary: 'Remove Windows roles, role services or features.',
    params: z.strictObject({ server: z.string(), features: z.array(z.string()).min(1) }),
    refs: { server: 'host' },
    title: (p) => `Remove ${p.features.join(', ')} from ${p.server}`,
    emulated: (ctx, p) => outcome(hostRemoveFeatures(ref(ctx, p.server), { features: p.features })),
  }),
  defineStep({
    name: 'host.startService',
    kind: 'action',
    summary: 'Start a Windows service (net start) and wait until the SCM is done.',
    params: z.strictObject({ server: z.string(), service: z.string() }),
    refs: { server: 'host' },
    title: (p) => `net start ${p.service} on ${p.server}`,
    emulated: (ctx, p) => {
      const r = hostStartService(ref(ctx, p.server), { name: p.service });
      if (!r.ok) return failed(`System error ${String(r.failure.code ?? '')} has occurred. ${r.failure.message}`.replace('error  has', 'error has'));
      settle(ctx, p.server);
      const s = hostService(ref(ctx, p.server), p.service);
      return s?.state === 'Running' ? passed([`${s.displayName}: Running`]) : failed(`The ${s?.displayName ?? p.service} service could not be started.`, [`state: ${s?.state ?? 'unknown'}`]);
    },
  }),
  defineStep({
    name: 'host.stopService',
    kind: 'action',
    summary: 'Stop a Windows service (net stop /y: dependants stop first).',
    params: z.strictObject({ server: z.string(), service: z.string() }),
    refs: { server: 'host' },
    title: (p) => `net stop ${p.service} on ${p.server}`,
    emulated: (ctx, p) => {
      const r = hostStopService(ref(ctx, p.server), { name: p.service });
      settle(ctx, p.server);
      return outcome(r);
    },
  }),
  defineStep({
    name: 'host.setStartupType',
    kind: 'action',
    summary: "Change a service's startup type (services.msc, sc config start=).",
    params: z.strictObject({ server: z.string(), service: z.string(), startupType: z.enum(STARTUP_TYPES) }),
    refs: { server: 'host' },
    title: (p) => `Set ${p.service} on ${p.server} to ${p.startupType}`,
    emulated: (ctx, p) => outcome(hostSetStartupType(ref(ctx, p.server), { name: p.service, startupType: p.startupType as StartupType })),
  }),
  defineStep({
    name: 'host.setServiceLogon',
    kind: 'action',
    summary: "Set a service's logon account and password (services.msc, Log On tab).",
    params: z.strictObject({ server: z.string(), service: z.string(), account: z.string(), password: z.string() }),
    refs: { server: 'host' },
    title: (p) => `Set ${p.service} on ${p.server} to log on as ${p.account}`,
    emulated: (ctx, p) => outcome(hostSetServiceLogon(ref(ctx, p.server), { name: p.service, account: p.account, password: p.password })),
  }),
  defineStep({
    name: 'host.addServiceDependency',
    kind: 'action',
    summary: 'Make a service depend on another (sc config <service> depend= <other>).',
    params: z.strictObject({ server: z.string(), service: z.string(), dependsOn: z.string() }),
    refs: { server: 'host' },
    title: (p) => `sc config ${p.service} depend= ${p.dependsOn} on ${p.server}`,
    emulated: (ctx, p) => outcome(hostAddServiceDependency(ref(ctx, p.server), { name: p.service, dependsOn: p.dependsOn })),
  }),
  defineStep({
    name: 'host.setFirewall',
    kind: 'action',
    summary: 'Turn the Windows Firewall on or off.',
    params: z.strictObject({ server: z.string(), enabled: z.boolean() }),
    refs: { server: 'host' },
    title: (p) => `Turn Windows Firewall ${p.enabled ? 'on' : 'off'} on ${p.server}`,
    emulated: (ctx, p) => outcome(hostSetFirewall(ref(ctx, p.server), { enabled: p.enabled })),
  }),
  defineStep({
    name: 'host.shutdown',
    kind: 'action',
    summary: 'Shut a server down.',
    params: z.strictObject({ server: z.string() }),
    refs: { server: 'host' },
    title: (p) => `Shut down ${p.server}`,
    emulated: (ctx, p) => outcome(hostShutdown(ref(ctx, p.server))),
  }),
  defineStep({
    name: 'host.boot',
    kind: 'action',
    summary: 'Start a server and wait for its automatic services.',
    params: z.strictObject({ server: z.string() }),
    refs: { server: 'host' },
    title: (p) => `Start ${p.server}`,
    emulated: (ctx, p) => {
      const r = hostBoot(ref(ctx, p.server));
      settle(ctx, p.server);
      return outcome(r);
    },
  }),
  defineStep({
    name: 'host.reboot',
    kind: 'action',
    summary: 'Restart a server (shutdown /r) and wait for its automatic services (at most 5 minutes).',
    params: z.strictObject({ server: z.string() }),
    refs: { server: 'host' },
    title: (p) => `Restart ${p.server}`,
    emulated: (ctx, p) => {
      const down = hostShutdown(ref(ctx, p.server));
      if (!down.ok) return outcome(down);
      ctx.lab.advance(30_000);
      const r = hostBoot(ref(ctx, p.server));
      settle(ctx, p.server);
      const pending = hostServices(ref(ctx, p.server)).filter((s) => s.state === 'Start Pending');
      return outcome(r, pending.length ? pending.map((s) => `${s.displayName} (${s.name}): Start Pending`) : undefined);
    },
  }),
  defineStep({
    name: 'host.setClockOffset',
    kind: 'action',
    summary: "Set a server's system clock ahead of or behind true time (Date and Time; a bad CMOS clock).",
    params: z.strictObject({ server: z.string(), offset: signedDuration }),
    refs: { server: 'host' },
    title: (p) => `Set the clock on ${p.server} to ${signed(parseSigned(p.offset) ?? 0)} from true time`,
    emulated: (ctx, p) => outcome(hostSetClockOffset(ref(ctx, p.server), { offsetMs: parseSigned(p.offset) ?? 0 })),
  }),
  defineStep({
    name: 'host.syncTime',
    kind: 'action',
    summary: 'Resynchronize the clock with the domain hierarchy (w32tm /resync).',
    params: z.strictObject({ server: z.string() }),
    refs: { server: 'host' },
    title: (p) => `w32tm /resync on ${p.server}`,
    emulated: (ctx, p) => {
      const r = hostSyncTime(ref(ctx, p.server));
      return r.ok ? passed(['Sending resync command to local computer', 'The command completed successfully.']) : failed(r.failure.message, ['Sending resync command to local computer']);
    },
  }),
  defineStep({
    name: 'host.clockOffset',
    kind: 'check',
    summary: "How far a server's clock is from a domain controller's (w32tm /stripchart /computer:<dc> /samples:1).",
    params: z.strictObject({ server: z.string(), dc: z.string().optional(), atMost: signedDuration.optional(), atLeast: signedDuration.optional() }),
    refs: { server: 'host' },
    console: (p) => `w32tm /stripchart /computer:${p.dc ?? 'the domain controller'} /samples:1 on ${p.server}`,
    title: (p) => `Clock on ${p.server} is ${[p.atLeast !== undefined ? `at least ${String(p.atLeast)}` : '', p.atMost !== undefined ? `at most ${String(p.atMost)}` : ''].filter(Boolean).join(' and ') || 'measured'} off ${p.dc ?? 'the domain controller'}`,
    emulated: (ctx, p) => {
      const dc = p.dc ?? ctx.topology.hosts.find((h) => h.roles.includes('domainController'))?.name ?? '';
      const dcRef = ref(ctx, dc);
      if (!dcRef) return failed(`no host ${dc}`);
      const diff = hostClockOffset(dcRef) - hostClockOffset(ref(ctx, p.server));
      const line = `Tracking ${dc} [${dc}]. ... d:+00.0003906s o:${diff >= 0 ? '+' : '-'}${(Math.abs(diff) / 1000).toFixed(7)}s`;
      const abs = Math.abs(diff);
      const max = p.atMost !== undefined ? Math.abs(parseSigned(p.atMost) ?? 0) : undefined;
      const min = p.atLeast !== undefined ? Math.abs(parseSigned(p.atLeast) ?? 0) : undefined;
      if (max !== undefined && abs > max) return failed(`the clock is ${formatDuration(abs)} off ${dc}`, [line]);
      if (min !== undefined && abs < min) return failed(`the clock is only ${formatDuration(abs)} off ${dc}`, [line]);
      return passed([line]);
    },
  }),
  defineStep({
    name: 'host.serviceState',
    kind: 'check',
    summary: "A service's state and startup type, as services.msc / sc query shows them.",
    params: z.strictObject({ server: z.string(), service: z.string(), state: z.enum(SERVICE_STATES).optional(), startupType: z.enum(STARTUP_TYPES).optional() }),
    refs: { server: 'host' },
    console: (p) => `Services (services.msc) on ${p.server}: ${p.service}, its Status and Startup Type (or sc query ${p.service})`,
    title: (p) => `${p.service} on ${p.server} is ${[p.state, p.startupType].filter(Boolean).join(', ')}`,
    emulated: (ctx, p) => {
      const s = hostService(ref(ctx, p.server), p.service);
      if (!s) return failed(`${p.server}: no service named ${p.service}`);
      const seen = `${s.displayName} (${s.name}): ${s.state}, ${s.startupType}`;
      if (p.state && s.state !== p.state) return failed(`expected ${p.state}, found ${s.state}`, [seen]);
      if (p.startupType && s.startupType !== p.startupType) return failed(`expected startup type ${p.startupType}, found ${s.startupType}`, [seen]);
      return passed([seen]);
    },
  }),
  defineStep({
    name: 'host.featureInstalled',
    kind: 'check',
    summary: 'Whether Windows features are installed (ServerManagerCmd -query).',
    params: z.strictObject({ server: z.string(), features: z.array(z.string()).min(1), installed: z.boolean().default(true) }),
    refs: { server: 'host' },
    console: (p) => `Server Manager on ${p.server} (ServerManagerCmd -query): ${p.features.join(', ')}`,
    title: (p) => `${p.features.join(', ')} ${p.installed ? 'installed' : 'not installed'} on ${p.server}`,
    emulated: (ctx, p) => {
      const have = hostFeatures(ref(ctx, p.server)).map((f) => f.toLowerCase());
      const wrong = p.features.filter((f) => have.includes(f.toLowerCase()) !== p.installed);
      return wrong.length ? failed(`${wrong.join(', ')} ${p.installed ? 'not installed' : 'installed'}`) : passed();
    },
  }),
  defineStep({
    name: 'host.certificate',
    kind: 'check',
    summary: "A certificate in the server's LocalMachine\\My store.",
    params: z.strictObject({ server: z.string(), subjectCN: z.string().optional(), sanContains: z.string().optional(), present: z.boolean().default(true) }),
    refs: { server: 'host' },
    console: (p) => `the Certificates snap-in on ${p.server}, Certificates (Local Computer) > Personal > Certificates`,
    title: (p) => `${p.server} has ${p.present ? 'a' : 'no'} certificate${p.subjectCN ? ` for ${p.subjectCN}` : ''}${p.sanContains ? ` with SAN ${p.sanContains}` : ''}`,
    emulated: (ctx, p) => {
      const certs = hostCertificates(ref(ctx, p.server));
      const match = certs.find((c) => (!p.subjectCN || c.subjectCN.toLowerCase() === p.subjectCN.toLowerCase()) && (!p.sanContains || c.sans.some((s) => s.toLowerCase() === p.sanContains?.toLowerCase())));
      const seen = certs.map((c) => `${c.subjectCN} [${c.sans.join(', ')}] ${c.thumbprint}`);
      return Boolean(match) === p.present ? passed(seen) : failed(p.present ? 'no matching certificate in LocalMachine\\My' : 'a matching certificate is present', seen);
    },
  }),
  defineStep({
    name: 'host.firewall',
    kind: 'check',
    summary: 'Whether the Windows Firewall is on.',
    params: z.strictObject({ server: z.string(), enabled: z.boolean() }),
    refs: { server: 'host' },
    console: (p) => `Windows Firewall with Advanced Security on ${p.server} (netsh advfirewall show allprofiles state)`,
    title: (p) => `Windows Firewall ${p.enabled ? 'on' : 'off'} on ${p.server}`,
    emulated: (ctx, p) => {
      const on = hostFirewallEnabled(ref(ctx, p.server));
      return on === p.enabled ? passed() : failed(`expected ${p.enabled ? 'on' : 'off'}, found ${on ? 'on' : 'off'}`);
    },
  }),
];
