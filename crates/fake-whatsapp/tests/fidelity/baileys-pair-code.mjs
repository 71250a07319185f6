// Links the unmodified Baileys client to the fake WhatsApp by phone-number pairing code
// (`sock.requestPairingCode`) instead of a QR, reporting one line per event on stdout:
//   CODE <code>        the pairing code Baileys would show the user
//   OPEN               connection: 'open' (then saves creds and exits 0)
//   CLOSE <code>       connection: 'close' with lastDisconnect's status code (515 reconnects)
//   ERROR <message>    requestPairingCode failed
// Env: as in driver.mjs, plus FAKE_WA_PHONE (the phone number to pair with, digits only).
// Run with `node --import ./patch-root.mjs` (FAKE_WA_ROOT_KEY) like baileys-client.mjs.
import { DisconnectReason } from '@whiskeysockets/baileys'
import { driver } from './driver.mjs'

const { say, quit, socket } = await driver('baileys-pair-code', ['FAKE_WA_PHONE'])
const phone = process.env.FAKE_WA_PHONE

let requested = false
function connect () {
  const sock = socket()
  sock.ev.on('connection.update', async update => {
    // As Baileys' README says: ask for a code once the socket is up and not yet registered
    // (the first QR means the server has offered registration).
    if (update.qr && !requested && !sock.authState.creds.registered) {
      requested = true
      try {
        say('CODE', await sock.requestPairingCode(phone))
      } catch (e) {
        say('ERROR', String(e?.stack ?? e).replace(/\n/g, ' | '))
      }
    }
    if (update.connection === 'open') {
      say('OPEN')
      await quit(0)
    }
    if (update.connection === 'close') {
      const code = update.lastDisconnect?.error?.output?.statusCode
      say('CLOSE', String(code))
      if (code === DisconnectReason.restartRequired) {
        connect()
      } else {
        await quit(1)
      }
    }
  })
}
connect()
