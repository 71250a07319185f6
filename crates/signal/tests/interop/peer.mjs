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
  async loadSenderKey(name) {
    const data = senderKeys.get(name.toString());
    return data ? group.SenderKeyRecord.deserialize(data) : new group.SenderKeyRecord();
  },
  async storeSenderKey(name, record) { senderKeys.set(name.toString(), JSON.stringify(record.serialize())); },
};

const remote = new libsignal.ProtocolAddress('rust', 1);

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
