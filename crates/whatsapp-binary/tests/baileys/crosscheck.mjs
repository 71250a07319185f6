// Baileys side of the binary-node cross-check; see README.md beside this file.
import { decodeBinaryNode, encodeBinaryNode } from '@whiskeysockets/baileys/lib/WABinary/index.js';

const unhex = (h) => Buffer.from(h, 'hex').toString('utf8');
const hex = (s) => Buffer.from(s, 'utf8').toString('hex');

function toBaileys(t) {
  const attrs = {};
  for (const [k, v] of t.attrs) attrs[unhex(k)] = unhex(v);
  let content;
  if (t.content === null) content = undefined;
  else if (Array.isArray(t.content)) content = t.content.map(toBaileys);
  else content = Buffer.from(t.content.b, 'hex');
  return { tag: unhex(t.tag), attrs, content };
}

function fromBaileys(node) {
  const attrs = Object.entries(node.attrs)
    .map(([k, v]) => [hex(k), hex(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let content = null;
  if (Array.isArray(node.content)) content = node.content.map(fromBaileys);
  else if (Buffer.isBuffer(node.content) || node.content instanceof Uint8Array)
    content = { b: Buffer.from(node.content).toString('hex') };
  else if (typeof node.content === 'string') content = { t: hex(node.content) };
  return { tag: hex(node.tag), attrs, content };
}

let input = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const c of JSON.parse(input)) {
  const decoded = fromBaileys(await decodeBinaryNode(Buffer.from(c.bytes, 'hex')));
  const encoded = encodeBinaryNode(toBaileys(c.tree)).toString('hex');
  out.push({ decoded, encoded });
}
process.stdout.write(JSON.stringify(out));
