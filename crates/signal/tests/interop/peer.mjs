// A libsignal-node peer for the Rust interop tests (crates/signal/tests/*.rs).
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout, in order.
// Every request has an "op"; every reply is {"ok":true,...} or {"ok":false,"error":"..."}.
// Binary values are lower-case hex. The peer holds one identity (its own stores) and talks to
// one remote address ("rust.1"), which is all the tests need.
//
// The libraries are the ones Baileys ships: npm libsignal (1:1 sessions) and Baileys' own
// sender-key group cipher (lib/Signal/Group). They resolve from the workspace root node_modules.
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const libsignal = require('libsignal');
const group = await import('@whiskeysockets/baileys/lib/Signal/Group/index.js');

// libsignal-node logs with console.info/warn/error; stdout carries the protocol, so all of it
// goes to stderr.
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  console[level] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => Buffer.from(s, 'hex');

// ---- in-memory stores -------------------------------------------------------------------
const identity = libsignal.keyhelper.generateIdentityKeyPair();
const registrationId = libsignal.keyhelper.generateRegistrationId();
const preKeys = new Map();
const signedPreKeys = new Map();
const sessions = new Map();
const senderKeys = new Map();

const storage = {
  async getOurIdentity() { return identity; },
  async getOurRegistrationId() { return registrationId; },
  async isTrustedIdentity() { return true; },
  async loadPreKey(id) { return preKeys.get(id); },
  async removePreKey(id) { preKeys.delete(id); },
  async loadSignedPreKey(id) { return signedPreKeys.get(id); },
  async loadSession(addr) {
    const data = sessions.get(addr);
    return data ? libsignal.SessionRecord.deserialize(data) : undefined;
  },
  async storeSession(addr, record) { sessions.set(addr, record.serialize()); },
  // Baileys' group cipher store interface.
  // (records kept as objects: Baileys' own serialisation needs its BufferJSON helpers)
  async loadSenderKey(name) {
    return senderKeys.get(name.toString()) ?? new group.SenderKeyRecord();
  },
  async storeSenderKey(name, record) { senderKeys.set(name.toString(), record); },
};

const remote = new libsignal.ProtocolAddress('rust', 1);
const self = new libsignal.ProtocolAddress('node', 1);
let nextPreKeyId = 1;

// ---- operations -------------------------------------------------------------------------
const ops = {
  // XEdDSA through libsignal's curve wrapper (curve25519-js underneath).
  curve_generate() {
    const kp = libsignal.curve.generateKeyPair();
    return { pub: hex(kp.pubKey), priv: hex(kp.privKey) };
  },
  curve_sign({ priv, msg }) {
    return { sig: hex(libsignal.curve.calculateSignature(unhex(priv), unhex(msg))) };
  },
  curve_verify({ pub, msg, sig }) {
    return { valid: libsignal.curve.verifySignature(unhex(pub), unhex(msg), unhex(sig)) };
  },

  // ---- 1:1 sessions ----
  // A fresh signed pre-key and one-time pre-key, published as a bundle.
  bundle({ withPreKey = true }) {
    const id = nextPreKeyId++;
    const signed = libsignal.keyhelper.generateSignedPreKey(identity, id);
    signedPreKeys.set(id, signed.keyPair);
    const out = {
      registrationId, identityKey: hex(identity.pubKey),
      signedPreKey: { keyId: id, publicKey: hex(signed.keyPair.pubKey), signature: hex(signed.signature) },
    };
    if (withPreKey) {
      const pre = libsignal.keyhelper.generatePreKey(id);
      preKeys.set(id, pre.keyPair);
      out.preKey = { keyId: id, publicKey: hex(pre.keyPair.pubKey) };
    }
    return out;
  },
  has_pre_key({ keyId }) { return { present: preKeys.has(keyId) }; },
  async process_bundle({ bundle }) {
    const device = {
      registrationId: bundle.registrationId,
      identityKey: unhex(bundle.identityKey),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: unhex(bundle.signedPreKey.publicKey),
        signature: unhex(bundle.signedPreKey.signature),
      },
    };
    if (bundle.preKey) device.preKey = { keyId: bundle.preKey.keyId, publicKey: unhex(bundle.preKey.publicKey) };
    await new libsignal.SessionBuilder(storage, remote).initOutgoing(device);
    return {};
  },
  async encrypt({ plaintext }) {
    const { type, body } = await new libsignal.SessionCipher(storage, remote).encrypt(unhex(plaintext));
    return { type: type === 3 ? 'pkmsg' : 'msg', body: hex(Buffer.from(body, 'binary')) };
  },
  async decrypt({ type, body }) {
    const cipher = new libsignal.SessionCipher(storage, remote);
    const plaintext = type === 'pkmsg'
      ? await cipher.decryptPreKeyWhisperMessage(unhex(body))
      : await cipher.decryptWhisperMessage(unhex(body));
    return { plaintext: hex(plaintext) };
  },

  // ---- sender keys (Baileys' group cipher) ----
  async group_create({ group: groupId }) {
    const name = new group.SenderKeyName(groupId, self);
    const dist = await new group.GroupSessionBuilder(storage).create(name);
    return { distribution: hex(dist.serialize()) };
  },
  async group_process({ group: groupId, distribution }) {
    const name = new group.SenderKeyName(groupId, remote);
    const msg = new group.SenderKeyDistributionMessage(null, null, null, null, unhex(distribution));
    await new group.GroupSessionBuilder(storage).process(name, msg);
    return {};
  },
  async group_encrypt({ group: groupId, plaintext }) {
    const name = new group.SenderKeyName(groupId, self);
    return { body: hex(await new group.GroupCipher(storage, name).encrypt(unhex(plaintext))) };
  },
  async group_decrypt({ group: groupId, body }) {
    const name = new group.SenderKeyName(groupId, remote);
    return { plaintext: hex(await new group.GroupCipher(storage, name).decrypt(unhex(body))) };
  },
};

const rl = readline.createInterface({ input: process.stdin });
// Requests are handled strictly one at a time so replies stay in request order.
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let reply;
    try {
      const req = JSON.parse(line);
      const op = ops[req.op];
      if (!op) throw new Error(`unknown op ${req.op}`);
      reply = { ok: true, ...(await op(req)) };
    } catch (e) {
      reply = { ok: false, error: String(e && e.message || e) };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
});
