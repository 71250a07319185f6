// Loaded with `node --import ./patch-root.mjs`: makes this Baileys process trust the fake
// server's root key instead of WhatsApp's. Baileys 7.0.0-rc14 (Utils/noise-handler.js) verifies
// the intermediate certificate's signature against WA_CERT_DETAILS.PUBLIC_KEY and checks its
// issuer serial against WA_CERT_DETAILS.SERIAL (0, which the fake also uses); the leaf is
// verified against the intermediate's key. So only the public key needs replacing. The module
// object is shared, so mutating it here is seen by the noise handler. Nothing on disk changes.
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'

const hex = process.env.FAKE_WA_ROOT_KEY
if (!hex || !/^[0-9a-f]{64}$/.test(hex)) {
  console.error('patch-root: FAKE_WA_ROOT_KEY must be 64 hex digits')
  process.exit(3)
}
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(hex, 'hex')
