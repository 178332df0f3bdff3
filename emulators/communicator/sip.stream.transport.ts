/**
 * A sip.js `Transport` over a Node stream socket, so a sip.js `UserAgent` can speak SIP over TLS (the
 * front end's 5061 listener) or TCP. sip.js 0.21 ships only a WebSocket transport, and Office
 * Communicator signs in over SIP/TLS to 5061; this file is the missing piece, passed to the UserAgent as
 * `transportConstructor: StreamTransport, transportOptions: { connect, protocol }`.
 *
 * - The caller's `connect` returns an already connected socket (for TLS already validated): certificate
 *   policy belongs to the caller. Its rejection rejects `connect()` (and so `UserAgent.start()`).
 * - States follow sip.js's contract (api/transport.d.ts) exactly as its WebSocket transport does:
 *
 *       Disconnected --connect()--> Connecting --socket--> Connected --disconnect()--> Disconnecting
 *            ^                          |  (connect failed)     |  (peer closed, socket error,  |
 *            +--------------------------+-----------------------+   framing error, no pong)     |
 *            +------------------------------------------------------------(socket closed)------+
 *
 *   Leaving Connected calls `onDisconnect`, with an Error unless `disconnect()` asked for it.
 * - Inbound bytes are framed by Content-Length (RFC 3261 §18.3) with the front end's own `frameSip`; each
 *   whole message goes to `onMessage`. A message above `maxMessageBytes`, or a bad Content-Length, closes
 *   the connection with an Error.
 * - Keep-alive (RFC 5626 §4.4.1): with `keepAliveIntervalMs` set, a CRLFCRLF ping every interval; the
 *   server's CRLF pong is swallowed. A ping still unanswered when the next one is due fails the flow.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { EmitterImpl, StateTransitionError, TransportState, type Core, type Emitter, type Transport } from 'sip.js';
import { DEFAULT_MAX_MESSAGE_BYTES, frameSip } from '../ocs/ocs.sip.adapter.js';

export interface StreamTransportOptions {
  /** Opens the connection; resolves with a connected (for TLS, validated) socket. */
  connect: () => Promise<Socket | TLSSocket>;
  /** The Via sent-protocol (`SIP/2.0/TLS`). */
  protocol: 'TLS' | 'TCP';
  /** CRLFCRLF ping interval (RFC 5626 §4.4.1); 0 or undefined = off. */
  keepAliveIntervalMs?: number;
  /** Largest inbound SIP message; default 64 KiB. */
  maxMessageBytes?: number;
  /** The connection's message security (NTLM signing): sees every message both ways. */
  security?: TransportSecurity;
}

/**
 * What a connection's security does to its messages ([MS-SIPAE]): `outgoing` returns the message to
 * send (signed, once there is an association); `incoming` the message to pass up, or undefined for one it
 * took (a handshake's answer) or refused (a signature that does not verify).
 */
export interface TransportSecurity {
  outgoing(raw: string): string;
  incoming(raw: string): string | undefined;
}

/** How long `disconnect()` waits for the peer to close its side before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

const NEXT: Record<TransportState, readonly TransportState[]> = {
  [TransportState.Disconnected]: [TransportState.Connecting],
  [TransportState.Connecting]: [TransportState.Connected, TransportState.Disconnecting, TransportState.Disconnected],
  [TransportState.Connected]: [TransportState.Disconnecting, TransportState.Disconnected],
  [TransportState.Disconnecting]: [TransportState.Connecting, TransportState.Disconnected],
};

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export class StreamTransport implements Transport {
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;
  readonly protocol: 'TLS' | 'TCP';

  private _state = TransportState.Disconnected;
  private readonly _stateChange = new EmitterImpl<TransportState>();
  private transitioning = false;
  private connecting: Deferred | undefined;
  private disconnecting: Deferred | undefined;
  /** Bumped by every connect and every abandoned connect: a socket for an older attempt is destroyed on arrival. */
  private attempt = 0;
  private socket: Socket | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private awaitingPong = false;

  constructor(
    private readonly logger: Core.Logger,
    private readonly options: StreamTransportOptions,
  ) {
    this.protocol = options.protocol;
  }

  get state(): TransportState {
    return this._state;
  }

  get stateChange(): Emitter<TransportState> {
    return this._stateChange;
  }

  isConnected(): boolean {
    return this._state === TransportState.Connected;
  }

  connect(): Promise<void> {
    if (this.transitioning) return Promise.reject(this.loopDetected(TransportState.Connecting));
    if (this._state === TransportState.Connected) return Promise.resolve();
    if (this._state === TransportState.Connecting && this.connecting) return this.connecting.promise;
    // Disconnected, or Disconnecting (the old socket finishes closing on its own).
    this.socket = undefined;
    const attempt = ++this.attempt;
    this.connecting = deferred();
    const { promise } = this.connecting;
    this.transition(TransportState.Connecting);
    void this.open(attempt);
    return promise;
  }

  disconnect(): Promise<void> {
    if (this.transitioning) return Promise.reject(this.loopDetected(TransportState.Disconnecting));
    if (this._state === TransportState.Disconnected) return Promise.resolve();
    if (this._state === TransportState.Disconnecting && this.disconnecting) return this.disconnecting.promise;
    this.disconnecting = deferred();
    const { promise } = this.disconnecting;
    if (this._state === TransportState.Connecting) {
      // No socket yet: abandon the attempt (its socket, if one comes, is destroyed on arrival).
      this.attempt++;
      this.transition(TransportState.Disconnecting);
      this.transition(TransportState.Disconnected);
      return promise;
    }
    const socket = this.socket;
    this.transition(TransportState.Disconnecting);
    if (!socket) {
      this.transition(TransportState.Disconnected);
      return promise;
    }
    // Orderly close (FIN); the socket's 'close' completes the transition.
    const grace = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    socket.once('close', () => clearTimeout(grace));
    socket.end();
    return promise;
  }

  async dispose(): Promise<void> {
    await this.disconnect();
    this.stopKeepAlive();
  }

  send(message: string): Promise<void> {
    const socket = this.socket;
    if (this._state !== TransportState.Connected || !socket) return Promise.reject(new Error(`SIP ${this.protocol} transport not connected`));
    const out = this.options.security ? this.options.security.outgoing(message) : message;
    return new Promise((resolve, reject) => socket.write(out, 'utf8', (error) => (error ? reject(error) : resolve())));
  }

  private async open(attempt: number): Promise<void> {
    let socket: Socket;
    try {
      socket = await this.options.connect();
    } catch (error) {
      if (attempt === this.attempt) this.transition(TransportState.Disconnected, asError(error));
      return;
    }
    if (attempt !== this.attempt) {
      socket.destroy();
      return;
    }
    if (socket.destroyed || !socket.writable) {
      socket.destroy();
      this.transition(TransportState.Disconnected, new Error(`SIP ${this.protocol} connection closed before it was used`));
      return;
    }
    this.attach(socket);
    this.transition(TransportState.Connected);
  }

  private attach(socket: Socket): void {
    const max = this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    let buffer: Buffer = Buffer.alloc(0);
    let failure: Error | undefined;
    this.socket = socket;
    socket.on('error', (error) => (failure ??= error));
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.socket = undefined;
      if (this._state === TransportState.Disconnected) return;
      const error = this._state === TransportState.Disconnecting ? undefined : (failure ?? new Error(`SIP ${this.protocol} connection closed by the peer`));
      this.transition(TransportState.Disconnected, error);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        const frame = frameSip(buffer, max);
        if (frame.kind === 'more') return;
        if (frame.kind === 'bad') {
          buffer = Buffer.alloc(0);
          socket.destroy(new Error(`SIP ${this.protocol} framing error: ${frame.reason}`));
          return;
        }
        const raw = buffer.subarray(0, frame.size);
        buffer = buffer.subarray(frame.size);
        if (frame.kind === 'keepalive') {
          this.awaitingPong = false;
          continue;
        }
        if (socket !== this.socket || this._state !== TransportState.Connected) {
          this.logger.warn('Received message while not connected, discarding...');
          continue;
        }
        const text = raw.toString('utf8');
        const passed = this.options.security ? this.options.security.incoming(text) : text;
        if (passed !== undefined) this.onMessage?.(passed);
      }
    });
  }

  private startKeepAlive(): void {
    const every = this.options.keepAliveIntervalMs ?? 0;
    if (every <= 0) return;
    this.awaitingPong = false;
    this.keepAlive = setInterval(() => {
      const socket = this.socket;
      if (!socket) return;
      if (this.awaitingPong) {
        socket.destroy(new Error(`SIP ${this.protocol} keep-alive: no pong within ${every} ms (RFC 5626 §4.4.1)`));
        return;
      }
      this.awaitingPong = true;
      socket.write('\r\n\r\n');
    }, every);
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    this.awaitingPong = false;
  }

  private loopDetected(to: TransportState): StateTransitionError {
    const message = `Transport state transition loop: ${this._state} to ${to} requested while a transition is in progress`;
    this.logger.error(message);
    return new StateTransitionError(message);
  }

  /**
   * The one place state changes: emits `stateChange`, calls `onConnect`/`onDisconnect`, and settles a
   * pending connect()/disconnect() promise. Promises are settled before the callbacks run (their
   * continuations run later either way), so a throwing callback cannot leave one pending.
   */
  private transition(next: TransportState, error?: Error): void {
    const prev = this._state;
    if (this.transitioning) throw this.loopDetected(next);
    if (!NEXT[prev].includes(next)) throw new Error(`Invalid transport state transition from ${prev} to ${next}`);
    this.transitioning = true;
    try {
      this._state = next;
      const connecting = prev === TransportState.Connecting ? this.connecting : undefined;
      const disconnecting = prev === TransportState.Disconnecting ? this.disconnecting : undefined;
      if (connecting) this.connecting = undefined;
      if (disconnecting) this.disconnecting = undefined;
      this.logger.log(`Transitioned from ${prev} to ${next}`);
      this._stateChange.emit(next);
      if (connecting) {
        if (next === TransportState.Connected) connecting.resolve();
        else connecting.reject(error ?? new Error('Connect aborted.'));
      }
      if (disconnecting) {
        if (next === TransportState.Disconnected) disconnecting.resolve();
        else disconnecting.reject(error ?? new Error('Disconnect aborted.'));
      }
      if (next === TransportState.Connected) {
        this.startKeepAlive();
        this.onConnect?.();
      }
      if (prev === TransportState.Connected) {
        this.stopKeepAlive();
        if (error) this.onDisconnect?.(error);
        else this.onDisconnect?.();
      }
    } finally {
      this.transitioning = false;
    }
  }
}
