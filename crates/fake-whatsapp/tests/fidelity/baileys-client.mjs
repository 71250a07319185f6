// Drives the unmodified Baileys client against the fake WhatsApp and reports what it sees as
// one line per event on stdout, for the Rust fidelity test to read:
//   QR <qr string>     a QR code Baileys would display
//   OPEN               connection: 'open'
//   CLOSE <code>       connection: 'close' with lastDisconnect's status code
//   LOGGED_OUT         the close reason was DisconnectReason.loggedOut
// Env: FAKE_WA_URL (ws://…/ws/chat), FAKE_WA_AUTH_DIR (useMultiFileAuthState folder),
//      FAKE_WA_EXIT_ON_OPEN=1 to exit 0 once open and creds are saved.
// Exits 0 after OPEN (with FAKE_WA_EXIT_ON_OPEN) or LOGGED_OUT; 1 on any other close.
import makeWASocket, { DisconnectReason, useMultiFileAuthState } from '@whiskeysockets/baileys'
import pino from 'pino'

const url = process.env.FAKE_WA_URL
const dir = process.env.FAKE_WA_AUTH_DIR
if (!url || !dir) {
  console.error('baileys-client: FAKE_WA_URL and FAKE_WA_AUTH_DIR are required')
  process.exit(2)
}
const exitOnOpen = process.env.FAKE_WA_EXIT_ON_OPEN === '1'
const { state, saveCreds } = await useMultiFileAuthState(dir)
const logger = pino({ level: process.env.FAKE_WA_LOG || 'silent' }, pino.destination(2))

const say = line => process.stdout.write(line + '\n')
// Exiting while useMultiFileAuthState is still writing creds.json would leave it truncated and
// the next run would start unpaired; so write once more and give pending writes a moment.
const quit = async code => {
  await saveCreds()
  setTimeout(() => process.exit(code), 300)
}

function connect () {
  const sock = makeWASocket({
    auth: state,
    waWebSocketUrl: url,
    logger,
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    syncFullHistory: false
  })
  sock.ev.on('creds.update', saveCreds)
  sock.ev.on('connection.update', async update => {
    if (update.qr) say('QR ' + update.qr)
    if (update.connection === 'open') {
      say('OPEN')
      if (exitOnOpen) await quit(0)
    }
    if (update.connection === 'close') {
      const code = update.lastDisconnect?.error?.output?.statusCode
      say('CLOSE ' + code)
      if (code === DisconnectReason.restartRequired) {
        connect()
      } else if (code === DisconnectReason.loggedOut) {
        say('LOGGED_OUT')
        await quit(0)
      } else {
        await quit(1)
      }
    }
  })
}
connect()
