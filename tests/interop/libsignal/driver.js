// A Signal peer built on npm libsignal 6.0.0 (WhiskeySockets/libsignal-node, what Baileys uses),
// driven over stdin/stdout by whatsapp-proto's interop test (whatsapp-proto/tests/integration/signal.rs).
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout
// ({"error": "..."} on failure). Bytes travel as hex; public keys as 33 bytes (05 ‖ key).
//
//   {"cmd":"init","reg_id":N}                      -> bundle (signed prekey 1, one-time prekey 1)
//   {"cmd":"bundle","new_prekey":true}             -> bundle with a fresh one-time prekey
//   {"cmd":"bundle_without_prekey"}                -> bundle with "prekey": null
//   {"cmd":"session","peer":ADDR,"bundle":{...}}   -> {"ok":true}   (SessionBuilder.initOutgoing)
//   {"cmd":"encrypt","peer":ADDR,"hex":H}          -> {"type":"pkmsg"|"msg","hex":H}
//   {"cmd":"decrypt","peer":ADDR,"type":T,"hex":H} -> {"hex":H}
//   {"cmd":"sign","hex":H}                         -> {"signature":H}  (libsignal's curve.calculateSignature)
//   {"cmd":"verify","pub":K,"hex":H,"sig":S}       -> {"valid":bool}   (curve.verifySignature's return value)
//   {"cmd":"group_create","group":G}               -> {"skdm_hex":H}
//   {"cmd":"group_process","group":G,"sender":ADDR,"hex":H} -> {"ok":true}
//   {"cmd":"group_encrypt","group":G,"hex":H}      -> {"hex":H}
//   {"cmd":"group_decrypt","group":G,"sender":ADDR,"hex":H} -> {"hex":H}
//
// libsignal 6.0.0 has no sender keys, so the group commands implement them here on libsignal's
// own primitives (crypto.deriveSecrets/encrypt/decrypt/calculateMAC, curve signatures), following
// the fact sheet (shared/protocol part 2 §1.11): chain seed HMAC(ck, 01), next HMAC(ck, 02),
// HKDF(seed, "WhisperGroup") -> iv(16) ‖ key(32), 0x33 ‖ protobuf ‖ signature(64).
'use strict';

const readline = require('readline');
const libsignal = require('libsignal');
const pb = require('protobufjs/minimal');

// libsignal logs session changes with console.info; stdout is reserved for replies.
console.log = console.info = console.warn = console.error = (...args) =>
    process.stderr.write(args.map(String).join(' ') + '\n');

const { curve, crypto, keyhelper, ProtocolAddress, SessionBuilder, SessionCipher } = libsignal;

const hex = (buf) => Buffer.from(buf).toString('hex');
const unhex = (text) => Buffer.from(text, 'hex');

// ---- one device's state ----------------------------------------------------------------------

let identity = null;
let registrationId = 0;
let signedPreKey = null;
const preKeys = new Map();
let nextPreKeyId = 1;
const sessions = new Map();

const storage = {
    isTrustedIdentity: () => true,
    loadSession: async (id) => sessions.get(id),
    storeSession: async (id, record) => { sessions.set(id, record); },
    loadPreKey: async (id) => preKeys.get(Number(id)),
    removePreKey: async (id) => { preKeys.delete(Number(id)); },
    loadSignedPreKey: async (id) => (signedPreKey && signedPreKey.keyId === Number(id) ? signedPreKey.keyPair : undefined),
    getOurRegistrationId: async () => registrationId,
    getOurIdentity: async () => identity,
};

function address(text) {
    const at = text.lastIndexOf('.');
    return new ProtocolAddress(text.slice(0, at), Number(text.slice(at + 1)));
}

function newPreKey() {
    const key = keyhelper.generatePreKey(nextPreKeyId++);
    preKeys.set(key.keyId, key.keyPair);
    return key;
}

function bundle(preKey) {
    return {
        registration_id: registrationId,
        identity_key: hex(identity.pubKey),
        signed_prekey: {
            id: signedPreKey.keyId,
            public: hex(signedPreKey.keyPair.pubKey),
            signature: hex(signedPreKey.signature),
        },
        prekey: preKey ? { id: preKey.keyId, public: hex(preKey.keyPair.pubKey) } : null,
    };
}

// ---- sender keys on libsignal primitives -----------------------------------------------------

const senderKeys = new Map(); // "group::sender" -> { states: [...] }, newest first
const MAX_STATES = 5;
const MAX_AHEAD = 2000;
const MAX_KEPT = 2000;

function groupKeys(seed) {
    const [a, b] = crypto.deriveSecrets(seed, Buffer.alloc(32), Buffer.from('WhisperGroup'), 2);
    return { iv: a.subarray(0, 16), key: Buffer.concat([a.subarray(16, 32), b.subarray(0, 16)]) };
}

const seedOf = (chainKey) => crypto.calculateMAC(chainKey, Buffer.from([1]));
const nextOf = (chainKey) => crypto.calculateMAC(chainKey, Buffer.from([2]));

function encodeSkdm(s) {
    const w = pb.Writer.create();
    w.uint32(0x08).uint32(s.keyId);
    w.uint32(0x10).uint32(s.iteration);
    w.uint32(0x1a).bytes(s.chainKey);
    w.uint32(0x22).bytes(s.signingPub);
    return Buffer.concat([Buffer.from([0x33]), Buffer.from(w.finish())]);
}

function decodeFields(buf) {
    const r = pb.Reader.create(buf);
    const fields = {};
    while (r.pos < r.len) {
        const tag = r.uint32();
        const field = tag >>> 3;
        switch (tag & 7) {
            case 0: fields[field] = r.uint32(); break;
            case 2: fields[field] = Buffer.from(r.bytes()); break;
            default: r.skipType(tag & 7);
        }
    }
    return fields;
}

function record(group, sender) {
    const id = `${group}::${sender}`;
    if (!senderKeys.has(id)) senderKeys.set(id, { states: [] });
    return senderKeys.get(id);
}

function groupEncrypt(group, plaintext) {
    const rec = record(group, 'me');
    const s = rec.states[0];
    const { iv, key } = groupKeys(seedOf(s.chainKey));
    const w = pb.Writer.create();
    w.uint32(0x08).uint32(s.keyId);
    w.uint32(0x10).uint32(s.iteration);
    w.uint32(0x1a).bytes(crypto.encrypt(key, plaintext, iv));
    const body = Buffer.concat([Buffer.from([0x33]), Buffer.from(w.finish())]);
    const signature = curve.calculateSignature(s.signingPriv, body);
    s.chainKey = nextOf(s.chainKey);
    s.iteration += 1;
    return Buffer.concat([body, signature]);
}

function groupDecrypt(group, sender, bytes) {
    if (bytes.length < 65 || bytes[0] >> 4 !== 3) throw new Error('bad skmsg');
    const body = bytes.subarray(0, bytes.length - 64);
    const signature = bytes.subarray(bytes.length - 64);
    const f = decodeFields(body.subarray(1));
    const rec = record(group, sender);
    const s = rec.states.find((x) => x.keyId === f[1]);
    if (!s) throw new Error(`no sender key state ${f[1]}`);
    if (curve.verifySignature(s.signingPub, body, signature) !== true) throw new Error('bad signature');
    const iteration = f[2];
    let seed;
    if (iteration < s.iteration) {
        seed = s.kept.get(iteration);
        if (!seed) throw new Error(`duplicate iteration ${iteration}`);
        s.kept.delete(iteration);
    } else {
        if (iteration - s.iteration > MAX_AHEAD) throw new Error('too far ahead');
        while (s.iteration < iteration) {
            s.kept.set(s.iteration, seedOf(s.chainKey));
            if (s.kept.size > MAX_KEPT) s.kept.delete(s.kept.keys().next().value);
            s.chainKey = nextOf(s.chainKey);
            s.iteration += 1;
        }
        seed = seedOf(s.chainKey);
        s.chainKey = nextOf(s.chainKey);
        s.iteration += 1;
    }
    const { iv, key } = groupKeys(seed);
    return crypto.decrypt(key, f[3], iv);
}

// ---- commands --------------------------------------------------------------------------------

async function handle(req) {
    switch (req.cmd) {
        case 'init': {
            identity = keyhelper.generateIdentityKeyPair();
            registrationId = req.reg_id || keyhelper.generateRegistrationId();
            signedPreKey = keyhelper.generateSignedPreKey(identity, 1);
            return bundle(newPreKey());
        }
        case 'bundle':
            return bundle(newPreKey());
        case 'bundle_without_prekey':
            return bundle(null);
        case 'session': {
            const b = req.bundle;
            await new SessionBuilder(storage, address(req.peer)).initOutgoing({
                registrationId: b.registration_id,
                identityKey: unhex(b.identity_key),
                signedPreKey: {
                    keyId: b.signed_prekey.id,
                    publicKey: unhex(b.signed_prekey.public),
                    signature: unhex(b.signed_prekey.signature),
                },
                preKey: b.prekey ? { keyId: b.prekey.id, publicKey: unhex(b.prekey.public) } : undefined,
            });
            return { ok: true };
        }
        case 'encrypt': {
            const out = await new SessionCipher(storage, address(req.peer)).encrypt(unhex(req.hex));
            return { type: out.type === 3 ? 'pkmsg' : 'msg', hex: hex(out.body) };
        }
        case 'decrypt': {
            const cipher = new SessionCipher(storage, address(req.peer));
            const bytes = unhex(req.hex);
            const plain = req.type === 'pkmsg'
                ? await cipher.decryptPreKeyWhisperMessage(bytes)
                : await cipher.decryptWhisperMessage(bytes);
            return { hex: hex(plain) };
        }
        case 'sign':
            return { signature: hex(curve.calculateSignature(identity.privKey, unhex(req.hex))) };
        case 'verify': {
            // verifySignature returns false for a bad signature (it throws only on malformed input).
            let valid;
            try {
                valid = curve.verifySignature(unhex(req.pub), unhex(req.hex), unhex(req.sig)) === true;
            } catch (e) {
                valid = false;
            }
            return { valid };
        }
        case 'group_create': {
            const rec = record(req.group, 'me');
            if (!rec.states.length) {
                const pair = curve.generateKeyPair();
                rec.states.unshift({
                    keyId: keyhelper.generateRegistrationId(),
                    iteration: 0,
                    chainKey: require('crypto').randomBytes(32),
                    signingPub: pair.pubKey,
                    signingPriv: pair.privKey,
                    kept: new Map(),
                });
            }
            return { skdm_hex: hex(encodeSkdm(rec.states[0])) };
        }
        case 'group_process': {
            const bytes = unhex(req.hex);
            if (bytes[0] >> 4 !== 3) throw new Error('bad skdm version');
            const f = decodeFields(bytes.subarray(1));
            const rec = record(req.group, req.sender);
            rec.states = rec.states.filter((s) => s.keyId !== f[1]);
            rec.states.unshift({ keyId: f[1], iteration: f[2] || 0, chainKey: f[3], signingPub: f[4], kept: new Map() });
            rec.states.length = Math.min(rec.states.length, MAX_STATES);
            return { ok: true };
        }
        case 'group_encrypt':
            return { hex: hex(groupEncrypt(req.group, unhex(req.hex))) };
        case 'group_decrypt':
            return { hex: hex(groupDecrypt(req.group, req.sender, unhex(req.hex))) };
        default:
            throw new Error(`unknown command ${req.cmd}`);
    }
}

// Requests are handled strictly one after another, in order.
const lines = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
lines.on('line', (line) => {
    chain = chain.then(async () => {
        let reply;
        try {
            reply = await handle(JSON.parse(line));
        } catch (e) {
            reply = { error: String((e && e.message) || e) };
        }
        process.stdout.write(JSON.stringify(reply) + '\n');
    });
});
