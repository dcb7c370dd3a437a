// Drives an npm Baileys build against whatsapp-sim (issue 5 §8): shows the QR (one line
// "QR <string>" on stdout), restarts on 515, logs in, uploads prekeys, and answers every text
// with "echo: <text>", printing "OPEN", "MSG <id> <text>" and "SENT <id>" lines.
// Usage: node echo.mjs <ws_url> <auth_dir>, with NODE_PATH pointing at node_modules.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.BAILEYS_DIR ?? process.cwd(), 'package.json'));
const baileys = require('baileys');
const makeWASocket = baileys.default?.default ?? baileys.default ?? baileys.makeWASocket;
const { useMultiFileAuthState, DisconnectReason } = baileys;
const pino = require('pino');

const [url, authDir] = process.argv.slice(2);
const logger = pino({ level: process.env.BAILEYS_LOG ?? 'silent' }, pino.destination(2));

async function connect() {
	const { state, saveCreds } = await useMultiFileAuthState(authDir);
	const sock = makeWASocket({
		waWebSocketUrl: url,
		auth: state,
		logger,
		printQRInTerminal: false,
		markOnlineOnConnect: false,
		syncFullHistory: false,
		shouldSyncHistoryMessage: () => false,
		fireInitQueries: true
	});
	sock.ev.on('creds.update', saveCreds);
	sock.ev.on('connection.update', update => {
		if (update.qr) console.log(`QR ${update.qr}`);
		if (update.connection === 'open') console.log('OPEN');
		if (update.connection === 'close') {
			const code = update.lastDisconnect?.error?.output?.statusCode;
			console.log(`CLOSE ${code}`);
			if (code === DisconnectReason.restartRequired || code === 515) {
				connect();
			} else {
				process.exit(code === DisconnectReason.loggedOut ? 3 : 2);
			}
		}
	});
	sock.ev.on('messages.upsert', async ({ messages, type }) => {
		for (const m of messages) {
			if (m.key.fromMe) continue;
			const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text;
			if (!text) continue;
			console.log(`MSG ${m.key.id} ${text}`);
			const sent = await sock.sendMessage(m.key.remoteJid, { text: `echo: ${text}` });
			console.log(`SENT ${sent.key.id}`);
		}
	});
}

connect().catch(error => {
	console.error(error);
	process.exit(1);
});
