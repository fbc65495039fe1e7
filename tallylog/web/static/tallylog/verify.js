// The receipt check in the reader's browser (issue 14 §3). Plain ES module, no build step.
//
// From the log whose checkpoint is at data-log (/log/checkpoint on the site, relative in a
// static copy) it
// fetches the checkpoint, the day index, the day's entry bundles and the hash tiles that
// cover the day, so the server learns the day and nothing finer. It finds the entry whose
// tag is the receipt code's (v1 and v2 leaves, tallylog/leaf.py), recomputes the RFC 6962
// tree hash from the entry and the tiles (C2SP tlog-tiles), and checks it against the
// checkpoint, whose Ed25519 signature (C2SP signed-note) and, when witnesses are given,
// cosignatures (C2SP tlog-cosignature, cosignature/v1) with a quorum it verifies first.
// The code never leaves the page: it comes from the URL fragment or an unsubmitted field.
// The outcome goes to #result's data-status: included, not-found or invalid.

const TILE = 256;
const HASH = 32;
const CONCURRENCY = 6;
const enc = new TextEncoder();
const subtle = globalThis.crypto && globalThis.crypto.subtle;

class Invalid extends Error {}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) { out.set(p, i); i += p.length; }
  return out;
}
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s) => Uint8Array.from(s.match(/../g), (x) => parseInt(x, 16));
const sha256 = async (data) => new Uint8Array(await subtle.digest("SHA-256", data));
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function b64(s) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4) throw new Invalid("base64");
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

export function normaliseCode(text) {
  const digits = text.normalize("NFKC").replace(/[\s\-－—_.]/g, "");
  return /^[0-9]{25}$/.test(digits) ? digits : null;
}

async function ed25519Verify(pub, sig, msg) {
  try {
    const key = await subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return await subtle.verify({ name: "Ed25519" }, key, sig, msg);
  } catch (e) {
    if (!(e instanceof DOMException) || e.name !== "NotSupportedError") throw e;
    const ed = await import("./ed25519.js"); // vendored @noble/ed25519, see VENDORED.md
    return ed.verifyAsync(sig, msg, pub, { zip215: false });
  }
}

// A verifier key name+hexid+base64(alg ‖ 32 bytes), its key ID checked.
async function parseKey(vkey, alg) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey);
  if (!m) throw new Error("bad verifier key");
  const [, name, id, key] = m;
  const raw = b64(key);
  if (raw.length !== 33 || raw[0] !== alg) throw new Error("bad verifier key");
  const pub = raw.slice(1);
  const digest = await sha256(concat(enc.encode(name + "\n"), raw));
  if (hex(digest.slice(0, 4)) !== id) throw new Error("verifier key ID mismatch");
  return { name, id, pub };
}

// The signed checkpoint: { origin, size, root } once the log's signature and the quorum of
// witness cosignatures verify; Invalid otherwise.
async function openCheckpoint(note, vkey, witnessKeys, quorum) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new Invalid("checkpoint");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  const body = text.split("\n");
  if (body.length < 4 || !/^[1-9][0-9]*$|^0$/.test(body[1])) throw new Invalid("checkpoint");
  const root = b64(body[2]);
  if (root.length !== HASH) throw new Invalid("checkpoint");
  const sigs = lines.map((line) => {
    const m = /^— (\S+) (\S+)$/.exec(line);
    if (!m) throw new Invalid("checkpoint");
    const raw = b64(m[2]);
    return { name: m[1], id: hex(raw.slice(0, 4)), sig: raw.slice(4) };
  });
  const log = await parseKey(vkey, 1);
  const mine = sigs.find((s) => s.name === log.name && s.id === log.id);
  if (!mine || mine.sig.length !== 64 || !(await ed25519Verify(log.pub, mine.sig, enc.encode(text)))) {
    throw new Invalid("signature");
  }
  let cosigned = 0;
  for (const vk of witnessKeys) {
    const w = await parseKey(vk, 4);
    const c = sigs.find((s) => s.name === w.name && s.id === w.id);
    if (!c) continue;
    if (c.sig.length !== 72) throw new Invalid("witness");
    let time = 0n;
    for (const x of c.sig.slice(0, 8)) time = (time << 8n) | BigInt(x);
    const msg = enc.encode(`cosignature/v1\ntime ${time}\n${text}`);
    if (!(await ed25519Verify(w.pub, c.sig.slice(8), msg))) throw new Invalid("witness");
    cosigned += 1;
  }
  if (cosigned < quorum) throw new Invalid("witness");
  return { origin: body[0], size: Number(body[1]), root };
}

function tilePath(level, n, width) {
  const groups = [];
  do { groups.unshift(String(n % 1000).padStart(3, "0")); n = Math.floor(n / 1000); } while (n > 0);
  const path = groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
  return `tile/${level < 0 ? "entries" : level}/${path}${width < TILE ? ".p/" + width : ""}`;
}

function parseBundle(data, width) {
  const out = [];
  for (let i = 0; i < data.length; ) {
    if (i + 2 > data.length) throw new Invalid("tiles");
    const n = (data[i] << 8) | data[i + 1];
    if (i + 2 + n > data.length) throw new Invalid("tiles");
    out.push(data.subarray(i + 2, i + 2 + n));
    i += 2 + n;
  }
  if (out.length !== width) throw new Invalid("tiles");
  return out;
}

class Log {
  constructor(base) {
    this.base = base;
    this.bytes = 0;
    this.tiles = new Map();
  }
  async get(path, options) {
    const r = await fetch(new URL(path, this.base), options);
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    const data = new Uint8Array(await r.arrayBuffer());
    this.bytes += data.length;
    return data;
  }
  async need(path) {
    const data = await this.get(path);
    if (data === null) throw new Invalid("tiles");
    return data;
  }
  // Fetch many paths, at most CONCURRENCY at a time, in order.
  async all(paths, fn) {
    const out = new Array(paths.length);
    let next = 0;
    const worker = async () => {
      while (next < paths.length) {
        const i = next++;
        out[i] = await fn(paths[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, paths.length) }, worker));
    return out;
  }
  width(size, level, n) {
    return Math.min(TILE, Math.floor(size / TILE ** level) - n * TILE);
  }
  // Hash tile (level, n) of a tree of size; kept once fetched.
  async tile(size, level, n) {
    const width = this.width(size, level, n);
    const path = tilePath(level, n, width);
    if (!this.tiles.has(path)) {
      this.tiles.set(path, this.need(path).then((d) => {
        if (d.length !== width * HASH) throw new Invalid("tiles");
        return d;
      }));
    }
    return this.tiles.get(path);
  }
}

const node = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

async function merkle(hashes) {
  while (hashes.length > 1) {
    const up = [];
    for (let i = 0; i < hashes.length; i += 2) up.push(node(hashes[i], hashes[i + 1]));
    hashes = await Promise.all(up);
  }
  return hashes[0];
}

// RFC 6962 §2.1 MTH(D[lo:hi]) where entry `index` lies. `leaves` holds the leaf hashes of
// the entries of its bundle (from `block` on), computed here: the level-0 hashes of its
// own 256-entry block. Every other complete subtree is read from the tiles (level 8·L
// hashes in tile level L).
async function treeHash(log, size, lo, hi, index, leaves, block) {
  const count = hi - lo;
  if (count === 1 && lo === index) return leaves[index - block];
  const k = Math.log2(count);
  if (Number.isInteger(k) && k < 8 && lo >= block && lo < block + TILE) {
    return merkle(leaves.slice(lo - block, hi - block));
  }
  if (Number.isInteger(k) && (index < lo || index >= hi)) {
    const level = Math.floor(k / 8);
    const r = k - 8 * level;
    const first = Math.floor(lo / 2 ** (8 * level)); // its first hash at tree level 8·L
    const data = await log.tile(size, level, Math.floor(first / TILE));
    const pos = first % TILE;
    const hashes = [];
    for (let i = pos; i < pos + 2 ** r; i++) hashes.push(data.subarray(i * HASH, (i + 1) * HASH));
    return merkle(hashes);
  }
  let split = 1;
  while (split * 2 < count) split *= 2;
  const [l, r] = await Promise.all([
    treeHash(log, size, lo, lo + split, index, leaves, block),
    treeHash(log, size, lo + split, hi, index, leaves, block),
  ]);
  return node(l, r);
}

// FIPS 180-4 SHA-256, synchronous, for the tags: one 65-byte message per entry of the day.
// WebCrypto's digest is a promise per call; for 60,000 small messages this is ~10x faster.
const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const W = new Uint32Array(64);

export function sha256Sync(data) {
  const bits = data.length * 8;
  const padded = new Uint8Array(((data.length + 9 + 63) >> 6) << 6);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const a = W[i - 15], b = W[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(4 * i, h[i]);
  return out;
}

// The v2 leaf's fixed end: … "tag":"<64 hex>","tag_salt":"<32 hex>","v":2}
const V2_TAIL = /"tag":"([0-9a-f]{64})","tag_salt":"([0-9a-f]{32})","v":2}$/;
const V2_TAIL_BYTES = '"tag":"","tag_salt":"","v":2}'.length + 96;
const ascii = (b) => String.fromCharCode.apply(null, b);

// The index among entries [start, end) of `bundles` (first bundle at entry first) whose
// tag is the receipt code's, or -1.
async function findEntry(entries, first, start, end, digits) {
  const v1Tag = hex(await sha256(enc.encode("tallylog receipt tag v1\n" + digits)));
  const v1Needle = `"tag":"${v1Tag}"`;
  const prefix = enc.encode("tallylog receipt tag v2\n");
  // prefix ‖ 16 salt bytes ‖ 25 digits, the salt filled in per entry.
  const message = concat(prefix, new Uint8Array(16), enc.encode(digits));
  for (let i = start; i < end; i++) {
    const e = entries[i - first];
    const tail = ascii(e.subarray(Math.max(0, e.length - V2_TAIL_BYTES)));
    const m = V2_TAIL.exec(tail);
    let hit;
    if (m) {
      for (let j = 0; j < 16; j++) message[prefix.length + j] = parseInt(m[2].substr(2 * j, 2), 16);
      hit = hex(sha256Sync(message)) === m[1];
    } else {
      hit = tail.endsWith('"v":1}') && ascii(e).includes(v1Needle);
    }
    if (hit && isLeaf(e)) return i;
    if ((i - start) % 8192 === 8191) await new Promise((r) => setTimeout(r, 0)); // let the page breathe
  }
  return -1;
}

function isLeaf(entry) {
  try {
    const leaf = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
    return leaf.v === 1 || leaf.v === 2;
  } catch {
    return false;
  }
}

// The whole check: { status, key, values } for the page.
export async function check(root, digits, day) {
  const log = new Log(root.base);
  const note = await log.get("checkpoint", { cache: "no-store" });
  if (note === null) return { status: "not-found", key: "empty" };
  let cp;
  try {
    cp = await openCheckpoint(new TextDecoder("utf-8", { fatal: true }).decode(note), root.key, root.witnesses, root.quorum);
  } catch (e) {
    if (e instanceof Invalid || e instanceof TypeError) return { status: "invalid", key: e.message === "witness" ? "witness" : "signature" };
    throw e;
  }
  const index = await log.get("day-index.json", { cache: "no-cache" });
  const days = index === null ? [] : JSON.parse(new TextDecoder().decode(index)).days;
  if (!day && days.length) day = days[days.length - 1].day;
  const range = days.find((d) => d.day === day);
  const start = range ? range.start : 0;
  const end = range ? Math.min(range.end, cp.size) : 0;
  const values = { day, size: cp.size, origin: cp.origin, root: btoa(ascii(cp.root)) };
  if (start >= end) return { status: "not-found", key: "noday", values, bytes: log.bytes };
  try {
    // Every hash tile any entry of the day could need, fetched whichever entry is the
    // reader's: the right edge of the tree at each level, and above level 0 the tiles
    // spanning the day (level-0 hashes of the entry's own block come from its bundle).
    const tiles = [];
    for (let level = 0; Math.floor(cp.size / TILE ** level) > 0; level++) {
      const span = TILE ** (level + 1);
      const last = Math.floor((cp.size - 1) / span);
      const from = Math.floor(start / span), to = Math.floor((end - 1) / span);
      if (level > 0) for (let n = from; n <= to; n++) tiles.push([level, n]);
      if ((level === 0 || last > to) && log.width(cp.size, level, last) > 0) tiles.push([level, last]);
    }
    const first = Math.floor(start / TILE) * TILE;
    const bundles = [];
    for (let n = first / TILE; n * TILE < end; n++) bundles.push(n);
    const prefetch = Promise.all(tiles.map(([level, n]) => log.tile(cp.size, level, n)));
    const parts = await log.all(bundles, async (n) => {
      const width = log.width(cp.size, 0, n);
      return parseBundle(await log.need(tilePath(-1, n, width)), width);
    });
    const entries = parts.flat();
    const found = await findEntry(entries, first, start, end, digits);
    await prefetch;
    if (found < 0) return { status: "not-found", key: "notfound", values, bytes: log.bytes };
    const block = found - (found % TILE);
    const own = entries.slice(block - first, Math.min(block + TILE, first + entries.length) - first);
    const leaves = await Promise.all(own.map((e) => sha256(concat(Uint8Array.of(0), e))));
    const got = await treeHash(log, cp.size, 0, cp.size, found, leaves, block);
    values.index = found;
    if (!equal(got, cp.root)) return { status: "invalid", key: "tiles", values, bytes: log.bytes };
    return { status: "included", key: "included", values, bytes: log.bytes };
  } catch (e) {
    if (e instanceof Invalid) return { status: "invalid", key: "tiles", values, bytes: log.bytes };
    throw e;
  }
}

function show(result, outcome) {
  const template = document.querySelector(`#messages [data-key="${outcome.key}"]`);
  let text = template ? template.textContent : outcome.key;
  for (const [k, v] of Object.entries(outcome.values || {})) text = text.split(`{${k}}`).join(String(v));
  result.textContent = text;
  if (outcome.values && outcome.values.index !== undefined) result.dataset.index = outcome.values.index;
  result.dataset.bytes = outcome.bytes || 0;
  result.dataset.status = outcome.status;
}

async function run(page, form, result) {
  const digits = normaliseCode(form.elements["verify-code"].value);
  delete result.dataset.status;
  if (digits === null) {
    show(result, { status: "", key: "badcode" });
    delete result.dataset.status;
    return;
  }
  if (!subtle) {
    show(result, { status: "", key: "insecure" });
    delete result.dataset.status;
    return;
  }
  result.textContent = document.querySelector('#messages [data-key="working"]').textContent;
  const root = {
    base: new URL("./", new URL(page.dataset.log, document.baseURI)), // data-log: the checkpoint
    key: page.dataset.key,
    witnesses: JSON.parse(page.dataset.witnesses || "[]"),
    quorum: Number(page.dataset.quorum || 0),
  };
  const started = performance.now();
  let outcome;
  try {
    outcome = await check(root, digits, form.elements["verify-day"].value);
  } catch (e) {
    outcome = { status: "invalid", key: "error", values: { detail: e.message } };
  }
  result.dataset.ms = Math.round(performance.now() - started);
  show(result, outcome);
}

const page = document.getElementById("verify");
if (page) {
  const form = document.getElementById("verify-form");
  const result = document.getElementById("result");
  form.hidden = false;
  document.getElementById("verify-nojs").hidden = true;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(page, form, result);
  });
  // #<code> or #<code>/<YYYY-MM-DD>: the fragment never reaches the server.
  const fromFragment = () => {
    const fragment = decodeURIComponent(location.hash.slice(1));
    if (!fragment) return;
    const [code, day] = fragment.split("/");
    form.elements["verify-code"].value = code;
    form.elements["verify-day"].value = day || "";
    history.replaceState(null, "", location.pathname); // out of the address bar and history
    run(page, form, result);
  };
  window.addEventListener("hashchange", fromFragment);
  fromFragment();
}
