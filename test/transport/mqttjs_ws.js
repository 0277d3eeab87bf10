#!/usr/bin/env node
// Publish/subscribe round trip through Moat over MQTT-over-WebSocket with
// MQTT.js (npm package "mqtt", installed under test/interop/node_modules by
// scripts/deps; run with NODE_PATH=test/interop/node_modules). Run by
// test/transport_mqttjs_test.go.
//
// usage: node mqttjs_ws.js [--ca FILE] [--timeout SECONDS] URL...
//
// URL is ws://HOST:PORT/PATH or wss://HOST:PORT/PATH; wss verifies the
// server certificate against --ca (host name included). For each URL and
// each protocol version (4 = MQTT 3.1.1, 5) a subscriber receives the QoS 1
// message a publisher sent; the checks are named "<scheme>-v<version>"
// (ws-v4, wss-v5, ...). The program prints one JSON summary line on stdout
// and exits 0 when every check passed, 1 when one failed, 2 on bad usage.
'use strict'

const crypto = require('crypto')
const fs = require('fs')
const mqtt = require('mqtt')
const mqttVersion = require('mqtt/package.json').version

const RUN_ID = crypto.randomBytes(3).toString('hex')

class CheckFailed extends Error {}

function usage (msg) {
  process.stderr.write(`usage: mqttjs_ws.js [--ca FILE] [--timeout S] URL...\n${msg}\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { urls: [], timeout: 15 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--ca') args.ca = fs.readFileSync(val())
    else if (a === '--timeout') args.timeout = Number(val())
    else if (a.startsWith('--')) usage(`unknown flag ${a}`)
    else args.urls.push(a)
  }
  if (args.urls.length === 0) usage('need at least one URL')
  for (const u of args.urls) {
    if (!u.startsWith('ws://') && !u.startsWith('wss://')) usage(`not a ws:// or wss:// URL: ${u}`)
  }
  return args
}

// withDeadline rejects when promise has not settled before deadline.
function withDeadline (deadline, promise, what) {
  const left = deadline - Date.now()
  if (left <= 0) return Promise.reject(new CheckFailed(`run deadline exceeded before ${what}`))
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out waiting for ${what}`)), left)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// connect opens one client and resolves on its CONNACK; an error or a
// close before it rejects (no reconnection, which would hide failures).
function connect (url, args, name, protocolVersion, deadline) {
  const client = mqtt.connect(url, {
    clientId: name,
    protocolVersion,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10000,
    ca: args.ca,
    rejectUnauthorized: true
  })
  const connected = new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client))
    client.once('error', (err) => reject(err))
    client.once('close', () => reject(new CheckFailed(`${name}: connection closed before CONNACK`)))
  })
  return withDeadline(deadline, connected, `${name} CONNACK`).catch((err) => {
    client.end(true)
    throw err
  })
}

async function roundtrip (url, args, version, deadline) {
  const tag = `${new URL(url).protocol.replace(':', '')}-v${version}`
  const topic = `transport/mqttjs/${RUN_ID}/${tag}`
  const payload = `MQTT.js over ${tag}`
  const clients = []
  try {
    const sub = await connect(url, args, `js-ws-sub-${tag}-${RUN_ID}`, version, deadline)
    clients.push(sub)
    const received = new Promise((resolve) => {
      sub.on('message', (t, p) => resolve({ topic: t, payload: p.toString() }))
    })
    const granted = await withDeadline(deadline, sub.subscribeAsync(topic, { qos: 1 }), 'SUBACK')
    if (granted.length !== 1 || granted[0].qos !== 1) {
      throw new CheckFailed(`SUBACK granted ${JSON.stringify(granted)}, want QoS 1`)
    }
    const pub = await connect(url, args, `js-ws-pub-${tag}-${RUN_ID}`, version, deadline)
    clients.push(pub)
    await withDeadline(deadline, pub.publishAsync(topic, payload, { qos: 1 }), 'PUBACK')
    const msg = await withDeadline(deadline, received, 'the message')
    if (msg.topic !== topic || msg.payload !== payload) {
      throw new CheckFailed(`subscriber got ${JSON.stringify(msg)}`)
    }
    return { url }
  } finally {
    for (const c of clients) c.end(true)
  }
}

async function main () {
  const args = parseArgs(process.argv.slice(2))
  const watchdog = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ok: false, error: 'watchdog: run hung' }) + '\n')
    process.exit(1)
  }, (args.timeout + 5) * 1000)
  const deadline = Date.now() + args.timeout * 1000
  const summary = { peer: 'mqtt.js', peer_version: mqttVersion, node: process.version, checks: {}, ok: true }
  for (const url of args.urls) {
    for (const version of [4, 5]) {
      const tag = `${new URL(url).protocol.replace(':', '')}-v${version}`
      try {
        summary.checks[tag] = { ok: true, detail: await roundtrip(url, args, version, deadline) }
      } catch (err) {
        const kind = err instanceof CheckFailed ? '' : `${err.name}: `
        summary.checks[tag] = { ok: false, error: `${kind}${err.message}` }
        summary.ok = false
        process.stderr.write(`FAIL ${tag}: ${kind}${err.message}\n`)
      }
    }
  }
  clearTimeout(watchdog)
  process.stdout.write(JSON.stringify(summary) + '\n')
  process.exitCode = summary.ok ? 0 : 1
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(err) }) + '\n')
  process.exit(1)
})
