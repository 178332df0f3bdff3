/**
 * The Communicator clients of the lab, as settings per user: which roots the client trusts (the lab's
 * enterprise CA by default, because clients are domain members and receive the enterprise root through
 * Group Policy), the A-record fallback order, a manual server configuration, and the sign-in address the
 * user types. The sign-in itself is `communicator.signin.ts`; this machine only holds what it needs and
 * writes the client's Application log.
 */
import { enqueueActions, setup } from 'xstate';
import { kernel, kernelActions } from '../../sim/machine.js';
import { ok } from '../../sim/result.js';
import type { CommunicatorCommand, CommunicatorEmitted, CommunicatorInput, ClientSettings, ClientSettingsPatch } from './communicator.events.js';
import { CLIENT_EVENT_LOG, CLIENT_EVENT_SOURCE, DEFAULT_A_FALLBACKS } from './communicator.discovery.js';
import { clientHost } from './communicator.events.js';

export interface CommunicatorContext {
  /** What every client has unless a user's own settings say otherwise (Group Policy). */
  defaults: ClientSettings;
  /** Per-user overrides, by lower-case sAMAccountName, in the order they were first set. */
  users: Record<string, ClientSettingsPatch>;
}

export const DEFAULT_CLIENT_SETTINGS: ClientSettings = { trustLabCa: true, aFallbacks: [...DEFAULT_A_FALLBACKS], allowTcp: false };

/** A user's effective settings. */
export function effectiveSettings(c: CommunicatorContext, user: string): ClientSettings {
  const own = c.users[user.toLowerCase()] ?? {};
  const merged: ClientSettings = { ...c.defaults };
  for (const [k, v] of Object.entries(own)) if (v !== undefined) (merged as unknown as Record<string, unknown>)[k] = v;
  for (const k of Object.keys(own)) if ((own as Record<string, unknown>)[k] === null) delete (merged as unknown as Record<string, unknown>)[k];
  return merged;
}

function describePatch(p: ClientSettingsPatch): string {
  const parts: string[] = [];
  if (p.trustLabCa !== undefined) parts.push(p.trustLabCa ? 'trusts the enterprise root CA' : 'does not trust the enterprise root CA');
  if (p.aFallbacks !== undefined) parts.push(`A-record fallbacks ${p.aFallbacks.join(', ')}`);
  if (p.allowTcp !== undefined) parts.push(p.allowTcp ? 'TCP allowed' : 'TLS only');
  if (p.manual !== undefined) parts.push(p.manual === null ? 'automatic configuration' : `manual configuration ${p.manual.server} (${p.manual.transport})`);
  if (p.signInAddress !== undefined) parts.push(p.signInAddress === null ? 'sign-in address cleared' : `sign-in address ${p.signInAddress}`);
  return parts.join('; ');
}

export const communicatorMachine = setup({
  types: {
    context: {} as CommunicatorContext,
    input: {} as CommunicatorInput,
    events: {} as CommunicatorCommand,
    emitted: {} as CommunicatorEmitted,
  },
  actions: {
    ...kernelActions<CommunicatorContext, CommunicatorCommand, CommunicatorEmitted>(),
    configure: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<CommunicatorContext, CommunicatorCommand, CommunicatorEmitted>(put);
      if (event.type !== 'communicator.configure') return;
      const who = event.user === undefined ? 'Communicator on every client' : `Communicator on ${clientHost(event.user)}`;
      if (event.user === undefined) {
        const defaults = effectiveSettings({ defaults: context.defaults, users: { '*': event.settings } }, '*');
        enqueue.assign({ defaults });
      } else {
        const key = event.user.toLowerCase();
        enqueue.assign({ users: { ...context.users, [key]: { ...(context.users[key] ?? {}), ...event.settings } } });
      }
      enqueue.emit({ type: 'communicator.settingsChanged', user: event.user ?? '*', summary: `${who}: ${describePatch(event.settings)}` });
      enqueue.emit({ type: 'communicator.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    record: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<CommunicatorContext, CommunicatorCommand, CommunicatorEmitted>(put);
      if (event.type !== 'communicator.record') return;
      enqueue.emit(event.event);
      enqueue.emit({ type: 'communicator.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    writeEvents: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<CommunicatorContext, CommunicatorCommand, CommunicatorEmitted>(put);
      if (event.type !== 'communicator.logEvents') return;
      for (const e of event.entries) {
        enqueue.emit({ type: 'eventlog.write', entry: { host: clientHost(event.user), log: CLIENT_EVENT_LOG, source: CLIENT_EVENT_SOURCE, eventId: e.eventId, level: e.level, message: e.message } });
      }
      enqueue.emit({ type: 'communicator.reply', requestId: event.requestId, result: ok(undefined) });
    }),
  },
}).createMachine({
  id: 'communicator',
  context: ({ input }) => ({ defaults: { ...DEFAULT_CLIENT_SETTINGS, ...(input.defaults ?? {}) }, users: {} }),
  initial: 'running',
  states: {
    running: {
      on: {
        'communicator.configure': { actions: 'configure' },
        'communicator.logEvents': { actions: 'writeEvents' },
        'communicator.record': { actions: 'record' },
      },
    },
  },
});
