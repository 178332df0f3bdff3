/**
 * XState's development build warns "Custom actions should not call `assign()` directly" whenever a
 * built-in action creator runs while any actor is executing a custom action. ocslab's components answer
 * each other synchronously (docs/decisions/0002-actors-commands-and-replies.md), so a component's
 * `enqueueActions` can run inside another component's custom action: the actions are still built and
 * executed, and the warning is a false positive. Only those warnings, raised from an `enqueueActions`
 * resolver, are dropped; a custom action that really calls `assign()` by itself still warns.
 */
const original = console.warn.bind(console);
console.warn = (...args: unknown[]) => {
  const first = args[0];
  if (typeof first === 'string' && first.startsWith('Custom actions should not call') && (new Error().stack ?? '').includes('resolveEnqueueActions')) return;
  original(...args);
};
