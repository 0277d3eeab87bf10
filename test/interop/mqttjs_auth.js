#!/usr/bin/env node
// Authentication checks for Moat driven by MQTT.js (npm package "mqtt",
// pinned in package.json / package-lock.json): a user name and password,
// or a JSON Web Token in the password field. Run by
// test/auth_interop_test.go.
//
// usage: node mqttjs_auth.js HOST PORT --protocol {4,5} --check {login,refused}
//                            --client-id ID [--username U] [--password P]
//                            [--topic T] [--want-code N] [--timeout SECONDS]
//
// login    connects with the credentials, subscribes to TOPIC at QoS 1 and
//          receives its own QoS 1 publish on it: the session the
//          credentials opened is usable.
// refused  connects with the credentials and expects the CONNACK to refuse
//          them with the connect return code (MQTT 3.1.1) or reason code
//          (MQTT 5) N.
//
// The program prints one JSON summary on stdout, in the format of
// mqttjs_check.js, and exits 0 when the check passed, 1 when it failed, 2
// on bad usage.
'use strict'

const mqtt = require('mqtt')
const mqttVersion = require('mqtt/package.json').version

class CheckFailed extends Error {}

function expect (cond, message) {
  if (!cond) throw new CheckFailed(message)
}

function usage (msg) {
  process.stderr.write('usage: mqttjs_auth.js HOST PORT --protocol {4,5} --check {login,refused} ' +
    `--client-id ID [--username U] [--password P] [--topic T] [--want-code N] [--timeout S]\n${msg}\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { topic: 'interop/auth/mqttjs', timeout: 15 }
  const pos = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--protocol') args.protocol = Number(val())
    else if (a === '--check') args.check = val()
    else if (a === '--client-id') args.clientId = val()
    else if (a === '--username') args.username = val()
    else if (a === '--password') args.password = val()
    else if (a === '--topic') args.topic = val()
    else if (a === '--want-code') args.wantCode = Number(val())
    else if (a === '--timeout') args.timeout = Number(val())
    else if (a.startsWith('--')) usage(`unknown flag ${a}`)
    else pos.push(a)
  }
  if (pos.length !== 2) usage('need HOST and PORT')
  args.host = pos[0]
  args.port = Number(pos[1])
  if (args.protocol !== 4 && args.protocol !== 5) usage('--protocol must be 4 or 5')
  if (!['login', 'refused'].includes(args.check)) usage('--check must be login or refused')
  if (!args.clientId) usage('--client-id is required')
  if (args.check === 'refused' && !Number.isInteger(args.wantCode)) usage('--check refused needs --want-code')
  return args
}

// withDeadline rejects when promise has not settled before the deadline.
function withDeadline (deadline, promise, what) {
  const left = deadline - Date.now()
  if (left <= 0) return Promise.reject(new CheckFailed(`deadline exceeded before ${what}`))
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out waiting for ${what}`)), left)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// attempt connects and settles with the outcome of the CONNACK:
// {connected: true, connack} or {connected: false, code, message}.
function attempt (args) {
  const opts = {
    host: args.host,
    port: args.port,
    protocol: 'mqtt',
    protocolVersion: args.protocol,
    clientId: args.clientId,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0, // reconnecting would hide broker refusals
    connectTimeout: 5000
  }
  if (args.username !== undefined) opts.username = args.username
  if (args.password !== undefined) opts.password = args.password
  if (args.protocol === 5) opts.properties = { sessionExpiryInterval: 0 }
  const client = mqtt.connect(opts)
  const outcome = new Promise((resolve) => {
    // A refusing CONNACK emits 'error' (with the code) before 'close'.
    client.once('connect', (connack) => resolve({ connected: true, connack }))
    client.once('error', (err) => resolve({ connected: false, code: err.code, message: err.message }))
    client.once('close', () => resolve({ connected: false, code: undefined, message: 'connection closed before CONNACK' }))
  })
  return { client, outcome: withDeadline(args.deadline, outcome, 'CONNACK') }
}

const checks = {
  async login (args) {
    const { client, outcome } = attempt(args)
    try {
      const r = await outcome
      expect(r.connected, `connection refused: code ${r.code}: ${r.message}`)
      const got = new Promise((resolve) => client.once('message', (topic, payload, packet) => resolve(packet)))
      const granted = await withDeadline(args.deadline, client.subscribeAsync(args.topic, { qos: 1 }), 'SUBACK')
      const codes = granted.map((g) => g.qos)
      expect(codes.length === 1 && codes[0] === 1, `SUBACK granted ${JSON.stringify(codes)}, want [1]`)
      const payload = `hello from ${args.clientId}`
      await withDeadline(args.deadline, client.publishAsync(args.topic, payload, { qos: 1 }), 'PUBACK')
      const m = await withDeadline(args.deadline, got, 'own publish')
      expect(m.topic === args.topic && m.payload.toString() === payload && m.qos === 1,
        `got ${m.payload} at QoS ${m.qos} on ${m.topic}, want ${payload} at QoS 1 on ${args.topic}`)
      await withDeadline(args.deadline, client.endAsync(), 'disconnect')
      return { sessionPresent: r.connack.sessionPresent, received: { topic: m.topic, payload: m.payload.toString(), qos: m.qos } }
    } finally {
      client.end(true)
    }
  },

  async refused (args) {
    const { client, outcome } = attempt(args)
    try {
      const r = await outcome
      expect(!r.connected, 'the broker accepted the connection')
      expect(r.code === args.wantCode, `CONNACK code ${r.code} (${r.message}), want ${args.wantCode}`)
      return { code: r.code, message: r.message }
    } finally {
      client.end(true)
    }
  }
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  args.deadline = Date.now() + args.timeout * 1000
  // A hard stop in case something hangs outside the deadline checks.
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ ok: false, error: 'watchdog: run hung' }) + '\n')
    process.stderr.write('FAIL: watchdog: run hung\n')
    process.exit(1)
  }, (args.timeout + 5) * 1000).unref()

  const summary = { peer: 'mqtt.js', peer_version: mqttVersion, node: process.version, protocol: args.protocol, checks: {}, ok: true }
  try {
    summary.checks[args.check] = { ok: true, detail: await checks[args.check](args) }
  } catch (err) {
    const kind = err instanceof CheckFailed ? '' : `${err.name}: `
    summary.checks[args.check] = { ok: false, error: `${kind}${err.message}` }
    summary.ok = false
    process.stderr.write(`FAIL ${args.check} (MQTT protocol ${args.protocol}): ${kind}${err.message}\n`)
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
  process.exitCode = summary.ok ? 0 : 1
}

main().catch((err) => {
  process.stderr.write(`FAIL: ${err.stack || err}\n`)
  process.exit(1)
})
