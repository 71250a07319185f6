// Drives the unmodified Baileys client against the fake WhatsApp: reports what it sees as one
// line per event on stdout and carries out commands read from stdin, so the Rust fidelity test
// can run the same scenarios it runs against our own engine (tests/scenarios/mod.rs).
//
// Events (stdout):
//   QR <qr string>        a QR code Baileys would display
//   OPEN                  connection: 'open'
//   CLOSE <code>          connection: 'close' with lastDisconnect's status code
//   LOGGED_OUT            the close reason was DisconnectReason.loggedOut
//   SENT <json>           {"id"} a `send` command went out
//   MSG <json>            messages.upsert: {"chat","chatAlt","id","fromMe","text","stub","type"}
//   STATUS <json>         messages.update with a status: {"id","status"} (status: Baileys' name,
//                         e.g. DELIVERY_ACK, READ)
//   PRESENCE <json>       presence.update: {"chat","participant","state"}
//   ERROR <message>       a command failed
// Commands (stdin, one JSON object per line):
//   {"cmd":"send","to":"<jid>","text":"…"}            sock.sendMessage
//   {"cmd":"read","chat":"<jid>","ids":["…"]}          sock.readMessages
//   {"cmd":"typing","chat":"<jid>","state":"composing"|"paused"}  sock.sendPresenceUpdate
//   {"cmd":"subscribe","chat":"<jid>"}                  sock.presenceSubscribe
//   {"cmd":"quit"}                                      save creds and exit 0
// Env: as in driver.mjs, plus FAKE_WA_EXIT_ON_OPEN=1 to exit 0 once open and creds are saved.
// Exits 0 after OPEN (with FAKE_WA_EXIT_ON_OPEN), LOGGED_OUT or quit; 1 on any other close.
import readline from 'node:readline'
import { DisconnectReason, proto } from '@whiskeysockets/baileys'
import { driver } from './driver.mjs'

const { say, quit, socket } = await driver('baileys-client')
const exitOnOpen = process.env.FAKE_WA_EXIT_ON_OPEN === '1'
const statusName = s => proto.WebMessageInfo.Status[s] ?? String(s)
const textOf = m => m?.conversation ?? m?.extendedTextMessage?.text ?? null

let sock
function connect () {
  sock = socket()
  sock.ev.on('connection.update', async update => {
    if (update.qr) say('QR', update.qr)
    if (update.connection === 'open') {
      say('OPEN')
      if (exitOnOpen) await quit(0)
    }
    if (update.connection === 'close') {
      const code = update.lastDisconnect?.error?.output?.statusCode
      say('CLOSE', String(code))
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
  sock.ev.on('messages.upsert', ({ messages, type }) => {
    for (const m of messages) {
      say('MSG', {
        chat: m.key.remoteJid,
        chatAlt: m.key.remoteJidAlt ?? null,
        id: m.key.id,
        fromMe: !!m.key.fromMe,
        text: textOf(m.message),
        stub: m.messageStubType ?? null,
        type
      })
      // Baileys folds a status update that arrives while the message's own upsert is still
      // buffered into the upserted message; report it as a status all the same.
      if (m.key.fromMe && m.status !== undefined && m.status !== null) {
        say('STATUS', { id: m.key.id, status: statusName(m.status) })
      }
    }
  })
  sock.ev.on('messages.update', updates => {
    for (const { key, update } of updates) {
      if (update.status !== undefined && update.status !== null) {
        say('STATUS', { id: key.id, status: statusName(update.status) })
      }
    }
  })
  sock.ev.on('presence.update', ({ id, presences }) => {
    for (const [participant, p] of Object.entries(presences)) {
      say('PRESENCE', { chat: id, participant, state: p.lastKnownPresence })
    }
  })
}
connect()

const commands = readline.createInterface({ input: process.stdin })
commands.on('line', async line => {
  if (!line.trim()) return
  try {
    const c = JSON.parse(line)
    switch (c.cmd) {
      case 'send': {
        const sent = await sock.sendMessage(c.to, { text: c.text })
        say('SENT', { id: sent.key.id })
        break
      }
      case 'read':
        await sock.readMessages(c.ids.map(id => ({ remoteJid: c.chat, id, fromMe: false })))
        break
      case 'typing':
        await sock.sendPresenceUpdate(c.state, c.chat)
        break
      case 'subscribe':
        await sock.presenceSubscribe(c.chat)
        break
      case 'quit':
        await quit(0)
        break
      default:
        say('ERROR', 'unknown command ' + c.cmd)
    }
  } catch (e) {
    say('ERROR', String(e?.stack ?? e).replace(/\n/g, ' | '))
  }
})
