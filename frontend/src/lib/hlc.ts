// The UI's hybrid logical clock, the same algorithm and text form as Go's
// store/hlc.go: "WWWWWWWWWWWWWWW-CCCC-node" (15-digit zero-padded wall ms,
// 4 lowercase hex counter, node). The text sorts like the value, so versions
// are compared as plain strings. The UI's node is "<device>.ui<4 hex>", new
// per page load, so it never collides with Go's clock (node = device).

/** A parsed version. */
export interface Version {
  wallMS: number;
  counter: number;
  node: string;
}

const MAX_COUNTER = 0xffff;
const VERSION_RE = /^(\d{15})-([0-9a-f]{4})-(.+)$/;

/** The text form of v. */
export function formatVersion(v: Version): string {
  return `${String(v.wallMS).padStart(15, '0')}-${v.counter.toString(16).padStart(4, '0')}-${v.node}`;
}

/** Parses the text form, or throws an Error saying what is wrong. */
export function parseVersion(s: string): Version {
  const m = VERSION_RE.exec(s);
  if (!m) throw new Error(`version ${JSON.stringify(s)}: want WWWWWWWWWWWWWWW-CCCC-node`);
  return { wallMS: Number(m[1]), counter: parseInt(m[2] ?? '', 16), node: m[3] ?? '' };
}

/** Orders two version texts: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The UI node for device: "<device>.ui<4 hex>" with random hex from rand. */
export function uiNode(device: string, rand: (bytes: Uint8Array) => void = (b) => crypto.getRandomValues(b)): string {
  const b = new Uint8Array(2);
  rand(b);
  return `${device}.ui${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

/** A hybrid logical clock issuing versions for one node. */
export class HLC {
  private last: Version;

  constructor(
    readonly node: string,
    private readonly now: () => number = Date.now,
  ) {
    this.last = { wallMS: 0, counter: 0, node };
  }

  /** The greatest version issued or observed, as text. */
  lastText(): string {
    return formatVersion(this.last);
  }

  /** Returns a new version text greater than every one seen so far. */
  next(): string {
    const wall = Math.floor(this.now());
    if (wall > this.last.wallMS) {
      this.last = { wallMS: wall, counter: 0, node: this.node };
    } else if (this.last.counter === MAX_COUNTER) {
      this.last = { wallMS: this.last.wallMS + 1, counter: 0, node: this.node };
    } else {
      this.last = { wallMS: this.last.wallMS, counter: this.last.counter + 1, node: this.node };
    }
    return formatVersion(this.last);
  }

  /**
   * Merges a version received from elsewhere so the next version issued
   * here orders after it. Malformed or empty text is ignored: a version we
   * cannot read cannot be ordered against.
   */
  observe(text: string | undefined): void {
    if (!text) return;
    let v: Version;
    try {
      v = parseVersion(text);
    } catch {
      return;
    }
    if (compareVersions(formatVersion(this.last), text) < 0) {
      this.last = { wallMS: v.wallMS, counter: v.counter, node: this.node };
    }
  }
}
