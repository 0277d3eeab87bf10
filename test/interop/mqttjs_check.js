#!/usr/bin/env node
// Interop checks for Moat driven by MQTT.js (npm package "mqtt", pinned in
// package.json / package-lock.json; install with `npm ci --prefix test/interop`
// or scripts/deps). Run by test/interop_mqttjs_test.go.
//
// usage: node mqttjs_check.js HOST PORT --protocol {4,5} [--check NAME ...]
//                             [--prefix TOPIC_PREFIX] [--timeout SECONDS]
//
// Every check connects its own clients and uses topics under the prefix, so
// several runs can share one broker. The program prints one JSON summary on
// stdout and exits 0 when every check passed, 1 when one failed (the reason
// is on stderr and in the summary), 2 on bad usage.
'use strict'

const crypto = require('crypto')
const mqtt = require('mqtt')
const mqttVersion = require('mqtt/package.json').version

const CHECKS = ['connect', 'qos', 'retain', 'will', 'properties', 'mixed']
const V5_ONLY = ['properties', 'mixed']
const RUN_ID = crypto.randomBytes(3).toString('hex')

class CheckFailed extends Error {}

function expect (cond, message) {
  if (!cond) throw new CheckFailed(message)
}

function usage (msg) {
  process.stderr.write(`usage: mqttjs_check.js HOST PORT --protocol {4,5} [--check NAME ...] [--prefix P] [--timeout S]\n${msg}\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const args = { checks: [], prefix: `interop/mqttjs/${RUN_ID}`, timeout: 15 }
  const pos = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--protocol') args.protocol = Number(val())
    else if (a === '--check') args.checks.push(val())
    else if (a === '--prefix') args.prefix = val()
    else if (a === '--timeout') args.timeout = Number(val())
    else if (a.startsWith('--')) usage(`unknown flag ${a}`)
    else pos.push(a)
  }
  if (pos.length !== 2) usage('need HOST and PORT')
  args.host = pos[0]
  args.port = Number(pos[1])
  if (args.protocol !== 4 && args.protocol !== 5) usage('--protocol must be 4 or 5')
  for (const c of args.checks) {
    if (!CHECKS.includes(c)) usage(`unknown check ${c}; known: ${CHECKS.join(', ')}`)
    if (V5_ONLY.includes(c) && args.protocol !== 5) usage(`check ${c} needs --protocol 5`)
  }
  if (args.checks.length === 0) {
    args.checks = CHECKS.filter((c) => args.protocol === 5 || !V5_ONLY.includes(c))
  }
  return args
}

// withDeadline rejects when promise has not settled before the run deadline.
function withDeadline (run, promise, what) {
  const left = run.deadline - Date.now()
  if (left <= 0) return Promise.reject(new CheckFailed(`run deadline exceeded before ${what}`))
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out waiting for ${what}`)), left)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Peer is one MQTT.js client whose incoming messages queue up for next().
class Peer {
  constructor (run, name, protocolVersion, extra) {
    this.run = run
    this.name = name
    this.queue = []
    this.waiters = []
    const opts = {
      host: run.host,
      port: run.port,
      protocol: 'mqtt',
      protocolVersion,
      clientId: name,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0, // reconnecting would hide broker failures
      connectTimeout: 5000,
      ...extra
    }
    if (protocolVersion === 5) opts.properties = { sessionExpiryInterval: 0, ...(extra && extra.properties) }
    this.client = mqtt.connect(opts)
    this.client.on('message', (topic, payload, packet) => {
      const w = this.waiters.shift()
      if (w) w(packet)
      else this.queue.push(packet)
    })
    this.connected = withDeadline(run, new Promise((resolve, reject) => {
      this.client.once('connect', resolve)
      this.client.once('error', (err) => reject(new CheckFailed(`${name}: connect: ${err.message}`)))
      this.client.once('close', () => reject(new CheckFailed(`${name}: connection closed before CONNACK`)))
    }), `${name} CONNACK`)
  }

  async subscribe (topic, qos) {
    const granted = await withDeadline(this.run, this.client.subscribeAsync(topic, { qos }), `${this.name} SUBACK for ${topic}`)
    const codes = granted.map((g) => g.qos)
    expect(codes.length === 1 && codes[0] === qos, `${this.name}: SUBACK for ${topic} granted ${JSON.stringify(codes)}, want [${qos}]`)
  }

  // publish resolves when the QoS flow completed (PUBACK / PUBCOMP).
  async publish (topic, payload, opts) {
    await withDeadline(this.run, this.client.publishAsync(topic, payload, opts), `${this.name} publish ${topic} acknowledgement`)
  }

  next (what) {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift())
    return withDeadline(this.run, new Promise((resolve) => this.waiters.push(resolve)), `${this.name}: ${what}`)
  }

  // stop disconnects normally: DISCONNECT, then close.
  async stop () {
    await withDeadline(this.run, this.client.endAsync(), `${this.name} disconnect`)
  }

  // drop closes the TCP connection abruptly (reset when the runtime can),
  // without a DISCONNECT packet.
  drop () {
    const s = this.client.stream
    if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy()
    else s.destroy()
  }
}

function describe (p) {
  return { topic: p.topic, payload: p.payload.toString(), qos: p.qos, retain: p.retain }
}

class Run {
  constructor (args, name, index) {
    this.index = index
    this.host = args.host
    this.port = args.port
    this.protocol = args.protocol
    this.prefix = `${args.prefix}/${name}`
    this.deadline = args.deadline
    this.peers = []
  }

  async peer (name, extra, protocolVersion) {
    // Client ids stay within the 23 bytes every server must accept [MQTT-3.1.3-5].
    const p = new Peer(this, `js-${RUN_ID}-${this.index}${name}`, protocolVersion || this.protocol, extra)
    this.peers.push(p)
    p.connack = await p.connected
    return p
  }

  topic (...parts) {
    return [this.prefix, ...parts].join('/')
  }

  close () {
    for (const p of this.peers) p.client.end(true)
  }
}

const checks = {
  async connect (run) {
    const p = await run.peer('connect')
    expect(p.connack.sessionPresent === false, `clean session CONNACK has session present = ${p.connack.sessionPresent}`)
    expect(!p.connack.reasonCode && !p.connack.returnCode, `CONNACK code ${p.connack.reasonCode || p.connack.returnCode}`)
    await p.stop()
    return { sessionPresent: p.connack.sessionPresent, properties: p.connack.properties || null }
  },

  async qos (run) {
    const filt = run.topic('qos', '+')
    const sub2 = await run.peer('sub2')
    await sub2.subscribe(filt, 2)
    const sub1 = await run.peer('sub1')
    await sub1.subscribe(filt, 1)
    const pub = await run.peer('pub')
    for (const q of [0, 1, 2]) await pub.publish(run.topic('qos', String(q)), `q${q}`, { qos: q })
    const out = {}
    for (const [sub, max] of [[sub2, 2], [sub1, 1]]) {
      const seen = {}
      for (let i = 0; i < 3; i++) {
        const m = await sub.next(`QoS messages on sub${max}`)
        seen[m.payload.toString()] = m
      }
      for (const q of [0, 1, 2]) {
        const m = seen[`q${q}`]
        expect(m, `sub${max} missed q${q}; got ${Object.keys(seen)}`)
        const want = Math.min(q, max) // [MQTT-3.8.4-6] delivered at min(pub, granted)
        expect(m.qos === want, `sub${max}: q${q} delivered at QoS ${m.qos}, want ${want}`)
        expect(!m.retain, `sub${max}: q${q} has retain set`)
        expect(m.topic === run.topic('qos', String(q)), `q${q} on topic ${m.topic}`)
      }
      out[`sub${max}`] = Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, v.qos]))
    }
    return out
  },

  async retain (run) {
    const t = run.topic('retain')
    const pub = await run.peer('pub')
    await pub.publish(t, 'kept', { qos: 1, retain: true })

    const late = await run.peer('late')
    await late.subscribe(t, 1)
    let m = await late.next('retained message')
    expect(m.payload.toString() === 'kept' && m.retain, `late subscriber got ${JSON.stringify(describe(m))}, want retained 'kept'`)
    expect(m.qos === 1, `retained message delivered at QoS ${m.qos}, want 1`)

    // An empty retained payload deletes the retained message; existing
    // subscribers still receive it as a normal message [MQTT-3.3.1-10].
    await pub.publish(t, '', { qos: 1, retain: true })
    m = await late.next('empty retained publish')
    expect(m.payload.length === 0 && !m.retain, `existing subscriber got ${JSON.stringify(describe(m))} for the delete, want empty, retain 0`)

    const after = await run.peer('after')
    await after.subscribe(t, 1)
    await pub.publish(t, 'live', { qos: 1 })
    m = await after.next('live message after delete')
    expect(m.payload.toString() === 'live' && !m.retain, `subscriber after delete got ${JSON.stringify(describe(m))} first, want live message (retained was deleted)`)
    m = await late.next('live message')
    expect(m.payload.toString() === 'live' && !m.retain, `existing subscriber got ${JSON.stringify(describe(m))}`)
    return { retained: 'kept', deleted: true }
  },

  async will (run) {
    const wt = run.topic('will', 'dropped')
    const nt = run.topic('will', 'clean')
    const willOf = (topic, payload) => {
      const will = { topic, payload: Buffer.from(payload), qos: 1, retain: false }
      if (run.protocol === 5) will.properties = { userProperties: { why: 'dropped' }, contentType: 'text/plain' }
      return { will }
    }
    const watcher = await run.peer('watcher')
    await watcher.subscribe(run.topic('will', '#'), 1)

    // A client that disconnects normally has its will discarded [MQTT-3.1.2-10].
    const clean = await run.peer('clean', willOf(nt, 'must-not-arrive'))
    await clean.stop()

    const victim = await run.peer('victim', willOf(wt, 'gone'))
    victim.drop()
    let m = await watcher.next('will message')
    expect(m.topic === wt && m.payload.toString() === 'gone', `watcher got ${JSON.stringify(describe(m))}, want will 'gone' on ${wt}`)
    expect(m.qos === 1 && !m.retain, `will delivered as ${JSON.stringify(describe(m))}`)
    const detail = { will: describe(m) }
    if (run.protocol === 5) {
      const props = m.properties || {}
      expect(JSON.stringify(props.userProperties) === JSON.stringify({ why: 'dropped' }), `will user properties ${JSON.stringify(props.userProperties)}`)
      expect(props.contentType === 'text/plain', `will content type ${props.contentType}`)
      detail.properties = props
    }

    // Fence: this marker follows the clean client's disconnect, so a wrongly
    // published will would most likely arrive before it.
    const marker = await run.peer('marker')
    await marker.publish(nt, 'marker', { qos: 1 })
    m = await watcher.next('marker')
    expect(m.payload.toString() === 'marker', `will of a normally disconnected client was published: ${JSON.stringify(describe(m))}`)
    return detail
  },

  async properties (run) {
    const reqT = run.topic('props', 'req')
    const respT = run.topic('props', 'resp')
    const responder = await run.peer('responder')
    await responder.subscribe(reqT, 1)
    const requester = await run.peer('requester')
    await requester.subscribe(respT, 1)

    const corr = Buffer.from([0x00, 0x63, 0x6f, 0x72, 0x72, 0xff])
    await requester.publish(reqT, '{"ask":1}', {
      qos: 1,
      properties: {
        // Duplicate keys become arrays; the wire order is k=v, k=v3, k2=v2.
        userProperties: { k: ['v', 'v3'], k2: 'v2' },
        contentType: 'application/json',
        responseTopic: respT,
        correlationData: corr,
        messageExpiryInterval: 60,
        payloadFormatIndicator: true
      }
    })
    const m = await responder.next('request with properties')
    const p = m.properties || {}
    const got = {
      user: p.userProperties,
      contentType: p.contentType,
      responseTopic: p.responseTopic,
      correlation: p.correlationData ? p.correlationData.toString('hex') : null,
      expiry: p.messageExpiryInterval,
      format: p.payloadFormatIndicator
    }
    // User properties keep their order and duplicates [MQTT-3.3.2-17], [MQTT-3.3.2-18].
    expect(JSON.stringify(got.user) === JSON.stringify({ k: ['v', 'v3'], k2: 'v2' }), `user properties ${JSON.stringify(got.user)}`)
    expect(got.contentType === 'application/json', `content type ${got.contentType}`)
    expect(got.responseTopic === respT, `response topic ${got.responseTopic}`)
    expect(got.correlation === corr.toString('hex'), `correlation data ${got.correlation}`)
    // The forwarded expiry is the remaining lifetime [MQTT-3.3.2-6].
    expect(got.expiry > 0 && got.expiry <= 60, `message expiry ${got.expiry}`)
    expect(got.format === true, `payload format indicator ${got.format}`)
    expect(m.payload.toString() === '{"ask":1}', `payload ${m.payload}`)

    // Answer on the response topic with the correlation data.
    await responder.publish(p.responseTopic, 'answer', { qos: 1, properties: { correlationData: p.correlationData } })
    const r = await requester.next('response')
    const rc = r.properties && r.properties.correlationData
    expect(r.topic === respT && r.payload.toString() === 'answer' && rc && rc.equals(corr),
      `response ${JSON.stringify(describe(r))} correlation ${rc && rc.toString('hex')}`)
    got.response = describe(r)
    return got
  },

  // A v5 publisher with properties and a v3.1.1 subscriber, and back.
  async mixed (run) {
    const t = run.topic('mixed')
    const old = await run.peer('v4', undefined, 4)
    await old.subscribe(t, 1)
    const v5 = await run.peer('v5', undefined, 5)
    await v5.subscribe(t, 1)
    await v5.publish(t, 'from-v5', { qos: 1, properties: { userProperties: { k: 'v' }, contentType: 'text/plain' } })
    for (const sub of [old, v5]) {
      const m = await sub.next('v5 publish')
      expect(m.payload.toString() === 'from-v5' && m.qos === 1, `${sub.name} got ${JSON.stringify(describe(m))}`)
    }
    await old.publish(t, 'from-v311', { qos: 1 })
    for (const sub of [old, v5]) {
      const m = await sub.next('v3.1.1 publish')
      expect(m.payload.toString() === 'from-v311' && m.qos === 1, `${sub.name} got ${JSON.stringify(describe(m))}`)
      if (sub === v5) {
        const ups = m.properties && m.properties.userProperties
        expect(!ups, `v3.1.1 message reached v5 subscriber with user properties ${JSON.stringify(ups)}`)
      }
    }
    return { ok: true }
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

  const summary = {
    peer: 'mqtt.js',
    peer_version: mqttVersion,
    node: process.version,
    protocol: args.protocol,
    prefix: args.prefix,
    checks: {},
    ok: true
  }
  for (const [index, name] of args.checks.entries()) {
    const run = new Run(args, name, index)
    try {
      summary.checks[name] = { ok: true, detail: await checks[name](run) }
    } catch (err) {
      const kind = err instanceof CheckFailed ? '' : `${err.name}: `
      summary.checks[name] = { ok: false, error: `${kind}${err.message}` }
      summary.ok = false
      process.stderr.write(`FAIL ${name} (MQTT protocol ${args.protocol}): ${kind}${err.message}\n`)
    } finally {
      run.close()
    }
  }
  process.stdout.write(JSON.stringify(summary) + '\n')
  process.exitCode = summary.ok ? 0 : 1
}

main().catch((err) => {
  process.stderr.write(`FAIL: ${err.stack || err}\n`)
  process.exit(1)
})
