/* farmtrace: check a batch's record on the consumer's own phone.
 *
 * Fetches the proof bundle (version 2) named by <section id="verify" data-bundle-url
 * data-root-key data-origin data-witness-keys> and runs the steps of ledger/bundle_verify.py
 * in the same order, with the same messages: the whole key chain, linked from keys/0 and
 * signed by the pinned root key; the checkpoint signed by the registered log key, and the
 * cosignatures of the pinned witnesses; inclusion of the key chain's newest entry; the
 * batch's chain links and signatures; inclusion of its newest entry
 * (docs/verification.md). No dependencies: WebCrypto does
 * SHA-256 and, where the browser has it, Ed25519. Without Ed25519 it checks hashes and
 * proofs only and says that signatures were not checked.
 */
(() => {
  'use strict'; // ES2017: async functions, no object spread, no \p{} (old Android WebViews)

  const T = {
    zh: {
      run: '正在本机验证记录……',
      ok: '在本机验证通过：{n} 条记录，检查点 #{t}',
      part: '在本机核对了哈希和证明：{n} 条记录，检查点 #{t}',
      nosig: '签名未在本机检查：此浏览器不支持 Ed25519 签名验证，只核对了哈希和证明。',
      wait: '最新的 {k} 条记录还没有写入公开检查点，稍后再扫码即可验证。',
      witnessed: '本站公布的 {m} 个独立见证方中，有 {n} 个联署了此检查点（已在本机核验）。',
      bad: '验证失败：',
      detail: '技术细节：',
      nocrypto: '此浏览器无法在本机验证记录（需要 HTTPS 和 Web Crypto）。',
      fetch: '无法下载验证数据（{why}），请稍后再试。',
      why: {
        root: '密钥登记 {w} 不是由本站公布的根密钥签署的。',
        keys: '密钥登记 {w} 有问题，无法确认签名密钥。',
        keychain: '密钥登记链在 {w} 处接不上：有密钥登记或撤销被删除、插入或改动。',
        checkpoint: '公开日志的检查点没有登记的日志密钥的有效签名。',
        cosignature: '检查点上见证方 {w} 的联署签名不符。',
        proof: '记录 {w} 不在公开日志的检查点中：包含证明不符。',
        link: '记录 {w} 与前一条记录接不上：有记录被删除、插入或改动。',
        key: '记录 {w} 的签名密钥在记录时无权为该单位签名。',
        signature: '记录 {w} 的签名不符：签名后内容被改动，或并非登记的密钥所签。',
        format: '验证数据格式有误。',
        batch: '下载的验证数据属于另一个批次。',
        version: '验证数据的版本无法使用（旧的第 1 版可能漏掉密钥撤销，不再接受）。',
      },
    },
    en: {
      run: 'Checking the record on this phone…',
      ok: 'Verified on this phone: {n} records, checkpoint #{t}',
      part: 'Hashes and proofs verified on this phone: {n} records, checkpoint #{t}',
      nosig: 'Signatures not checked on this phone: this browser cannot verify Ed25519 signatures, so only hashes and proofs were checked.',
      wait: 'Not in a published checkpoint yet: the newest {k} record(s); scan again later to check them.',
      witnessed: '{n} of the {m} independent witnesses this site names cosigned this checkpoint (checked on this phone).',
      bad: 'Verification failed: ',
      detail: 'Technical detail: ',
      nocrypto: 'This browser cannot check the record itself (it needs HTTPS and Web Crypto).',
      fetch: 'Could not download the proof data ({why}); please try again later.',
      why: {
        root: 'key register entry {w} is not signed by the root key this site publishes.',
        keys: 'key register entry {w} is faulty, so the signing keys cannot be trusted.',
        keychain: 'the key register breaks at {w}: a key registration or revocation was removed, inserted or changed.',
        checkpoint: "the public log's checkpoint is not validly signed by the registered log key.",
        cosignature: "the cosignature of witness {w} on the checkpoint does not match.",
        proof: "record {w} is not in the public log's checkpoint: its inclusion proof does not match.",
        link: 'record {w} does not follow from the record before it: a record was removed, inserted or changed.',
        key: 'record {w} was signed with a key that could not sign for its organisation at that time.',
        signature: 'the signature of record {w} does not match: it was changed after signing, or not signed by a registered key.',
        format: 'the proof data is malformed.',
        batch: 'the proof data is for another batch.',
        version: 'the proof data is in a version this page cannot use (the old version 1 could leave out a key revocation and is no longer accepted).',
      },
    },
  };

  const KEYS_CHAIN = 'keys';
  const MAX_ENTRY_BYTES = 65535; // ledger/entry.py: the largest entry a tlog-tiles bundle can carry
  const subtle = window.crypto && window.crypto.subtle;
  const utf8 = (s) => new TextEncoder().encode(s);

  // Errors carry the Python class (F = FormatError, which verify_bundle prefixes with
  // "proof bundle: "; V = VerificationError) and, for the page, what failed and where.
  class VErr extends Error {
    constructor(cls, message, ui, where) {
      super(message);
      Object.assign(this, { cls, ui, where });
    }
  }
  const F = (m) => new VErr('F', m);
  const V = (m, ui, where) => new VErr('V', m, ui, where);

  // Python's repr() and str() of JSON values, for messages identical to the Python ones.
  const repr = (v) => {
    if (typeof v !== 'string') return str(v);
    const s = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
    return s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replace(/'/g, "\\'")}'`;
  };
  const str = (v) => (v === null || v === undefined ? 'None' : v === true ? 'True' : v === false ? 'False' : String(v));
  const pyType = (v) =>
    v === null ? 'NoneType' : Array.isArray(v) ? 'list' : typeof v === 'string' ? 'str'
      : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : 'dict';
  const need = (obj, key) => {
    if (obj === null || typeof obj !== 'object') throw F(`malformed (TypeError: ${pyType(obj)} has no field ${repr(key)})`);
    if (!(key in obj)) throw F(`malformed (KeyError: ${repr(key)})`);
    return obj[key];
  };

  // RFC 8785 (JCS) for ledger JSON: integers only, in the I-JSON safe range; strings as
  // ECMAScript JSON.stringify writes them (RFC 8785 §3.2.2.2); object members sorted by
  // UTF-16 code units (§3.2.3), which is what Array.prototype.sort compares by default.
  const show = (where) => where || '(top level)';
  const join = (where, key) => (/^[A-Za-z_]\w*$/.test(key) ? (where ? `${where}.${key}` : key) : `${where}[${JSON.stringify(key)}]`);
  // A surrogate code unit without its partner (no \p{Cs}: that needs ES2018).
  const lone = (s) => {
    const m = /[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])([\udc00-\udfff])/.exec(s);
    return m && { at: m.index + (m[2] ? m[1].length : 0), code: (m[2] || m[0]).charCodeAt(0) };
  };
  const u4 = (code) => code.toString(16).toUpperCase().padStart(4, '0');
  const wellFormed = (s, where, what) => {
    const bad = lone(s);
    if (bad) {
      const at = Array.from(s.slice(0, bad.at)).length; // Python counts code points
      throw F(`${show(where)}: ${what} contains U+${u4(bad.code)} at index ${at}, a lone surrogate with no UTF-8 encoding`);
    }
  };
  const canonicalize = (v, where = '') => {
    if (v === null || typeof v === 'boolean') return String(v);
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw F(`${show(where)}: floating-point number ${v} is not allowed in ledger JSON; write decimals as strings, e.g. "12.5"`);
      if (!Number.isSafeInteger(v)) throw F(`${show(where)}: integer ${v} is outside the I-JSON safe range ±(2**53 - 1); write large numbers as strings`);
      return String(v); // String(-0) is "0", as JCS writes it
    }
    if (typeof v === 'string') {
      wellFormed(v, where, 'string');
      return JSON.stringify(v);
    }
    if (Array.isArray(v)) return `[${v.map((x, i) => canonicalize(x, `${where}[${i}]`)).join(',')}]`;
    const keys = Object.keys(v);
    keys.forEach((k) => wellFormed(k, where, 'object key'));
    return `{${keys.sort().map((k) => JSON.stringify(k) + ':' + canonicalize(v[k], join(where, k))).join(',')}}`;
  };

  const cat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  const b64 = (b) => btoa(Array.from(b, (x) => String.fromCharCode(x)).join(''));
  const sha256 = async (...parts) => new Uint8Array(await subtle.digest('SHA-256', cat(...parts)));
  // RFC 6962 §2.1: domain-separated leaf and interior-node hashes.
  const leafHash = (data) => sha256(Uint8Array.of(0), data);
  const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

  // RFC 4648 §4 with padding, canonical only (ledger/encoding.py b64decode).
  const unb64 = (text, field) => {
    if (typeof text !== 'string') throw F(`${field}: expected a base64 string, found ${pyType(text)}`);
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      const n = text.replace(/=/g, '').length; // the reason as Python's binascii words it
      const why = /[^A-Za-z0-9+/=]/.test(text) ? 'Only base64 data is allowed'
        : text[0] === '=' ? 'Leading padding not allowed'
          : n % 4 === 1 ? `Invalid base64-encoded string: number of data characters (${n}) cannot be 1 more than a multiple of 4`
            : /=[^=]/.test(text) ? 'Excess data after padding' : 'Incorrect padding';
      throw F(`${field}: expected standard base64 with padding, found ${repr(text)} (${why})`);
    }
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    if (b64(bytes) !== text) throw F(`${field}: base64 ${repr(text)} is not in canonical form`);
    return bytes;
  };
  const unhash = (text, field) => {
    const h = unb64(text, field);
    if (h.length !== 32) throw F(`${field}: expected a 32-byte hash, found ${h.length} bytes`);
    return h;
  };

  // Entries, version 1 (ledger/entry.py make_entry): the checks in the same order.
  const REQUIRED = ['v', 'batch', 'seq', 'prev', 'type', 'event_time', 'recorded_at', 'author', 'key', 'id', 'payload'];
  const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
  const PATTERNS = [
    ['batch', /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "1-64 letters, digits, '.', '_' or '-'"],
    ['type', /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, "dotted lowercase words such as 'lab.tested'"],
    ['author', NAME, 'an organisation id'],
    ['key', NAME, 'a key id'],
    ['id', /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "1-128 letters, digits, '.', '_', ':' or '-'"],
  ];
  const EVENT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
  const RECORDED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
  const match = (f, name, re, expected) => {
    if (typeof f[name] !== 'string' || !re.test(f[name])) throw F(`entry.${name}: expected ${expected}, found ${repr(f[name])}`);
  };

  const makeEntry = async (f) => {
    if (f === null || typeof f !== 'object' || Array.isArray(f)) throw F(`malformed (TypeError: entry is ${pyType(f)})`);
    const unknown = Object.keys(f).filter((k) => !REQUIRED.includes(k) && k !== 'amends').sort();
    if (unknown.length) throw F(`entry: unknown field ${repr(unknown[0])}`);
    for (const name of REQUIRED) if (!(name in f)) throw F(`entry.${name}: missing`);
    if (f.v !== 1) throw F(`entry.v: expected 1, found ${repr(f.v)}`);
    match(f, ...PATTERNS[0]);
    if (!Number.isInteger(f.seq) || f.seq < 0) throw F(`entry.seq: expected an integer >= 0, found ${repr(f.seq)}`);
    if (f.seq === 0 && f.prev !== null) throw F('entry.prev: must be null for seq 0, the start of a chain');
    if (f.seq > 0) {
      if (f.prev === null) throw F(`entry.prev: missing for seq ${f.seq}; expected the hash of entry ${f.seq - 1}`);
      unhash(f.prev, 'entry.prev');
    }
    match(f, ...PATTERNS[1]);
    match(f, 'event_time', EVENT_TIME, 'an RFC 3339 time with offset like 2026-09-01T08:30:00+08:00');
    if (isNaN(new Date(f.event_time.replace(/\.\d+/, '')))) throw F(`entry.event_time: ${repr(f.event_time)} is not a real date and time`);
    const rec = f.recorded_at;
    if (typeof rec !== 'string' || !RECORDED_AT.test(rec))
      throw F(`entry.recorded_at: expected UTC time like 2026-11-29T04:00:00.123Z, found ${repr(rec)}`);
    const moment = new Date(rec);
    if (rec < '0001' || isNaN(moment) || moment.toISOString() !== rec) throw F(`entry.recorded_at: ${repr(rec)} is not a real date and time`);
    for (const p of PATTERNS.slice(2)) match(f, ...p);
    if (pyType(f.payload) !== 'dict') throw F(`entry.payload: expected a JSON object, found ${pyType(f.payload)}`);
    if ('amends' in f) unhash(f.amends, 'entry.amends');
    const canonical = utf8(canonicalize(f));
    if (canonical.length > MAX_ENTRY_BYTES)
      throw F(`entry: canonical form is ${canonical.length} bytes, more than the limit of ${MAX_ENTRY_BYTES}`);
    // Recorded times have one fixed format, so comparing the strings compares the times.
    return { f, canonical, hash: await leafHash(canonical), batch: f.batch, seq: f.seq, key: f.key, rec };
  };

  // farmtrace key ids (ledger/keys.py): "k" + hex of SHA-256("farmtrace/key/v1\n" || key)[:8].
  const keyIdFor = async (pub) => 'k' + hex((await sha256(utf8('farmtrace/key/v1\n'), pub)).slice(0, 8));

  // Ed25519 (RFC 8032) through WebCrypto, each public key imported once.
  const imported = new Map();
  const ed25519Verify = async (pub, message, sig) => {
    const id = b64(pub);
    if (!imported.has(id)) imported.set(id, subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']));
    return subtle.verify({ name: 'Ed25519' }, await imported.get(id), sig, message);
  };
  // RFC 8032 §7.1 TEST 1: a browser "has Ed25519" only if it accepts this known signature.
  const hasEd25519 = async () => {
    try {
      const pub = unb64('11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=', 'test key');
      const sig = unb64('5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQCw==', 'test');
      return (await ed25519Verify(pub, new Uint8Array(0), sig)) === true;
    } catch (e) {
      return false;
    }
  };

  const checkSignature = async (ctx, where, pub, entry, sig) => {
    if (!ctx.ed) return;
    if (sig.length !== 64) throw V(`${where}: signature: expected 64 bytes, found ${sig.length}`);
    let ok;
    try {
      ok = await ed25519Verify(pub, cat(utf8('farmtrace/entry/v1\n'), entry.canonical), sig);
    } catch (e) {
      throw V(`${where}: public key is not a valid Ed25519 key: ${e.message}`);
    }
    if (!ok) throw V(`${where}: signature does not verify with the key`);
  };

  // RFC 9162 §2.1.3.2 inclusion proof verification (ledger/proof.py). Index arithmetic uses
  // plain numbers, not 32-bit bit operators, so trees up to 2**53 leaves work.
  const bit = (n, i) => Math.floor(n / 2 ** i) % 2;
  const xorBitLength = (a, b) => {
    let len = 0;
    for (let i = 0; a > 0 || b > 0; i++, a = Math.floor(a / 2), b = Math.floor(b / 2)) if (a % 2 !== b % 2) len = i + 1;
    return len;
  };
  const popCount = (n) => {
    let c = 0;
    for (; n > 0; n = Math.floor(n / 2)) c += n % 2;
    return c;
  };
  const verifyInclusion = async (index, size, leaf, proof, root) => {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size)) throw F(`malformed (TypeError: leaf index ${repr(index)})`);
    if (!(index >= 0 && index < size)) throw V(`inclusion proof: leaf index ${index} is outside a tree of size ${size}`);
    const inner = xorBitLength(index, size - 1);
    const border = popCount(Math.floor(index / 2 ** inner));
    if (proof.length !== inner + border)
      throw V(`inclusion proof: expected ${inner + border} hashes for leaf ${index} in a tree of size ${size}, found ${proof.length}`);
    let r = leaf;
    for (let i = 0; i < proof.length; i++) r = i < inner && bit(index, i) === 0 ? await nodeHash(r, proof[i]) : await nodeHash(proof[i], r);
    if (!same(r, root))
      throw V(`inclusion proof: computed root ${hex(r)} for leaf ${index} in a tree of size ${size} does not match expected root ${hex(root)}`);
  };
  const checkInclusion = async (where, entry, leafIndex, proof, checkpoint) => {
    const proofSize = need(proof, 'tree_size');
    if (proofSize !== checkpoint.size) throw V(`${where}: proof is for tree size ${str(proofSize)}, checkpoint has ${checkpoint.size}`);
    const proofIndex = need(proof, 'leaf_index');
    if (proofIndex !== leafIndex) throw V(`${where}: proof is for leaf ${str(proofIndex)}, the entry's leaf_index is ${leafIndex}`);
    const hashes = need(proof, 'hashes').map((h) => unhash(h, `${where} proof`));
    try {
      await verifyInclusion(leafIndex, checkpoint.size, entry.hash, hashes, checkpoint.root);
    } catch (e) {
      if (e instanceof VErr && e.cls === 'V') e.message = `${where}: ${e.message}`;
      throw e;
    }
  };

  // C2SP signed-note and tlog-checkpoint (ledger/note.py, ledger/checkpoint.py) with one
  // known key, as open_checkpoint(note, VerifierKey(name, key), origin=origin).
  const noteChars = (text, what) => {
    const control = /[\x00-\x09\x0b-\x1f]/.exec(text);
    const surrogate = lone(text);
    const bad = control && (!surrogate || control.index < surrogate.at) ? { at: control.index, code: control[0].charCodeAt(0) } : surrogate;
    if (bad) throw F(`${what}: character U+${u4(bad.code)} at index ${bad.at} is not allowed`);
  };
  const checkKeyName = (name, what) => {
    if (typeof name !== 'string' || !name) throw F(`${what}: expected a non-empty string, found ${repr(name)}`);
    if (/[+\s]/.test(name)) throw F(`${what} ${repr(name)}: must not contain spaces or '+'`);
    noteChars(name, what);
  };
  // signed-note §Signatures: key ID = SHA-256(name || 0x0A || type || key)[:4], as 8 hex digits.
  const noteKeyId = async (name, pub) => hex((await sha256(utf8(name + '\n'), Uint8Array.of(1), pub)).slice(0, 4));

  const openCheckpoint = async (ctx, msg, name, pub, origin) => {
    checkKeyName(name, 'key name');
    if (typeof msg !== 'string') throw F(`note: expected str or bytes, found ${pyType(msg)}`);
    noteChars(msg, 'note');
    const split = msg.lastIndexOf('\n\n');
    if (split < 0) throw F('note: no blank line separating the text from the signatures');
    const text = msg.slice(0, split + 1);
    const block = msg.slice(split + 2);
    if (!block) throw F('note: no signature lines after the blank line');
    if (!block.endsWith('\n')) throw F('note: signature block does not end in a newline');
    const lines = block.slice(0, -1).split('\n');
    if (lines.length > 100) throw F(`note: ${lines.length} signature lines, more than the limit of 100`);
    const sigs = lines.map((line, i) => {
      const where = `note: signature line ${i + 1}`;
      if (!line.startsWith('\u2014 ')) throw F(`${where}: expected to start with '— ' (U+2014, space), found ${repr(line.slice(0, 12))}`);
      const rest = line.slice(2);
      const space = rest.indexOf(' ');
      if (space < 0) throw F(`${where}: expected '— <name> <base64 signature>', found ${repr(line)}`);
      checkKeyName(rest.slice(0, space), `${where}: key name`);
      const payload = unb64(rest.slice(space + 1), `${where}: signature`);
      if (payload.length < 5) throw F(`${where}: expected a 4-byte key ID and a signature, found ${payload.length} bytes`);
      return { name: rest.slice(0, space), id: hex(payload.slice(0, 4)), sig: payload.slice(4) };
    });
    const id = await noteKeyId(name, pub);
    const found = [];
    let verified = false;
    for (const s of sigs) {
      if (s.name !== name || s.id !== id) {
        if (!found.includes(`${s.name}+${s.id}`)) found.push(`${s.name}+${s.id}`);
      } else if (!verified) {
        if (ctx.ed && !(await ed25519Verify(pub, utf8(text), s.sig)))
          throw V(`note: invalid signature by known key ${name}+${id}`);
        verified = true;
      }
    }
    if (!verified) throw V(`note: no signature by a known key (known: ${name}+${id}; found: ${found.join(', ') || 'none'})`);
    // tlog-checkpoint §Note text, parsed strictly.
    const body = text.slice(0, -1).split('\n');
    if (body.length < 3) throw F(`checkpoint: expected at least 3 lines (origin, size, root hash), found ${body.length}`);
    const [cpOrigin, sizeText, rootText, ...extensions] = body;
    if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw F(`checkpoint tree size: expected a decimal without leading zeros, found ${repr(sizeText)}`);
    const rootHash = unhash(rootText, 'checkpoint root hash');
    if (!cpOrigin) throw F("checkpoint origin: expected a non-empty line, found ''");
    const size = Number(sizeText);
    if (!Number.isSafeInteger(size)) throw F(`checkpoint tree size: ${sizeText} is larger than this verifier can count`);
    extensions.forEach((line, i) => {
      if (!line) throw F(`checkpoint extension line ${i + 1}: expected a non-empty line, found ''`);
    });
    const expected = origin === null ? name : origin;
    if (cpOrigin !== expected) throw V(`checkpoint: origin ${repr(cpOrigin)} does not match expected origin ${repr(expected)}`);
    return { origin: cpOrigin, size, root: rootHash, text, sigs };
  };

  // C2SP tlog-cosignature with pinned witness keys (ledger/cosignature.py): the first line by
  // each pinned key is checked, other lines are ignored; a bad one by a pinned key fails.
  const u64Decimal = (b) => {
    // Exact decimal of a big-endian u64 without BigInt (ES2020): long division in two halves.
    const view = new DataView(b.buffer, b.byteOffset, 8);
    let hi = view.getUint32(0);
    let lo = view.getUint32(4);
    let digits = '';
    do {
      const carry = hi % 10;
      hi = Math.floor(hi / 10);
      const cur = carry * 2 ** 32 + lo;
      lo = Math.floor(cur / 10);
      digits = String(cur % 10) + digits;
    } while (hi > 0 || lo > 0);
    return digits;
  };
  const parseWitnessKey = async (vkey) => {
    const what = `witness key ${repr(vkey)}`;
    // name+hex8+base64: the base64 may itself contain '+', so split at the first two only.
    const m = typeof vkey === 'string' ? /^([^+]*)\+([^+]*)\+(.*)$/.exec(vkey) : null;
    const parts = m ? m.slice(1) : [];
    if (parts.length !== 3 || !/^[0-9a-f]{8}$/.test(parts[1])) throw F(`${what}: expected <name>+<hex8 key ID>+<base64 key>`);
    checkKeyName(parts[0], `${what}: name`);
    const raw = unb64(parts[2], `${what}: key`);
    if (raw.length !== 33 || raw[0] !== 4) throw F(`${what}: expected a cosignature key (type 0x04) of 32 bytes`);
    const pub = raw.slice(1);
    const id = hex((await sha256(utf8(parts[0] + '\n'), Uint8Array.of(4), pub)).slice(0, 4));
    if (id !== parts[1]) throw F(`${what}: key ID ${parts[1]} does not match the key (${id})`);
    return { name: parts[0], id, pub };
  };
  const checkCosignatures = async (ctx, checkpoint) => {
    const cosigned = [];
    for (const w of ctx.witnesses) {
      const line = checkpoint.sigs.find((s) => s.name === w.name && s.id === w.id);
      if (!line) continue;
      await tag('cosignature', w.name, async () => {
        if (line.sig.length !== 72)
          throw V(`checkpoint: cosignature by ${w.name}: expected 72 bytes after the key ID, found ${line.sig.length}`);
        const time = u64Decimal(line.sig.slice(0, 8));
        if (line.sig[0] >= 128)
          throw V(`checkpoint: cosignature timestamp: expected an integer 0 to 2**63-1, found ${time}`);
        if (!ctx.ed) return;
        const message = utf8(`cosignature/v1\ntime ${time}\n${checkpoint.text}`);
        if (!(await ed25519Verify(w.pub, message, line.sig.slice(8))))
          throw V(`checkpoint: cosignature: invalid signature by ${w.name}+${w.id} at time ${time}`);
        cosigned.push(w.name);
      });
    }
    return cosigned;
  };

  // ledger/bundle_verify.py verify_bundle, step by step. `ed` false skips every Ed25519
  // check (and only those); the verdict then says signatures were not checked.
  const verifyBundle = async (bundle, root, origin = null, ed = true, witnesses = []) => {
    try {
      const pinned = [];
      for (const vkey of witnesses) pinned.push(await parseWitnessKey(vkey));
      return await verifySteps(bundle, root, origin, { ed, witnesses: pinned });
    } catch (e) {
      const err = e instanceof VErr ? e : F(`malformed (${e.name}: ${e.message})`);
      if (err.cls === 'F') Object.assign(err, { message: `proof bundle: ${err.message}`, ui: err.ui || 'format' });
      throw err;
    }
  };

  const tag = async (ui, where, work) => {
    try {
      return await work();
    } catch (e) {
      if (e instanceof VErr && !e.ui) Object.assign(e, { ui, where });
      throw e;
    }
  };

  const VERSION_1_REFUSED =
    'proof bundle: version 1 is no longer accepted: it carries only the key entries the server chose, ' +
    'so a left-out key revocation would go unnoticed; the server must send version 2';

  // The largest position whose leaf_index is an integer below the checkpoint's size.
  const newestCovered = (leaves, size) => {
    let head = null;
    leaves.forEach((leaf, i) => {
      if (Number.isInteger(leaf) && leaf < size) head = i;
    });
    return head;
  };

  const verifySteps = async (bundle, root, origin, ctx) => {
    if (pyType(bundle) !== 'dict') throw F(`malformed (AttributeError: ${repr(pyType(bundle))} object has no attribute 'get')`);
    if (bundle.version === 1) throw V(VERSION_1_REFUSED, 'version');
    if (bundle.version !== 2) throw V(`proof bundle: unknown version ${repr(bundle.version)}`, 'version');
    // 1. The whole key chain: contiguous from keys/0, linked, each entry signed by the root.
    const chain = await replayKeyChain(ctx, need(bundle, 'keys'), root);
    const { keys, registeredBy } = chain;
    // 2. The checkpoint, signed by a log key that the root registered.
    const logKeys = [...keys.values()].filter((k) => k.role === 'log');
    if (!logKeys.length) throw V('proof bundle: no log key registration among the key entries', 'keys', KEYS_CHAIN);
    const note = need(bundle, 'checkpoint');
    if (typeof note !== 'string') throw F(`malformed (AttributeError: ${repr(pyType(note))} object has no attribute 'split')`);
    let checkpoint = null;
    let logKey = null;
    const failures = [];
    await tag('checkpoint', '', async () => {
      for (const rec of logKeys) {
        const name = origin === null ? note.split('\n')[0] : origin;
        try {
          checkpoint = await openCheckpoint(ctx, note, name, rec.pub, origin);
          logKey = rec;
          break;
        } catch (e) {
          if (!(e instanceof VErr) || e.cls !== 'V') throw e;
          failures.push(e.message);
        }
      }
      if (!checkpoint) throw V(`checkpoint: not signed by a registered log key (${failures.join('; ')})`);
    });
    const { size } = checkpoint;
    const cosignedBy = await checkCosignatures(ctx, checkpoint);
    // 3. The key chain's newest covered entry is in the log; the links vouch for the rest.
    const keysHead = newestCovered(chain.leaves, size);
    if (keysHead === null) throw V(`keys: no key entry is in the checkpoint (no leaf_index below its size ${size})`, 'keys', KEYS_CHAIN);
    const keysWhere = `keys/${keysHead}`;
    await tag('proof', keysWhere, async () => {
      const proof = bundle.keys_head_proof;
      if (proof === null || proof === undefined) throw V(`${keysWhere}: keys_head_proof is missing`);
      await checkInclusion(keysWhere, chain.entries[keysHead], chain.leaves[keysHead], proof, checkpoint);
    });
    const logAt = registeredBy.get(logKey.id);
    if (logAt > keysHead)
      throw V(`checkpoint: signed by log key ${logKey.id}, whose registration keys/${logAt} is not in the checkpoint`, 'keys', `keys/${logAt}`);
    // 4. The batch chain: links, signatures by keys valid at the recorded time.
    const batch = need(bundle, 'batch');
    const items = need(bundle, 'entries');
    const entries = [];
    let previous = null;
    for (let position = 0; position < items.length; position++) {
      const item = items[position];
      const entry = await makeEntry(need(item, 'entry'));
      const where = `${entry.batch}/${entry.seq}`;
      await tag('link', where, async () => {
        if (entry.batch !== batch) throw V(`${where}: belongs to another batch than ${str(batch)}`);
        if (entry.seq !== position) throw V(`${where}: expected seq ${position}; an entry is missing or out of order`);
        if (!linksTo(entry, previous)) throw V(`${where}: prev does not match the hash of entry ${position - 1}`);
      });
      const rec = keys.get(entry.key);
      await tag('key', where, async () => {
        if (!rec) throw V(`${where}: signed by key ${entry.key}, which the bundle does not register`);
        const valid = rec.from <= entry.rec && (rec.revoked === null || entry.rec < rec.revoked);
        if (rec.org !== entry.f.author || !valid) throw V(`${where}: key ${entry.key} may not sign for ${entry.f.author} at ${entry.rec}`);
      });
      await tag('signature', where, () => checkSignature(ctx, where, rec.pub, entry, unb64(need(item, 'signature'), `${where} signature`)));
      entries.push(entry);
      previous = entry;
    }
    // 5. The batch's newest covered entry is in the log; the chain vouches for the ones before.
    let included = 0;
    const headProof = bundle.head_proof;
    if (headProof !== null && headProof !== undefined) {
      const leaves = items.map((item) => item.leaf_index);
      const head = newestCovered(leaves, size);
      if (head === null)
        throw V(`${str(batch)}: head_proof given, but no entry has a leaf_index below the checkpoint's size ${size}`, 'proof', str(batch));
      await tag('proof', `${batch}/${head}`, () => checkInclusion(`${batch}/${head}`, entries[head], leaves[head], headProof, checkpoint));
      // An entry in the log whose key's registration is not would let the log hide a key.
      for (const entry of entries.slice(0, head + 1)) {
        const at = registeredBy.get(entry.key);
        if (at > keysHead)
          throw V(`${batch}/${entry.seq}: is in the checkpoint, but the registration of its key ${entry.key} (keys/${at}) is not`, 'keys', `keys/${at}`);
      }
      included = head + 1;
    }
    return {
      batch,
      entries: entries.length,
      included,
      treeSize: size,
      origin: checkpoint.origin,
      keyEntries: chain.entries.length,
      keysIncluded: keysHead + 1,
      cosignedBy,
      signaturesChecked: ctx.ed,
    };
  };

  const linksTo = (entry, previous) => {
    const prev = entry.f.prev === null ? null : unhash(entry.f.prev, 'prev');
    return prev === null ? previous === null : previous !== null && same(prev, previous.hash);
  };

  // Step 1 (bundle_verify.py _replay_key_chain): the chain's links and root signatures here,
  // the rules of the key history in replayKey (ledger/keyhistory.py KeyHistory.record).
  const replayKeyChain = async (ctx, items, root) => {
    const rootId = await keyIdFor(root);
    const chain = { keys: new Map(), registeredBy: new Map(), entries: [], leaves: [], rootId };
    for (let position = 0; position < items.length; position++) {
      const item = items[position];
      const entry = await makeEntry(need(item, 'entry'));
      const where = `keys/${entry.seq}`;
      await tag('keychain', where, async () => {
        if (entry.batch !== KEYS_CHAIN) throw V(`${where}: not an entry of the key chain`);
        if (entry.seq !== position) throw V(`${where}: expected seq ${position}; a key entry is missing or out of order`);
        if (!linksTo(entry, chain.entries.length ? chain.entries[chain.entries.length - 1] : null))
          throw V(`${where}: prev does not match the hash of keys/${position - 1}`);
      });
      await tag('root', where, async () => {
        if (entry.key !== rootId) throw V(`${where}: signed by ${entry.key}, not by the pinned root key ${rootId}`);
        await checkSignature(ctx, where, root, entry, unb64(need(item, 'signature'), `${where} signature`));
      });
      await tag('keys', where, () => replayKey(chain, entry));
      chain.entries.push(entry);
      chain.leaves.push(item.leaf_index);
    }
    return chain;
  };

  const replayKey = async (chain, entry) => {
    const { keys, registeredBy, rootId } = chain;
    const at = `keys/${entry.seq}`;
    const register = async () => {
      const rec = await parseRegistration(entry);
      registeredBy.set(rec.id, entry.seq);
      return rec;
    };
    if (entry.seq === 0) {
      const rec = await register();
      if (rec.id !== rootId || rec.role !== 'root')
        throw V(`keys/0 registers ${rec.id} as ${rec.role}; expected the pinned root key ${rootId}`, 'root', at);
      keys.set(rec.id, rec);
      return;
    }
    if (!keys.has(rootId)) throw F(`${at}: the chain does not start with the root key`);
    const text = (name) => {
      const v = entry.f.payload[name];
      if (typeof v !== 'string' || !v) throw F(`${at}: payload.${name} must be a non-empty string`);
      return v;
    };
    if (entry.f.type === 'key.registered') {
      const rec = await parseRegistration(entry);
      if (keys.has(rec.id)) throw F(`${at}: key ${rec.id} is registered twice`);
      if (rec.role === 'root') throw F(`${at}: a second root key cannot be registered`);
      registeredBy.set(rec.id, entry.seq);
      keys.set(rec.id, rec);
    } else if (entry.f.type === 'key.revoked') {
      const id = text('key_id');
      const rec = keys.get(id);
      if (!rec) throw F(`${at}: revokes unknown key ${id}`);
      if (rec.revoked !== null) throw F(`${at}: key ${id} is already revoked`);
      if (rec.role === 'root') throw F(`${at}: the root key cannot be revoked by an entry`);
      text('reason');
      keys.set(id, Object.assign({}, rec, { revoked: entry.rec }));
    } else throw F(`${at}: unknown key entry type ${repr(entry.f.type)}`);
  };

  // ledger/keyhistory.py parse_registration, the same checks in the same order.
  const parseRegistration = async (entry) => {
    const at = `keys/${entry.seq}`;
    if (entry.f.type !== 'key.registered') throw F(`${at}: expected key.registered, found ${repr(entry.f.type)}`);
    const text = (name) => {
      const v = entry.f.payload[name];
      if (typeof v !== 'string' || !v) throw F(`${entry.batch}/${entry.seq}: payload.${name} must be a non-empty string`);
      return v;
    };
    const role = text('role');
    if (!['root', 'log', 'org'].includes(role)) throw F(`${at}: payload.role must be one of root, log, org, found ${repr(role)}`);
    const pub = unb64(text('public_key'), `${at} payload.public_key`);
    const id = text('key_id');
    if (pub.length !== 32 || (await keyIdFor(pub)) !== id) throw F(`${at}: payload.key_id ${id} does not match payload.public_key`);
    return { id, org: text('org'), role, pub, from: entry.rec, revoked: null };
  };

  // The page: read the section's data- attributes, verify, say what happened in plain words.
  const render = (section, state, lines) => {
    section.setAttribute('data-state', state);
    let out = section.querySelector('[data-verify-result]');
    if (!out) {
      out = document.createElement('div');
      out.setAttribute('data-verify-result', '');
      out.setAttribute('role', 'status');
      section.appendChild(out);
    }
    out.textContent = '';
    for (const [cls, text] of lines) {
      const p = document.createElement('p');
      p.className = cls;
      p.textContent = text;
      out.appendChild(p);
    }
  };
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k]);

  const run = async (section) => {
    const lang = (document.documentElement.lang || 'zh').toLowerCase().startsWith('en') ? 'en' : 'zh';
    const L = T[lang];
    render(section, 'running', [['verify-status', L.run]]);
    if (!subtle || !window.TextEncoder) return render(section, 'unavailable', [['verify-status', L.nocrypto]]);
    let bundle;
    try {
      const response = await fetch(section.dataset.bundleUrl, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      bundle = await response.json();
    } catch (e) {
      return render(section, 'unavailable', [['verify-status', fill(L.fetch, { why: e.message })]]);
    }
    try {
      const ed = await hasEd25519();
      const root = unb64(section.dataset.rootKey || '', 'root key');
      const batch = section.dataset.batch;
      if (batch && bundle.batch !== batch) throw V(`proof bundle: is for batch ${str(bundle.batch)}, the page names ${batch}`, 'batch');
      const witnesses = (section.dataset.witnessKeys || '').split(/\s+/).filter(Boolean);
      const v = await verifyBundle(bundle, root, section.dataset.origin || null, ed, witnesses);
      const lines = [['verify-status', fill(ed ? L.ok : L.part, { n: v.entries, t: v.treeSize })]];
      if (!ed) lines.push(['verify-note', L.nosig]);
      if (v.included < v.entries) lines.push(['verify-note', fill(L.wait, { k: v.entries - v.included })]);
      if (witnesses.length && ed) lines.push(['verify-note', fill(L.witnessed, { n: v.cosignedBy.length, m: witnesses.length })]);
      render(section, ed ? 'verified' : 'partial', lines);
    } catch (e) {
      const ui = (e instanceof VErr && e.ui) || 'format';
      render(section, 'failed', [
        ['verify-status', L.bad + fill(L.why[ui], { w: (e && e.where) || '' })],
        ['verify-detail', L.detail + e.message],
      ]);
    }
  };

  window.FarmtraceVerify = Object.freeze({ canonicalize: (v) => canonicalize(v), verifyBundle, hasEd25519, run });
  const start = () => {
    const section = document.getElementById('verify');
    if (section && section.dataset.bundleUrl) run(section);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
