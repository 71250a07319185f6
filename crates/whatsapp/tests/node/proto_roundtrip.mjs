// stdin: one case per line, "<Type> <hex>" (Type may be nested, e.g. "ClientPayload.UserAgent").
// stdout: one line per case, the hex of the bytes after Baileys' WAProto decoded and re-encoded them.
import { proto } from '@whiskeysockets/baileys/WAProto/index.js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l.trim() !== '');

const out = lines.map((line) => {
	const [type, hex = ''] = line.trim().split(' ');
	const T = type.split('.').reduce((o, k) => o?.[k], proto);
	if (!T) throw new Error(`Baileys' proto has no type ${type}`);
	const decoded = T.decode(Buffer.from(hex, 'hex'));
	return Buffer.from(T.encode(decoded).finish()).toString('hex');
});
process.stdout.write(out.join('\n') + '\n');
