// Soak for the fake WhatsApp: N unmodified Baileys clients (in this one node process) pair by QR
// through the standalone fake, then for S seconds each sends a text per second to its own
// contact account, whose scripted phone answers each one over the control API. Everything is
// verified (see README.md) and the fake's own CPU and memory are sampled from /proc so later
// benchmarks can subtract them. Exit code 0 only when errors == 0.
//
//   cargo build --release -p fake-whatsapp
//   node --max-old-space-size=4096 crates/fake-whatsapp/soak/soak.mjs [--clients 200] [--seconds 60]
//
// Options: --clients N (200) --seconds S (60) --batch B (10 pairings in flight) --rate R (texts
// per client per second, 1) --drain S (seconds to wait for the last deliveries, 60)
// --auth memory|files (memory: each client's Baileys keys in a Map; files: one
// useMultiFileAuthState folder per client under the temp dir — much slower in node, see README)
// --log LEVEL (pino level for every Baileys socket; logs go to <tmp>/logs/client-N.log, kept)
// Env: FAKE_WA_BIN (default <workspace>/target/release/fake-whatsapp), FAKE_WHATSAPP_DEBUG is
// passed through to the fake.
import { spawn, execSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import v8 from 'node:v8'
import makeWASocket, { DisconnectReason, initAuthCreds, proto, useMultiFileAuthState } from '@whiskeysockets/baileys'
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys/lib/Defaults/index.js'
import pino from 'pino'

// ---------------------------------------------------------------------------------------------
// Options
const here = path.dirname(fileURLToPath(import.meta.url))
const workspace = path.resolve(here, '../../..')
const opts = { clients: 200, seconds: 60, batch: 10, rate: 1, drain: 60, log: null, auth: 'memory' }
{
  const argv = process.argv.slice(2)
  for (let k = 0; k < argv.length; k++) {
    const name = argv[k].replace(/^--/, '')
    if (!(name in opts) || argv[k + 1] === undefined) {
      console.error(`usage: soak.mjs [--clients N] [--seconds S] [--batch B] [--rate R] [--drain S] [--log LEVEL] [--auth files|memory]`)
      process.exit(2)
    }
    const v = argv[++k]
    opts[name] = ['log', 'auth'].includes(name) ? v : Number(v)
    if (!['log', 'auth'].includes(name) && !(opts[name] > 0)) { console.error(`--${name} must be > 0`); process.exit(2) }
  }
}
const N = opts.clients
if (!['files', 'memory'].includes(opts.auth)) { console.error('--auth is files or memory'); process.exit(2) }
const bin = process.env.FAKE_WA_BIN || path.join(workspace, 'target/release/fake-whatsapp')
if (!fs.existsSync(bin)) {
  console.error(`soak: no fake binary at ${bin}; run \`cargo build --release -p fake-whatsapp\` or set FAKE_WA_BIN`)
  process.exit(2)
}
const heapMb = v8.getHeapStatistics().heap_size_limit / 2 ** 20
if (N > 50 && heapMb < 3000) {
  console.error(`soak: warning: node heap limit is ${heapMb.toFixed(0)} MB; use node --max-old-space-size=4096 for ${N} clients`)
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping
const t0 = Date.now()
const secs = () => ((Date.now() - t0) / 1000).toFixed(1)
const log = (...a) => console.log(`[${secs()}s]`, ...a)
const errors = []
const error = (client, kind, detail) => {
  errors.push({ client, kind, detail: String(detail).slice(0, 400) })
  if (errors.length <= 20) log(`ERROR client ${client} ${kind}: ${String(detail).slice(0, 300)}`)
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const pad = (i, w = 4) => String(i).padStart(w, '0')
const statusName = s => proto.WebMessageInfo.Status[s] ?? String(s)
const textOf = m => m?.conversation ?? m?.extendedTextMessage?.text ?? null
const userOf = jid => String(jid ?? '').split('@')[0].split(':')[0]
const DELIVERY_ACK = proto.WebMessageInfo.Status.DELIVERY_ACK // 3
const quantile = (xs, q) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

// libsignal (under Baileys) prints whole session records with console.info/warn on routine
// events (e.g. "Closing session" when Baileys force-refreshes a session after a device usync):
// count those instead of flooding the output; the counts are in the report.
const libsignalNotes = {}
for (const level of ['log', 'info', 'warn']) {
  const original = console[level].bind(console)
  console[level] = (first, ...rest) => {
    const m = typeof first === 'string' && first.match(/^(Closing session|Opening session|Removing old closed session|Closing open session in favor of incoming prekey bundle|Session already (?:closed|open)|Decrypted message with closed session|Migrating session)/)
    if (m) libsignalNotes[m[1]] = (libsignalNotes[m[1]] ?? 0) + 1
    else original(first, ...rest)
  }
}

// ---------------------------------------------------------------------------------------------
// /proc sampling of the fake (and of this node process for comparison)
const clkTck = Number(execSync('getconf CLK_TCK').toString().trim()) || 100
function procSample (pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // f[0] is field 3 (state)
  const cpu = (Number(f[11]) + Number(f[12])) / clkTck // utime (14) + stime (15)
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = key => Number((status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0)
  return { cpu, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, threads: Number((status.match(/^Threads:\s+(\d+)/m) || [])[1]) }
}
const samples = []
let fakePid = null
function sample (label) {
  const s = { label, t: (Date.now() - t0) / 1000, fake: procSample(fakePid), node: procSample(process.pid) }
  samples.push(s)
  return s
}

// ---------------------------------------------------------------------------------------------
// Start the fake
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-wa-soak-'))
const logDir = path.join(tmp, 'logs')
if (opts.log) fs.mkdirSync(logDir)
const fake = spawn(bin, ['--port', '0', '--control-port', '0'], { stdio: ['pipe', 'pipe', 'pipe'] })
fakePid = fake.pid
// Never leave the fake behind (the module below is suspended at top-level awaits, so this must
// be registered before them).
process.on('exit', () => { try { fake.kill('SIGKILL') } catch {} })
process.on('SIGINT', () => { error('soak', 'interrupted', 'SIGINT'); finish(130) })
process.on('SIGTERM', () => { error('soak', 'interrupted', 'SIGTERM'); finish(143) })
let stopping = false
const clientList = []
// Phase results, filled in as the run goes (finish() may come early).
let sStart, sPaired, sMsgEnd, sEnd, stats, openCount, pairSeconds, pairEl, msgEl, msgSeconds, nodeCpuMsg, drainSeconds
let textsSent = 0; let textsDecrypted = 0; let ownCopies = 0; let acks = 0; let repliesSent = 0; let repliesReceived = 0; let skipped = 0
const deliverLat = []; const replyLat = []
const fakeStderr = []
readline.createInterface({ input: fake.stderr }).on('line', line => {
  fakeStderr.push(line)
  if (fakeStderr.length > 200) fakeStderr.shift()
  if (/panick|error|failed/i.test(line) && !process.env.FAKE_WHATSAPP_DEBUG) error('fake', 'stderr', line)
})
fake.on('exit', (code, signal) => {
  if (!stopping) { error('fake', 'exited', `code ${code} signal ${signal}`); finish(1) }
})
const { url, root, control } = await new Promise((resolve, reject) => {
  const got = {}
  const timer = setTimeout(() => reject(new Error('the fake printed no url/root/control within 20 s')), 20000)
  readline.createInterface({ input: fake.stdout }).on('line', line => {
    const [k, v] = line.split(' ', 2)
    if (['url', 'root', 'control'].includes(k) && !got[k]) got[k] = v
    if (got.url && got.root && got.control) { clearTimeout(timer); resolve(got) }
  })
})
// What tests/fidelity/patch-root.mjs does, at run time: trust the fake's root key.
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root, 'hex')
log(`fake pid ${fakePid} at ${url}, control ${control}; ${N} clients, ${opts.seconds} s, tmp ${tmp}`)
sStart = sample('start')

async function api (method, route, body) {
  const res = await fetch(control + route, {
    method,
    headers: body === undefined || typeof body === 'string' ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${route} → ${res.status} ${text}`)
  try { return JSON.parse(text) } catch { return text }
}

// ---------------------------------------------------------------------------------------------
// Clients: client i is account 1666000iiii (lid 2666000iiii); its contact is 1777000iiii (lid
// 2777000iiii), one contact per client so every conversation is its own Signal session pair and
// every check can be attributed to exactly one client.
const clients = clientList
for (let i = 0; i < N; i++) {
  clients.push({
    i,
    user: `1666000${pad(i)}`,
    lid: `2666000${pad(i)}`,
    contact: `1777000${pad(i)}`,
    contactLid: `2777000${pad(i)}`,
    dir: path.join(tmp, `auth-${pad(i)}`),
    sock: null,
    open: false,
    scanned: false,
    restarts: 0,
    closes: 0,
    sent: new Map(), // id → { text, at, deliveredAt, replied }
    sendsInFlight: 0,
    skipped: 0,
    statuses: new Map(), // id → max status seen (may precede sendMessage resolving)
    replies: [], // { text, at, id }
    upserts: new Map(), // id → [{ text, chat, chatAlt, at }]
    otherUpserts: 0
  })
}
for (const c of clients) {
  await api('POST', '/accounts', { user: c.user, lid: c.lid, name: `Soak ${c.i}` })
  await api('POST', '/accounts', { user: c.contact, lid: c.contactLid, name: `Contact ${c.i}` })
}
log(`created ${2 * N} accounts`)

function connect (c) {
  const logger = opts.log
    ? pino({ level: opts.log }, pino.destination({ dest: path.join(logDir, `client-${pad(c.i)}.log`), sync: false }))
    : pino({ level: 'silent' })
  const sock = makeWASocket({
    auth: c.state,
    waWebSocketUrl: url,
    logger,
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    syncFullHistory: false
  })
  c.sock = sock
  sock.ev.on('creds.update', c.saveCreds)
  sock.ev.on('connection.update', update => {
    if (update.qr && !c.scanned) {
      c.scanned = true
      api('POST', `/scan?account=${c.user}`, update.qr).catch(e => error(c.i, 'scan', e.message))
    }
    if (update.connection === 'open') {
      c.open = true
      c.onOpen?.()
    }
    if (update.connection === 'close') {
      c.open = false
      const code = update.lastDisconnect?.error?.output?.statusCode
      if (stopping) return
      if (code === DisconnectReason.restartRequired) {
        c.restarts++
        if (c.restarts > 1) error(c.i, 'close', `a second restartRequired (515)`)
        connect(c)
        return
      }
      c.closes++
      error(c.i, 'close', `connection closed with ${code}: ${update.lastDisconnect?.error?.message}`)
      if (code !== DisconnectReason.loggedOut && c.closes < 5) setTimeout(() => connect(c), 1000)
    }
  })
  sock.ev.on('messages.upsert', ({ messages }) => {
    const at = Date.now()
    for (const m of messages) {
      if (m.key.fromMe) {
        if (m.status !== undefined && m.status !== null) noteStatus(c, m.key.id, m.status)
        continue
      }
      const text = textOf(m.message)
      if (text === null) { c.otherUpserts++; continue }
      const list = c.upserts.get(m.key.id) ?? []
      list.push({ text, chat: m.key.remoteJid, chatAlt: m.key.remoteJidAlt ?? null, at })
      c.upserts.set(m.key.id, list)
    }
  })
  sock.ev.on('messages.update', updates => {
    for (const { key, update } of updates) {
      if (key.fromMe && update.status !== undefined && update.status !== null) noteStatus(c, key.id, update.status)
    }
  })
}

function noteStatus (c, id, status) {
  if (status > (c.statuses.get(id) ?? -1)) c.statuses.set(id, status)
  const rec = c.sent.get(id)
  if (rec && status >= DELIVERY_ACK) delivered(c, id, rec)
}

// The contact's phone decrypted the text (that is what the DELIVERY_ACK means): it answers.
function delivered (c, id, rec) {
  if (rec.replied) return
  rec.replied = true
  rec.deliveredAt = Date.now()
  const text = `reply ${c.i}#${rec.seq} ← ${c.contact} ✓`
  const reply = { text, at: Date.now(), id: null }
  c.replies.push(reply)
  api('POST', `/accounts/${c.contact}/send`, { to: c.user, text })
    .then(r => { reply.id = r.id })
    .catch(e => error(c.i, 'reply', e.message))
}

// --auth memory: the same keys, kept in a Map instead of one JSON file per key (pairing uploads
// 812 pre-keys, i.e. 812 files per client with the default useMultiFileAuthState).
function memoryAuthState () {
  const store = new Map()
  return {
    state: {
      creds: initAuthCreds(),
      keys: {
        get: async (type, ids) => Object.fromEntries(ids.map(id => [id, store.get(`${type}-${id}`)])),
        set: async data => {
          for (const type in data) {
            for (const id in data[type]) {
              const v = data[type][id]
              if (v) store.set(`${type}-${id}`, v); else store.delete(`${type}-${id}`)
            }
          }
        }
      }
    },
    saveCreds: async () => {}
  }
}

async function pair (c) {
  const { state, saveCreds } = opts.auth === 'memory' ? memoryAuthState() : await useMultiFileAuthState(c.dir)
  c.state = state
  c.saveCreds = saveCreds
  const started = Date.now()
  await new Promise(resolve => {
    const timer = setTimeout(() => { error(c.i, 'pairing', 'not open within 120 s'); resolve() }, 120000)
    c.onOpen = () => { clearTimeout(timer); c.onOpen = null; resolve() }
    connect(c)
  })
  c.pairMs = Date.now() - started
}

// ---------------------------------------------------------------------------------------------
// Phase 1: pairing, opts.batch at a time
const elDelay = monitorEventLoopDelay({ resolution: 20 })
elDelay.enable()
const pairStart = Date.now()
{
  let next = 0
  let done = 0
  const worker = async () => {
    while (next < N) {
      const c = clients[next++]
      await pair(c)
      if (++done % Math.max(1, Math.floor(N / 10)) === 0 || done === N) log(`paired ${done}/${N}`)
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.batch, N) }, worker))
}
pairSeconds = (Date.now() - pairStart) / 1000
openCount = clients.filter(c => c.open).length
log(`pairing done in ${pairSeconds.toFixed(1)} s: ${openCount}/${N} open`)
pairEl = { p50: elDelay.percentile(50) / 1e6, p99: elDelay.percentile(99) / 1e6, max: elDelay.max / 1e6 }
// Let the post-login traffic (pre-key upload, history sync, app-state queries) settle.
await sleep(3000)
sPaired = sample('after pairing')

// ---------------------------------------------------------------------------------------------
// Phase 2: messages
elDelay.reset()
const msgStart = Date.now()
const msgEnd = msgStart + opts.seconds * 1000
const period = 1000 / opts.rate
const nodeCpu0 = process.cpuUsage()
let sendTimers = []
async function sendOne (c, seq) {
  if (!c.open) { c.skipped++; return }
  if (c.sendsInFlight >= 10) { c.skipped++; return }
  c.sendsInFlight++
  const text = `soak ${c.i}#${seq} → ${c.contact} ✓ ünïcödé`
  const at = Date.now()
  // A send slower than 30 s is an error, but it is still followed through (counted once).
  const slow = setTimeout(() => error(c.i, 'send', `sendMessage of #${seq} has not resolved after 30 s`), 30000)
  try {
    const msg = await c.sock.sendMessage(`${c.contact}@s.whatsapp.net`, { text })
    const rec = { text, seq, at, sentAt: Date.now(), deliveredAt: null, replied: false }
    c.sent.set(msg.key.id, rec)
    if ((c.statuses.get(msg.key.id) ?? -1) >= DELIVERY_ACK) delivered(c, msg.key.id, rec)
  } catch (e) {
    error(c.i, 'send', e?.message ?? e)
  } finally {
    clearTimeout(slow)
    c.sendsInFlight--
  }
}
for (const c of clients) {
  let seq = 0
  const tick = () => {
    if (Date.now() >= msgEnd) return
    sendOne(c, seq++)
    sendTimers.push(setTimeout(tick, period))
  }
  sendTimers.push(setTimeout(tick, Math.random() * period))
}
const sampler = setInterval(() => {
  const s = sample(`msg +${((Date.now() - msgStart) / 1000).toFixed(0)} s`)
  const sent = clients.reduce((n, c) => n + c.sent.size, 0)
  const got = clients.reduce((n, c) => n + c.upserts.size, 0)
  log(`sent ${sent}, replies received ${got}; fake cpu ${s.fake.cpu.toFixed(1)} s rss ${s.fake.rssMb.toFixed(0)} MB; node rss ${s.node.rssMb.toFixed(0)} MB`)
}, 10000)
await sleep(msgEnd - Date.now())
sendTimers.forEach(clearTimeout)
clearInterval(sampler)
sMsgEnd = sample('message window end')
nodeCpuMsg = process.cpuUsage(nodeCpu0)
msgEl = { p50: elDelay.percentile(50) / 1e6, p99: elDelay.percentile(99) / 1e6, max: elDelay.max / 1e6 }
msgSeconds = (Date.now() - msgStart) / 1000
log(`message window over after ${msgSeconds.toFixed(1)} s; draining`)

// ---------------------------------------------------------------------------------------------
// Phase 3: drain and verify
const complete = () => clients.every(c =>
  c.sendsInFlight === 0 &&
  [...c.sent.values()].every(r => r.replied) &&
  c.replies.every(r => r.id !== null && c.upserts.has(r.id)))
const drainStart = Date.now()
while (!complete() && Date.now() - drainStart < opts.drain * 1000) await sleep(500)
await sleep(1500) // late duplicates, if any, would show up here
drainSeconds = (Date.now() - drainStart) / 1000

for (const c of clients) {
  skipped += c.skipped
  textsSent += c.sent.size
  // 1. every client text decrypted exactly once, exactly, by the contact's phone; nothing else
  const received = await api('GET', `/accounts/${c.contact}/received`)
  const byId = new Map()
  for (const r of received) byId.set(r.id, [...(byId.get(r.id) ?? []), r])
  for (const [id, rec] of c.sent) {
    const got = byId.get(id) ?? []
    if (got.length !== 1) { error(c.i, 'contact-received', `${id}: ${got.length} copies`); continue }
    const r = got[0]
    if (r.text !== rec.text || r.error) error(c.i, 'contact-received', `${id}: ${JSON.stringify(r)} expected ${JSON.stringify(rec.text)}`)
    else if (![c.user, c.lid].includes(userOf(r.from))) error(c.i, 'contact-received', `${id} from ${r.from}`)
    else textsDecrypted++
  }
  for (const [id, rs] of byId) if (!c.sent.has(id)) error(c.i, 'contact-received', `unexpected ${id}: ${JSON.stringify(rs)}`)
  // 1b. and the client's own phone got exactly one deviceSentMessage copy naming the chat
  const own = await api('GET', `/accounts/${c.user}/received`)
  const ownById = new Map()
  for (const r of own) ownById.set(r.id, [...(ownById.get(r.id) ?? []), r])
  for (const [id, rec] of c.sent) {
    const got = ownById.get(id) ?? []
    if (got.length !== 1) error(c.i, 'own-copy', `${id}: ${got.length} copies`)
    else if (got[0].text !== rec.text || got[0].error || userOf(got[0].sent_to) !== c.contact) error(c.i, 'own-copy', `${id}: ${JSON.stringify(got[0])}`)
    else ownCopies++
  }
  for (const [id, rs] of ownById) if (!c.sent.has(id) && rs.some(r => r.text !== null || r.error)) error(c.i, 'own-copy', `unexpected ${id}: ${JSON.stringify(rs)}`)
  // 2. every client text got DELIVERY_ACK
  for (const [id, rec] of c.sent) {
    const st = c.statuses.get(id) ?? -1
    if (st >= DELIVERY_ACK) { acks++; if (rec.deliveredAt) deliverLat.push(rec.deliveredAt - rec.at) } else error(c.i, 'status', `${id}: best status ${statusName(st)}`)
  }
  // 3. every reply arrived exactly once, exactly, from the right chat; nothing else arrived
  const expected = new Set()
  for (const r of c.replies) {
    repliesSent++
    if (r.id === null) { error(c.i, 'reply', `never got an id for ${JSON.stringify(r.text)}`); continue }
    expected.add(r.id)
    const got = c.upserts.get(r.id) ?? []
    if (got.length !== 1) { error(c.i, 'reply-upsert', `${r.id}: ${got.length} upserts`); continue }
    const u = got[0]
    const chats = [u.chat, u.chatAlt].map(userOf)
    if (u.text !== r.text) error(c.i, 'reply-upsert', `${r.id}: ${JSON.stringify(u.text)} expected ${JSON.stringify(r.text)}`)
    else if (!chats.includes(c.contact) && !chats.includes(c.contactLid)) error(c.i, 'reply-upsert', `${r.id} in chat ${u.chat}/${u.chatAlt}`)
    else { repliesReceived++; replyLat.push(u.at - r.at) }
  }
  for (const [id, us] of c.upserts) if (!expected.has(id)) error(c.i, 'reply-upsert', `unexpected ${id}: ${JSON.stringify(us)}`)
  if (c.otherUpserts) log(`client ${c.i}: ${c.otherUpserts} non-text upserts (ignored)`)
}
// The fake keeps the last 50,000 decrypted messages (state.rs LOG_CAP); each text is two of them
// (the contact's copy and the sender's own phone's copy), so bigger runs cannot be verified.
if (2 * textsSent > 50000) log('WARNING: more messages than the fake keeps in /received (50,000): expect false "missing" errors')
stats = await api('GET', '/stats')
if (stats.decrypt_failures) error('fake', 'stats', `decrypt_failures ${stats.decrypt_failures}`)
if (stats.nacks) error('fake', 'stats', `nacks ${stats.nacks}`)
sEnd = sample('end')
finish(errors.length ? 1 : 0)

// ---------------------------------------------------------------------------------------------
function finish (code) {
  if (stopping) return
  stopping = true
  if (sEnd) report()
  else for (const s of samples) console.log(`  sample ${s.label}: fake cpu ${s.fake.cpu.toFixed(2)} s rss ${s.fake.rssMb.toFixed(1)} MB; node rss ${s.node.rssMb.toFixed(0)} MB`)
  if (errors.length) {
    const kinds = {}
    for (const e of errors) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1
    console.log(`errors by kind: ${JSON.stringify(kinds)}`)
    for (const e of errors.slice(0, 20)) console.log(`  client ${e.client} ${e.kind}: ${e.detail}`)
    if (fakeStderr.length) console.log(`fake stderr (last lines):\n  ${fakeStderr.slice(-20).join('\n  ')}`)
  }
  for (const c of clientList) { try { c.sock?.end(undefined) } catch {} }
  fake.kill('SIGTERM')
  setTimeout(() => {
    if (opts.log) {
      console.log(`Baileys logs kept in ${logDir}`)
      for (const f of fs.readdirSync(tmp)) if (f !== 'logs') fs.rmSync(path.join(tmp, f), { recursive: true, force: true })
    } else {
      fs.rmSync(tmp, { recursive: true, force: true })
    }
    process.exit(code)
  }, 500)
}

function report () {
  const pf = (a, b) => b.fake.cpu - a.fake.cpu
  const peakFake = Math.max(...samples.map(s => s.fake.hwmMb))
  const peakNodeRss = Math.max(...samples.map(s => s.node.rssMb))
  const nodeCpuSec = (nodeCpuMsg.user + nodeCpuMsg.system) / 1e6
  const ms = x => `${x.toFixed(0)} ms`
  const rows = [
    ['clients (open / asked)', `${openCount} / ${N} (auth ${opts.auth}, ${opts.rate} text/s each)`],
    ['pairing (batch ' + opts.batch + ')', `${pairSeconds.toFixed(1)} s; per client p50 ${ms(quantile(clients.map(c => c.pairMs ?? NaN), 0.5) || 0)}, max ${ms(Math.max(...clients.map(c => c.pairMs ?? 0)))}`],
    ['fake CPU during pairing', `${pf(sStart, sPaired).toFixed(2)} s`],
    ['message window', `${msgSeconds.toFixed(1)} s (+ drain ${drainSeconds.toFixed(1)} s)`],
    ['client → contact texts', `${textsSent} sent, ${textsDecrypted} decrypted exactly by the contact, ${ownCopies} own-phone copies, ${acks} DELIVERY_ACK (skipped ticks ${skipped})`],
    ['contact → client replies', `${repliesSent} sent, ${repliesReceived} received exactly once`],
    ['msg/s (both ways, window)', `${((textsSent + repliesSent) / msgSeconds).toFixed(1)} (texts/s per client: asked ${opts.rate}, achieved ${(textsSent / msgSeconds / Math.max(1, openCount)).toFixed(2)})`],
    ['latency send → DELIVERY_ACK', `p50 ${ms(quantile(deliverLat, 0.5))}, p95 ${ms(quantile(deliverLat, 0.95))}, max ${ms(Math.max(0, ...deliverLat))}`],
    ['latency reply POST → upsert', `p50 ${ms(quantile(replyLat, 0.5))}, p95 ${ms(quantile(replyLat, 0.95))}, max ${ms(Math.max(0, ...replyLat))}`],
    ['ERRORS', `${errors.length}`],
    ['fake CPU, message window', `${pf(sPaired, sMsgEnd).toFixed(2)} s = ${(100 * pf(sPaired, sMsgEnd) / ((sMsgEnd.t - sPaired.t))).toFixed(1)} % of one core (over ${(sMsgEnd.t - sPaired.t).toFixed(1)} s)`],
    ['fake CPU, whole run', `${pf(sStart, sEnd).toFixed(2)} s`],
    ['fake RSS start / paired / end', `${sStart.fake.rssMb.toFixed(1)} / ${sPaired.fake.rssMb.toFixed(1)} / ${sEnd.fake.rssMb.toFixed(1)} MB`],
    ['fake RSS peak (VmHWM)', `${peakFake.toFixed(1)} MB; threads ${sEnd.fake.threads}`],
    ['node CPU, message window', `${nodeCpuSec.toFixed(2)} s = ${(100 * nodeCpuSec / msgSeconds).toFixed(1)} % of one core`],
    ['node RSS paired / end / peak', `${sPaired.node.rssMb.toFixed(0)} / ${sEnd.node.rssMb.toFixed(0)} / ${peakNodeRss.toFixed(0)} MB`],
    ['node event-loop delay', `pairing p50 ${ms(pairEl.p50)} p99 ${ms(pairEl.p99)} max ${ms(pairEl.max)}; messages p50 ${ms(msgEl.p50)} p99 ${ms(msgEl.p99)} max ${ms(msgEl.max)}`],
    ['fake /stats', JSON.stringify(stats)],
    ['libsignal notes (not errors)', JSON.stringify(libsignalNotes)]
  ]
  const w = Math.max(...rows.map(r => r[0].length))
  console.log('\nsamples (t, fake cpu s, fake rss MB, fake hwm MB, node cpu s, node rss MB):')
  for (const s of samples) console.log(`  ${s.label.padEnd(20)} ${s.t.toFixed(1).padStart(7)} ${s.fake.cpu.toFixed(2).padStart(8)} ${s.fake.rssMb.toFixed(1).padStart(8)} ${s.fake.hwmMb.toFixed(1).padStart(8)} ${s.node.cpu.toFixed(2).padStart(8)} ${s.node.rssMb.toFixed(0).padStart(6)}`)
  console.log('\n=== fake-whatsapp soak ===')
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`)
}
