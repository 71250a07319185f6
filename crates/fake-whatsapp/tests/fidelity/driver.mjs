// What the Baileys driver scripts share: their environment, saved credentials, the line protocol
// on stdout, a clean exit and the socket options used against the fake.
// Env: FAKE_WA_URL (ws://…/ws/chat), FAKE_WA_AUTH_DIR (useMultiFileAuthState folder),
//      FAKE_WA_LOG (pino level, default silent; logs go to stderr), plus each script's own.
import makeWASocket, { useMultiFileAuthState } from '@whiskeysockets/baileys'
import pino from 'pino'

export async function driver (name, required = []) {
  const names = ['FAKE_WA_URL', 'FAKE_WA_AUTH_DIR', ...required]
  const missing = names.filter(n => !process.env[n])
  if (missing.length) {
    console.error(`${name}: ${names.join(', ')} are required (missing ${missing.join(', ')})`)
    process.exit(2)
  }
  const url = process.env.FAKE_WA_URL
  const { state, saveCreds } = await useMultiFileAuthState(process.env.FAKE_WA_AUTH_DIR)
  const logger = pino({ level: process.env.FAKE_WA_LOG || 'silent' }, pino.destination(2))
  // One event per line: `KIND` or `KIND payload` (strings as is, anything else as JSON).
  const say = (kind, payload) =>
    process.stdout.write(kind + (payload === undefined ? '' : ' ' + (typeof payload === 'string' ? payload : JSON.stringify(payload))) + '\n')
  // Exiting while useMultiFileAuthState is still writing creds.json would leave it truncated and
  // the next run would start unpaired; so write once more and give pending writes a moment.
  const quit = async code => {
    await saveCreds()
    setTimeout(() => process.exit(code), 300)
  }
  // A socket against the fake with the saved credentials, saving them on every change.
  const socket = () => {
    const sock = makeWASocket({
      auth: state,
      waWebSocketUrl: url,
      logger,
      printQRInTerminal: false,
      markOnlineOnConnect: false,
      syncFullHistory: false
    })
    sock.ev.on('creds.update', saveCreds)
    return sock
  }
  return { state, say, quit, socket }
}
