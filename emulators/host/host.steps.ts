/** Operator steps on a Windows host: Server Manager, services.msc / sc, the firewall, the certificate store. */
import { z } from 'zod';
import { defineStep, failed, passed, type StepContext, type StepDefinition } from '../../sim/steps.js';
import type { StepOutcome } from '../../sim/steps.js';
import { hostId, type StartupType } from './host.events.js';
import {
  hostAddServiceDependency,
  hostBoot,
  hostCertificates,
  hostFeatures,
  hostFirewallEnabled,
  hostInstallFeatures,
  hostRemoveFeatures,
  hostService,
  hostSetFirewall,
  hostSetServiceLogon,
  hostSetStartupType,
  hostSettled,
  hostShutdown,
  hostStartService,
  hostStopService,
} from './host.client.js';
import type { Result } from '../../sim/result.js';

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
    name: 'host.serviceState',
    kind: 'check',
    summary: "A service's state and startup type, as services.msc / sc query shows them.",
    params: z.strictObject({ server: z.string(), service: z.string(), state: z.enum(SERVICE_STATES).optional(), startupType: z.enum(STARTUP_TYPES).optional() }),
    refs: { server: 'host' },
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
    title: (p) => `Windows Firewall ${p.enabled ? 'on' : 'off'} on ${p.server}`,
    emulated: (ctx, p) => {
      const on = hostFirewallEnabled(ref(ctx, p.server));
      return on === p.enabled ? passed() : failed(`expected ${p.enabled ? 'on' : 'off'}, found ${on ? 'on' : 'off'}`);
    },
  }),
];
