// The Baileys side of engine-bench: many unmodified Baileys 7.0.0-rc14 sockets in this one node
// process, each linked to its own account on the offline WhatsApp, with the auth state Baileys
// users run (`useMultiFileAuthState`, one folder per account). It speaks the same line protocol
// as the engine side (crates/bench/src/engine_child.rs), so the benchmark drives both alike.
//
//   node --expose-gc client.mjs --url ws://…/ws/chat --root <64 hex> --auth <dir>
//
// Commands (stdin)                 Answers (stdout)
//   link <user> <store>            qr <user> <qr>… then active <user> (after the 515 restart)
//   resume <user>                  active <user> (logged in with the creds saved in <dir>/<user>)
//   stop <user>                    stopped <user> (socket ended, creds saved)
//   drain <expected>               drained <count> <ms since the command> <ms since the first open>
//                                  once <expected> new texts were emitted (messages.upsert)
//   gc                             gc-done <heap used KiB> <external KiB> (after a full V8
//                                  collection, so idle memory is live memory)
//   quit                           exits 0
// Also: `ready` once Baileys is loaded (the memory baseline), `error <user> <text>` for any
// unexpected close. Everything else (libsignal prints session records on console.*) goes to
// stderr or is counted, never to stdout, which carries only protocol lines.
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import makeWASocket, { DisconnectReason, useMultiFileAuthState } from '@whiskeysockets/baileys'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import pino from 'pino'

const opts = {}
{
  const argv = process.argv.slice(2)
  for (let k = 0; k + 1 < argv.length; k += 2) opts[argv[k].replace(/^--/, '')] = argv[k + 1]
  if (!opts.url || !/^[0-9a-f]{64}$/.test(opts.root ?? '') || !opts.auth) {
    console.error('usage: client.mjs --url ws://… --root <64 hex> --auth <dir>')
    process.exit(2)
  }
}
// What tests/fidelity/patch-root.mjs does: trust the offline WhatsApp's root key (in memory only).
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(opts.root, 'hex')
fs.mkdirSync(opts.auth, { recursive: true })

const say = (...parts) => process.stdout.write(parts.join(' ') + '\n')
// libsignal logs whole session records through console.*: keep them off stdout (and cheap).
const notes = {}
for (const level of ['log', 'info', 'warn', 'debug']) {
  console[level] = (first) => {
    const key = typeof first === 'string' ? first.slice(0, 40) : typeof first
    notes[key] = (notes[key] ?? 0) + 1
  }
}
const logger = pino({ level: process.env.BENCH_BAILEYS_LOG || 'silent' }, pino.destination(2))
const textOf = m => m?.conversation ?? m?.extendedTextMessage?.text ?? null

const accounts = new Map() // user → { user, state, saveCreds, sock, stopping, open }
let drain = null // { expected, ids: Set, started, firstOpen, done }

function connect (acc) {
  const sock = makeWASocket({
    auth: acc.state,
    waWebSocketUrl: opts.url,
    logger,
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    syncFullHistory: false
  })
  acc.sock = sock
  acc.stopping = false
  sock.ev.on('creds.update', acc.saveCreds)
  sock.ev.on('connection.update', update => {
    if (update.qr) say('qr', acc.user, update.qr)
    if (update.connection === 'open') {
      acc.open = true
      if (drain && drain.firstOpen === null) drain.firstOpen = Date.now()
      say('active', acc.user)
    }
    if (update.connection === 'close') {
      acc.open = false
      if (acc.stopping || sock !== acc.sock) return
      const code = update.lastDisconnect?.error?.output?.statusCode
      if (code === DisconnectReason.restartRequired) {
        connect(acc) // the 515 after pairing: log in with the new credentials
        return
      }
      say('error', acc.user, `connection closed (${code}): ${update.lastDisconnect?.error?.message}`)
      if (code !== DisconnectReason.loggedOut) setTimeout(() => { if (!acc.stopping) connect(acc) }, 1000)
    }
  })
  sock.ev.on('messages.upsert', ({ messages }) => {
    if (!drain || drain.done) return
    for (const m of messages) {
      if (m.key.fromMe || textOf(m.message) === null) continue
      drain.ids.add(m.key.id)
    }
    if (drain.ids.size >= drain.expected) {
      drain.done = true
      const now = Date.now()
      say('drained', drain.ids.size, now - drain.started, now - (drain.firstOpen ?? drain.started))
    }
  })
}

async function link (user) {
  if (accounts.has(user)) throw new Error(`${user} is already linked here`)
  const { state, saveCreds } = await useMultiFileAuthState(path.join(opts.auth, user))
  const acc = { user, state, saveCreds, sock: null, stopping: false, open: false }
  accounts.set(user, acc)
  connect(acc)
}

async function stop (user) {
  const acc = accounts.get(user)
  if (!acc) throw new Error(`unknown account ${user}`)
  acc.stopping = true
  try { acc.sock?.end(undefined) } catch {}
  await acc.saveCreds()
  say('stopped', user)
}

function startDrain (expected) {
  drain = { expected, ids: new Set(), started: Date.now(), firstOpen: null, done: false }
  for (const acc of accounts.values()) if (acc.stopping) connect(acc)
}

const commands = readline.createInterface({ input: process.stdin })
commands.on('line', async line => {
  const [cmd, ...args] = line.trim().split(/\s+/)
  try {
    switch (cmd) {
      case 'link': // a new account: QR, scan, 515, login
      case 'resume': // an account linked by an earlier process: login from the saved creds
        await link(args[0])
        break
      case 'stop': await stop(args[0]); break
      case 'drain': startDrain(Number(args[0])); break
      case 'gc': {
        global.gc?.()
        const m = process.memoryUsage() // for the report: how much of the RSS is live JS heap
        say('gc-done', Math.round(m.heapUsed / 1024), Math.round((m.external + m.arrayBuffers) / 1024))
        break
      }
      case 'quit':
        for (const acc of accounts.values()) { acc.stopping = true; try { acc.sock?.end(undefined) } catch {} }
        setTimeout(() => process.exit(0), 200)
        break
      case '': break
      default: say('error', '-', `unknown command ${cmd}`)
    }
  } catch (e) {
    say('error', args[0] ?? '-', String(e?.message ?? e).replace(/\n/g, ' '))
  }
})
commands.on('close', () => process.exit(0))
say('ready')
