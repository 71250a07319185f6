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
//   MEDIA <json>          with FAKE_WA_MEDIA_DIR: a received media message, downloaded and
//                         decrypted by Baileys' downloadMediaMessage into <dir>/<id>:
//                         {"id","kind","path","mimetype","caption","fileName","ptt","seconds"}
//   MEDIA_ERROR <json>    {"id","error"}: downloadMediaMessage failed
//   ERROR <message>       a command failed
// Commands (stdin, one JSON object per line):
//   {"cmd":"send","to":"<jid>","text":"…"}            sock.sendMessage
//   {"cmd":"read","chat":"<jid>","ids":["…"]}          sock.readMessages
//   {"cmd":"typing","chat":"<jid>","state":"composing"|"paused"}  sock.sendPresenceUpdate
//   {"cmd":"subscribe","chat":"<jid>"}                  sock.presenceSubscribe
//   {"cmd":"send-media","to":"<jid>","kind":"image"|"audio"|"video"|"document","file":"<path>",
//    "mimetype","caption"?,"fileName"?,"ptt"?,"seconds"?,"thumbnail"?(base64)}  sock.sendMessage
//                                                      with the file's bytes (Baileys encrypts
//                                                      and uploads them to the fake's media host)
//   {"cmd":"quit"}                                      save creds and exit 0
// Env: as in driver.mjs, plus FAKE_WA_EXIT_ON_OPEN=1 to exit 0 once open and creds are saved, and
// FAKE_WA_MEDIA_DIR to download received media there. Baileys builds https:// media URLs itself;
// the fake's media host answers TLS with a throw-away self-signed certificate, so a media test
// runs this script with NODE_TLS_REJECT_UNAUTHORIZED=0 (that Node child only).
// Exits 0 after OPEN (with FAKE_WA_EXIT_ON_OPEN), LOGGED_OUT or quit; 1 on any other close.
import readline from 'node:readline'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DisconnectReason, downloadMediaMessage, proto } from '@whiskeysockets/baileys'
import { driver } from './driver.mjs'

const { say, quit, socket } = await driver('baileys-client')
const exitOnOpen = process.env.FAKE_WA_EXIT_ON_OPEN === '1'
const statusName = s => proto.WebMessageInfo.Status[s] ?? String(s)
const textOf = m => m?.conversation ?? m?.extendedTextMessage?.text ?? null
const mediaDir = process.env.FAKE_WA_MEDIA_DIR
const MEDIA_KINDS = { imageMessage: 'image', audioMessage: 'audio', videoMessage: 'video', documentMessage: 'document' }
// The media part of a message (a captioned document comes wrapped).
const mediaOf = m => {
  const inner = m?.documentWithCaptionMessage?.message ?? m
  for (const [field, kind] of Object.entries(MEDIA_KINDS)) {
    if (inner?.[field]) return { kind, media: inner[field] }
  }
  return null
}
async function saveMedia (m) {
  const found = mediaOf(m.message)
  if (!found || !mediaDir) return
  const { kind, media } = found
  try {
    const bytes = await downloadMediaMessage(m, 'buffer', {})
    const path = join(mediaDir, m.key.id)
    writeFileSync(path, bytes)
    say('MEDIA', {
      id: m.key.id,
      kind,
      path,
      mimetype: media.mimetype ?? null,
      caption: media.caption ?? null,
      fileName: media.fileName ?? null,
      ptt: !!media.ptt,
      seconds: media.seconds ?? null
    })
  } catch (e) {
    say('MEDIA_ERROR', { id: m.key.id, error: String(e?.stack ?? e).replace(/\n/g, ' | ') })
  }
}

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
      if (!m.key.fromMe) saveMedia(m)
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
      case 'send-media': {
        const data = readFileSync(c.file)
        const thumb = c.thumbnail ? Buffer.from(c.thumbnail, 'base64') : undefined
        const content = {
          image: { image: data, mimetype: c.mimetype, caption: c.caption, jpegThumbnail: thumb },
          audio: { audio: data, mimetype: c.mimetype, ptt: !!c.ptt, seconds: c.seconds, waveform: c.ptt ? new Uint8Array(64) : undefined },
          video: { video: data, mimetype: c.mimetype, caption: c.caption, seconds: c.seconds, jpegThumbnail: thumb },
          document: { document: data, mimetype: c.mimetype, fileName: c.fileName, caption: c.caption }
        }[c.kind]
        if (!content) throw new Error('unknown media kind ' + c.kind)
        const sent = await sock.sendMessage(c.to, content)
        say('SENT', { id: sent.key.id })
        break
      }
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
