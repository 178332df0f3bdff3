/**
 * Seeded identifiers: every GUID, SID, serial number, nonce and tag in a lab comes from here, so the
 * same scenario and seed give the same bytes. Each emulator takes its own `fork(label)`, so adding a draw
 * in one component never shifts the values another one sees.
 */

/** cyrb128: a small, well-mixed string hash giving four 32-bit seeds. */
function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/** Each byte's two lower-case hex digits. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export interface IdPosition {
  seed: string;
  state: [number, number, number, number];
}

export class IdSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string) {
    [this.a, this.b, this.c, this.d] = hash128(seed);
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /**
   * The stream at a saved position: what a machine keeps in its context, so that a transition that draws
   * ids only computes (it starts a stream here, draws, and assigns the new position).
   */
  static at(position: IdPosition): IdSource {
    const ids = new IdSource(position.seed);
    ids.moveTo(position);
    return ids;
  }

  /** Where the stream is: the seed and the generator's four words (a lab snapshot saves it). */
  position(): IdPosition {
    return { seed: this.seed, state: [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0] };
  }

  /** Puts the stream back where `position()` found it. */
  moveTo(position: IdPosition): void {
    if (position.seed !== this.seed) throw new Error(`IdSource.moveTo: position of seed "${position.seed}", not "${this.seed}"`);
    [this.a, this.b, this.c, this.d] = position.state;
  }

  /** An independent stream for one component: same parent seed and label, same values. */
  fork(label: string): IdSource {
    return new IdSource(`${this.seed}/${label}`);
  }

  /** sfc32. */
  uint32(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.uint32() / 4294967296) * n);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('IdSource.pick: empty list');
    return item;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.uint32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  hex(nBytes: number): string {
    let out = '';
    for (const x of this.bytes(nBytes)) out += HEX[x];
    return out;
  }

  /** A version-4 GUID in the registry form AD tools show: 8-4-4-4-12, lower case. */
  guid(): string {
    const b = this.bytes(16);
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A domain SID prefix, S-1-5-21-x-y-z, as a new forest root domain gets. */
  domainSid(): string {
    return `S-1-5-21-${this.uint32()}-${this.uint32()}-${this.uint32()}`;
  }

  /** A positive certificate serial number of `nBytes` bytes, as lower-case hex. */
  serial(nBytes = 10): string {
    const b = this.bytes(nBytes);
    b[0] = ((b[0] ?? 0) & 0x7f) | 0x10;
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  /** A token such as a SIP tag, branch or nonce: lower-case hex. */
  token(nBytes = 8): string {
    return this.hex(nBytes);
  }
}
