#!/usr/bin/env node
// A closed-loop OCPP load generator on raw WebSockets, for bench/ocpp_versus.py.
//
// No OCPP library: frames are built with JSON.stringify and replies read with JSON.parse, so the
// generator costs far less per message than any server it measures. Each station is its own
// socket; it connects (HTTP Basic auth when --password is given), boots until Accepted, and for
// the meter kind starts a transaction. Then, once every station of every process is ready, the
// measured phase: each station sends --messages CALLs of one kind, the next one as soon as the
// reply is in (closed loop), or at --rate CALLs a second (paced, for latency at light load).
// Afterwards transactions are stopped and the sockets closed, outside the measurement.
//
//     node bench/node/generator.js --url ws://127.0.0.1:9000/ocpp --version 2.0.1 \
//         --kind status --stations 200 --messages 50 --processes 2 --password secret...
//
// Stdout carries JSON lines: {"event":"go"} when the measured phase starts, {"event":"done"} when
// the last reply is in, then {"event":"result", ...} with the counts, msg/s and latencies. The
// orchestrator reads the first two to sample CPU over exactly the measured window; with
// --sync-stdin yes the generator then waits for a line on stdin before it stops transactions and
// closes sockets, so that work stays out of the orchestrator's sample. Exit code 0
// when every answer was right, 1 otherwise (the result line says why), 2 on bad arguments.
//
// --processes K forks K workers that split the stations, so one busy Node process never limits
// what is measured; the parent only coordinates them and adds up what they report.

'use strict';

const { fork } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');

const CALL = 2;
const CALLRESULT = 3;
const CALLERROR = 4;
const KINDS = ['heartbeat', 'status', 'meter'];
const VERSIONS = { '1.6': 'ocpp1.6', '2.0.1': 'ocpp2.0.1' };
const STATUS_CYCLE = {
    // Each StatusNotification changes the connector's status, so no server can skip the write.
    '1.6': ['Available', 'Preparing', 'Charging', 'Finishing'],
    '2.0.1': ['Available', 'Occupied'],
};

// -- arguments ----------------------------------------------------------------------------------

function parseArgs(argv) {
    const args = {
        url: '',
        version: '1.6',
        kind: 'heartbeat',
        stations: 200,
        messages: 50,
        processes: 1,
        rate: 0, // CALLs a second per station; 0: closed loop
        password: '',
        prefix: 'VS-',
        idTag: 'BENCH-', // + the station's number: one token per station, as one per driver
        syncStdin: 'no', // 'yes': after "done", wait for a line on stdin before closing
        timeout: 10, // seconds for a reply (and a handshake)
        bootDeadline: 120, // seconds for every station to connect and be Accepted
        connectConcurrency: 50, // handshakes in flight per process
        worker: -1, // set on the forked workers only
    };
    for (let i = 2; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
        if (!(name in args)) usage(`unknown option ${argv[i]}`);
        const value = argv[i + 1];
        if (value === undefined) usage(`${argv[i]} needs a value`);
        args[name] = typeof args[name] === 'number' ? Number(value) : value;
        if (Number.isNaN(args[name])) usage(`${argv[i]} must be a number`);
    }
    if (!args.url) usage('--url is required');
    if (!(args.version in VERSIONS)) usage(`--version must be one of ${Object.keys(VERSIONS)}`);
    if (!KINDS.includes(args.kind)) usage(`--kind must be one of ${KINDS}`);
    if (args.stations < 1 || args.messages < 1 || args.processes < 1 || args.rate < 0) {
        usage('--stations, --messages and --processes must be at least 1, --rate at least 0');
    }
    args.processes = Math.min(args.processes, args.stations);
    return args;
}

function usage(problem) {
    console.error(`generator.js: ${problem}`);
    process.exit(2);
}

// -- the frames ---------------------------------------------------------------------------------

const now = () => new Date().toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ

const POWER_W = 7210; // the Power.Active.Import the samples report

function sampledValues16(wh) {
    return [
        { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
        { value: String(POWER_W), measurand: 'Power.Active.Import', unit: 'W' },
        { value: '31.4', measurand: 'Current.Import', unit: 'A', phase: 'L1' },
        { value: '229.6', measurand: 'Voltage', unit: 'V', phase: 'L1-N' },
    ];
}

function sampledValues201(wh) {
    return [
        { value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } },
        { value: POWER_W, measurand: 'Power.Active.Import', unitOfMeasure: { unit: 'W' } },
        { value: 31.4, measurand: 'Current.Import', unitOfMeasure: { unit: 'A' }, phase: 'L1' },
        { value: 229.6, measurand: 'Voltage', unitOfMeasure: { unit: 'V' }, phase: 'L1-N' },
    ];
}

// What a station sends, per version: [action, payload] for each step, and the check of its reply
// (null when the reply is right, else why not).
const PLAYBOOK = {
    '1.6': {
        boot: () => ['BootNotification', { chargePointVendor: 'silkcharge-bench', chargePointModel: 'versus' }],
        heartbeat: () => ['Heartbeat', {}],
        status: (s) => [
            'StatusNotification',
            { connectorId: 1, errorCode: 'NoError', status: s.nextStatus(), timestamp: now() },
        ],
        start: (s) => [
            'StartTransaction',
            { connectorId: 1, idTag: s.idTag, meterStart: s.wh, timestamp: now() },
        ],
        meter: (s) => [
            'MeterValues',
            {
                connectorId: 1,
                transactionId: s.transactionId,
                meterValue: [{ timestamp: now(), sampledValue: sampledValues16(s.addEnergy()) }],
            },
        ],
        stop: (s) => [
            'StopTransaction',
            { transactionId: s.transactionId, meterStop: s.wh, timestamp: now(), reason: 'Local' },
        ],
    },
    '2.0.1': {
        boot: () => [
            'BootNotification',
            { reason: 'PowerUp', chargingStation: { vendorName: 'silkcharge-bench', model: 'versus' } },
        ],
        heartbeat: () => ['Heartbeat', {}],
        status: (s) => [
            'StatusNotification',
            { timestamp: now(), connectorStatus: s.nextStatus(), evseId: 1, connectorId: 1 },
        ],
        start: (s) => [
            'TransactionEvent',
            {
                eventType: 'Started',
                timestamp: now(),
                triggerReason: 'Authorized',
                seqNo: s.nextSeqNo(),
                transactionInfo: { transactionId: s.transactionId, chargingState: 'Charging' },
                idToken: { idToken: s.idTag, type: 'ISO14443' },
                evse: { id: 1, connectorId: 1 },
                meterValue: [{ timestamp: now(), sampledValue: sampledValues201(s.wh).slice(0, 1) }],
            },
        ],
        // The "MeterValues during a transaction" for 2.0.1: TransactionEvent Updated with
        // the meter values, as a 2.0.1 station sends them while it charges.
        meter: (s) => [
            'TransactionEvent',
            {
                eventType: 'Updated',
                timestamp: now(),
                triggerReason: 'MeterValuePeriodic',
                seqNo: s.nextSeqNo(),
                transactionInfo: { transactionId: s.transactionId, chargingState: 'Charging' },
                meterValue: [{ timestamp: now(), sampledValue: sampledValues201(s.addEnergy()) }],
            },
        ],
        stop: (s) => [
            'TransactionEvent',
            {
                eventType: 'Ended',
                timestamp: now(),
                triggerReason: 'StopAuthorized',
                seqNo: s.nextSeqNo(),
                transactionInfo: { transactionId: s.transactionId, stoppedReason: 'Local' },
                meterValue: [{ timestamp: now(), sampledValue: sampledValues201(s.wh).slice(0, 1) }],
            },
        ],
    },
};

const isObject = (value) => value !== null && typeof value === 'object' && !Array.isArray(value);

function checkReply(action, payload) {
    if (!isObject(payload)) return `${action}: reply payload is not an object`;
    switch (action) {
        case 'Heartbeat':
            return typeof payload.currentTime === 'string' ? null : 'Heartbeat: no currentTime';
        case 'StartTransaction':
            if (!Number.isInteger(payload.transactionId)) return 'StartTransaction: no integer transactionId';
            return payload.idTagInfo?.status === 'Accepted'
                ? null
                : `StartTransaction: idTag ${payload.idTagInfo?.status ?? 'without status'}`;
        case 'TransactionEvent':
            // A token in the event is answered with its status; it must be Accepted.
            if ('idTokenInfo' in payload && payload.idTokenInfo?.status !== 'Accepted') {
                return `TransactionEvent: idToken ${payload.idTokenInfo?.status}`;
            }
            return null;
        default:
            return null; // StatusNotification, MeterValues: {} is the answer
    }
}

// -- one station ----------------------------------------------------------------------------------

class Station {
    constructor(id, index, args, tally) {
        this.id = id;
        this.args = args;
        this.tally = tally;
        this.book = PLAYBOOK[args.version];
        this.idTag = `${args.idTag}${String(index + 1).padStart(String(args.stations).length, '0')}`;
        this.wh = 1000;
        this.whSince = undefined; // when the register read this.wh's start (the first reading)
        this.seqNo = 0;
        this.statusAt = index; // stations start at different points of the status cycle
        this.transactionId = undefined;
        this.nextMessage = 1;
        this.waiting = null; // {id, action, resolve, timer, sentAt}
        this.ws = null;
    }

    nextStatus() {
        const cycle = STATUS_CYCLE[this.args.version];
        return cycle[this.statusAt++ % cycle.length];
    }

    nextSeqNo() {
        return this.seqNo++;
    }

    // The energy register as a car charging at the 7,210 W the samples report would read it:
    // whole Wh, as the time since the first reading allows. A register that climbed faster
    // (an earlier version added 17 Wh a message, 1.5 MW at 25 messages a second) is one a
    // CSMS rightly flags as beyond what the connector can deliver, and recording that flag
    // is another write per message, which no real station's readings would cost.
    addEnergy() {
        const at = Date.now();
        if (this.whSince === undefined) this.whSince = { at, wh: this.wh };
        this.wh = this.whSince.wh + Math.floor(((at - this.whSince.at) / 3.6e6) * POWER_W);
        return this.wh;
    }

    connect() {
        const headers = {};
        if (this.args.password) {
            const secret = Buffer.from(`${this.id}:${this.args.password}`).toString('base64');
            headers.Authorization = `Basic ${secret}`;
        }
        const url = `${this.args.url.replace(/\/$/, '')}/${encodeURIComponent(this.id)}`;
        const subprotocol = VERSIONS[this.args.version];
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(url, [subprotocol], {
                headers,
                perMessageDeflate: false,
                handshakeTimeout: this.args.timeout * 1000,
            });
            ws.once('open', () => {
                if (ws.protocol !== subprotocol) {
                    ws.terminate();
                    reject(new Error(`server chose subprotocol "${ws.protocol}"`));
                    return;
                }
                this.ws = ws;
                // A socket error (a reset by the server) is followed by 'close', which counts it;
                // without a listener it would end the process.
                ws.on('error', () => {});
                ws.on('message', (data) => this.onFrame(data));
                ws.on('close', () => this.onClose());
                resolve();
            });
            ws.once('unexpected-response', (_request, response) => {
                reject(new Error(`HTTP ${response.statusCode}`));
                ws.terminate();
            });
            ws.once('error', (error) => reject(error));
        });
    }

    onClose() {
        this.ws = null;
        if (!this.closing) this.tally.disconnects += 1;
        if (this.waiting) {
            const { resolve, timer } = this.waiting;
            clearTimeout(timer);
            this.waiting = null;
            resolve(null);
        }
    }

    onFrame(data) {
        let frame;
        try {
            frame = JSON.parse(data);
        } catch {
            this.tally.bad('malformed frame from server');
            return;
        }
        if (!Array.isArray(frame) || typeof frame[1] !== 'string') {
            this.tally.bad('malformed frame from server');
            return;
        }
        if (frame[0] === CALL) {
            // The stations implement no commands: a server CALL is answered NotImplemented.
            this.tally.serverCalls[frame[2]] = (this.tally.serverCalls[frame[2]] ?? 0) + 1;
            this.ws?.send(JSON.stringify([CALLERROR, frame[1], 'NotImplemented', 'benchmark station', {}]));
            return;
        }
        if (!this.waiting || frame[1] !== this.waiting.id) {
            this.tally.late += 1; // the reply to a CALL that already timed out
            return;
        }
        const { resolve, timer } = this.waiting;
        clearTimeout(timer);
        this.waiting = null;
        resolve(frame);
    }

    // Send one CALL and wait for its reply: the frame, or null on timeout or a closed socket.
    // `measured` adds its latency and outcome to the tally of the measured phase.
    call([action, payload], measured) {
        if (!this.ws) return Promise.resolve(null);
        const id = `${this.nextMessage++}`;
        return new Promise((resolve) => {
            const sentAt = performance.now();
            const timer = setTimeout(() => {
                this.waiting = null;
                this.tally.timeouts += 1;
                resolve(null);
            }, this.args.timeout * 1000);
            this.waiting = {
                id,
                timer,
                resolve: (frame) => {
                    if (frame && measured) this.tally.reply(performance.now() - sentAt, frame, action);
                    else if (frame && frame[0] === CALLERROR) this.tally.callError(action, frame);
                    resolve(frame);
                },
            };
            if (measured) this.tally.sent += 1;
            this.ws.send(JSON.stringify([CALL, id, action, payload]));
        });
    }

    // BootNotification until Accepted; Pending waits the interval the server gave.
    async boot(deadline) {
        while (performance.now() < deadline) {
            const reply = await this.call(this.book.boot(this), false);
            if (!this.ws) return false;
            if (reply === null) continue;
            if (reply[0] === CALLERROR) return false;
            const status = reply[2]?.status;
            if (status === 'Accepted') return true;
            if (status === 'Rejected') {
                this.tally.bootsRejected += 1;
                return false;
            }
            this.tally.bootsPending += 1;
            const wait = Math.max(1, Number(reply[2]?.interval) || 1) * 1000;
            await sleep(Math.min(wait, Math.max(0, deadline - performance.now())));
        }
        return false;
    }

    // The transaction the meter kind sends its values in (not measured).
    async startTransaction() {
        if (this.args.version === '2.0.1') this.transactionId = `${this.id}-${runTag}`;
        const [action, payload] = this.book.start(this);
        const reply = await this.call([action, payload], false);
        if (!reply || reply[0] !== CALLRESULT) return `${action}: ${reply ? 'CALLERROR ' + reply[2] : 'no reply'}`;
        const wrong = checkReply(action, reply[2]);
        if (wrong) return wrong;
        if (this.args.version === '1.6') this.transactionId = reply[2].transactionId;
        return null;
    }

    async stopTransaction() {
        if (this.transactionId === undefined || !this.ws) return;
        await this.call(this.book.stop(this), false);
        this.transactionId = undefined;
    }

    // The measured phase: `messages` CALLs of one kind, closed loop or paced.
    async run(startAt) {
        const { messages, rate, kind } = this.args;
        const interval = rate > 0 ? 1000 / rate : 0;
        // Paced stations start at a random offset inside one interval, so they do not all send
        // in the same millisecond.
        let next = startAt + Math.random() * interval;
        for (let i = 0; i < messages && this.ws; i += 1) {
            if (interval) {
                const wait = next - performance.now();
                if (wait > 0) await sleep(wait);
                next += interval;
            }
            await this.call(this.book[kind](this), true);
        }
    }

    close() {
        this.closing = true;
        return new Promise((resolve) => {
            if (!this.ws) return resolve();
            this.ws.once('close', resolve);
            this.ws.close(1000);
            setTimeout(() => {
                this.ws?.terminate();
                resolve();
            }, 2000).unref();
        });
    }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const runTag = Date.now().toString(36); // makes 2.0.1 transaction ids unique across runs

// -- what one worker counted ----------------------------------------------------------------------

class Tally {
    constructor() {
        this.sent = 0;
        this.replies = 0;
        this.latencies = [];
        this.callErrors = {}; // "Action: code" -> count
        this.badReplies = {}; // reason -> count
        this.timeouts = 0;
        this.late = 0;
        this.disconnects = 0;
        this.serverCalls = {};
        this.bootsPending = 0;
        this.bootsRejected = 0;
        this.lastReplyAt = 0; // epoch ms
    }

    reply(ms, frame, action) {
        this.lastReplyAt = epochNow();
        if (frame[0] === CALLERROR) {
            this.callError(action, frame);
            return;
        }
        const wrong = frame[0] === CALLRESULT ? checkReply(action, frame[2]) : `${action}: not a reply`;
        if (wrong) {
            this.bad(wrong);
            return;
        }
        this.replies += 1;
        this.latencies.push(ms);
    }

    callError(action, frame) {
        const key = `${action}: ${frame[2]} ${String(frame[3] ?? '').slice(0, 120)}`;
        this.callErrors[key] = (this.callErrors[key] ?? 0) + 1;
    }

    bad(reason) {
        this.badReplies[reason] = (this.badReplies[reason] ?? 0) + 1;
    }
}

const epochNow = () => performance.timeOrigin + performance.now();

// -- a worker: its slice of the stations ------------------------------------------------------------

async function worker(args) {
    const tally = new Tally();
    const first = Math.floor((args.worker * args.stations) / args.processes);
    const last = Math.floor(((args.worker + 1) * args.stations) / args.processes);
    const width = String(args.stations).length;
    const stations = [];
    for (let n = first; n < last; n += 1) {
        stations.push(new Station(`${args.prefix}${String(n + 1).padStart(width, '0')}`, n, args, tally));
    }
    const deadline = performance.now() + args.bootDeadline * 1000;
    const setupFailures = {};
    const failed = (why) => {
        setupFailures[why] = (setupFailures[why] ?? 0) + 1;
    };

    // Connect and boot with a bounded number of handshakes in flight: a storm would measure the
    // server's accept queue, which is not this benchmark's question.
    let ready = 0;
    let cursor = 0;
    async function bringUp() {
        while (cursor < stations.length) {
            const station = stations[cursor++];
            try {
                await station.connect();
            } catch (error) {
                failed(`connect: ${error.message}`);
                continue;
            }
            if (!(await station.boot(deadline))) {
                failed('boot not Accepted');
                continue;
            }
            if (args.kind === 'meter') {
                const wrong = await station.startTransaction();
                if (wrong) {
                    failed(wrong);
                    continue;
                }
            }
            ready += 1;
        }
    }
    await Promise.all(Array.from({ length: Math.min(args.connectConcurrency, stations.length) }, bringUp));
    const setupTimeouts = tally.timeouts;
    tally.timeouts = 0;
    const setupErrors = tally.callErrors;
    tally.callErrors = {};
    tally.disconnects = 0;

    process.send({ type: 'ready', ready, setupFailures, setupErrors, setupTimeouts });
    const go = await message('go');

    const cpuBefore = process.cpuUsage();
    const started = performance.now() - (epochNow() - go.at); // the parent's go, on this clock
    await Promise.all(stations.filter((s) => s.ws).map((s) => s.run(Math.max(started, performance.now()))));
    const cpu = process.cpuUsage(cpuBefore);

    process.send(
        {
            type: 'done',
            tally: { ...tally, latencies: Float64Array.from(tally.latencies) },
            cpuS: (cpu.user + cpu.system) / 1e6,
        },
    );
    await message('finish');
    // Out of the measurement: close the transactions, then the sockets.
    await Promise.all(stations.map((s) => s.stopTransaction()));
    await Promise.all(stations.map((s) => s.close()));
    process.send({ type: 'closed' });
    process.disconnect();
}

function message(type) {
    return new Promise((resolve) => {
        const listen = (msg) => {
            if (msg?.type === type) {
                process.off('message', listen);
                resolve(msg);
            }
        };
        process.on('message', listen);
    });
}

// -- the parent: forks the workers, starts them together, adds up ------------------------------------

function stdinLine() {
    return new Promise((resolve) => {
        process.stdin.once('data', resolve);
        process.stdin.once('end', resolve);
    }).finally(() => process.stdin.pause());
}

function percentile(sorted, p) {
    if (!sorted.length) return null;
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank];
}

function add(into, from) {
    for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
    return into;
}

async function coordinate(args) {
    const workers = [];
    for (let i = 0; i < args.processes; i += 1) {
        const passed = process.argv.slice(2).concat(['--worker', String(i)]);
        const child = fork(__filename, passed, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        workers.push({ child, inbox: [], waiters: [] });
        child.on('message', (msg) => {
            const w = workers[i];
            const waiter = w.waiters.findIndex((x) => x.type === msg.type);
            if (waiter !== -1) w.waiters.splice(waiter, 1)[0].resolve(msg);
            else w.inbox.push(msg);
        });
        child.on('exit', (code) => {
            if (code !== 0 && !workers[i].closed) {
                console.error(`generator worker ${i} exited with ${code}`);
                process.exit(1);
            }
        });
    }
    const from = (w, type) =>
        new Promise((resolve) => {
            const found = w.inbox.findIndex((x) => x.type === type);
            if (found !== -1) resolve(w.inbox.splice(found, 1)[0]);
            else w.waiters.push({ type, resolve });
        });

    const readies = await Promise.all(workers.map((w) => from(w, 'ready')));
    const ready = readies.reduce((sum, r) => sum + r.ready, 0);
    const setupFailures = readies.reduce((all, r) => add(all, r.setupFailures), {});
    const setupErrors = readies.reduce((all, r) => add(all, r.setupErrors), {});
    const setupTimeouts = readies.reduce((sum, r) => sum + r.setupTimeouts, 0);

    const goAt = epochNow();
    const cpuParent = process.cpuUsage();
    console.log(JSON.stringify({ event: 'go' }));
    workers.forEach((w) => w.child.send({ type: 'go', at: goAt }));
    const dones = await Promise.all(workers.map((w) => from(w, 'done')));
    const endAt = Math.max(goAt, ...dones.map((d) => d.tally.lastReplyAt));
    console.log(JSON.stringify({ event: 'done' }));
    const parentCpuS = (() => {
        const c = process.cpuUsage(cpuParent);
        return (c.user + c.system) / 1e6;
    })();
    if (args.syncStdin === 'yes') await stdinLine(); // the orchestrator has sampled /proc
    workers.forEach((w) => w.child.send({ type: 'finish' }));
    await Promise.all(workers.map((w) => from(w, 'closed')));
    workers.forEach((w) => {
        w.closed = true;
    });

    const seconds = (endAt - goAt) / 1000;
    const sum = (name) => dones.reduce((total, d) => total + d.tally[name], 0);
    const all = new Float64Array(dones.reduce((n, d) => n + d.tally.latencies.length, 0));
    dones.reduce((at, d) => {
        all.set(d.tally.latencies, at);
        return at + d.tally.latencies.length;
    }, 0);
    all.sort(); // a typed array sorts by number
    const replies = sum('replies');
    const result = {
        event: 'result',
        version: args.version,
        kind: args.kind,
        mode: args.rate > 0 ? `paced ${args.rate}/s/station` : 'closed loop',
        stations: args.stations,
        messages_per_station: args.messages,
        processes: args.processes,
        ready,
        setup_failures: setupFailures,
        setup_call_errors: setupErrors,
        setup_timeouts: setupTimeouts,
        sent: sum('sent'),
        replies,
        call_errors: dones.reduce((all2, d) => add(all2, d.tally.callErrors), {}),
        bad_replies: dones.reduce((all2, d) => add(all2, d.tally.badReplies), {}),
        timeouts: sum('timeouts'),
        late: sum('late'),
        disconnects: sum('disconnects'),
        server_calls: dones.reduce((all2, d) => add(all2, d.tally.serverCalls), {}),
        boots_pending: sum('bootsPending'),
        boots_rejected: sum('bootsRejected'),
        seconds,
        msgs_per_s: seconds > 0 ? replies / seconds : 0,
        latency_ms: {
            p50: percentile(all, 50),
            p95: percentile(all, 95),
            p99: percentile(all, 99),
            max: all.length ? all[all.length - 1] : null,
        },
        // The generator's own CPU in the measured phase, per worker, as % of one core: a worker
        // near 100 % would mean the generator, not the server, set the pace.
        generator_cpu_pct: dones.map((d) => (seconds > 0 ? (100 * d.cpuS) / seconds : 0)),
        coordinator_cpu_pct: seconds > 0 ? (100 * parentCpuS) / seconds : 0,
    };
    result.problems = problems(result, args);
    console.log(JSON.stringify(result));
    process.exit(result.problems.length ? 1 : 0);
}

// Everything that makes the run's answers wrong; a run with any of them measured no speed.
function problems(r, args) {
    const found = [];
    const expected = args.stations * args.messages;
    if (r.ready < args.stations) found.push(`${args.stations - r.ready} stations not ready: ${JSON.stringify(r.setup_failures)}`);
    if (r.boots_rejected) found.push(`${r.boots_rejected} boots Rejected`);
    if (Object.keys(r.setup_call_errors).length) found.push(`CALLERRORs while setting up: ${JSON.stringify(r.setup_call_errors)}`);
    if (Object.keys(r.call_errors).length) found.push(`CALLERRORs: ${JSON.stringify(r.call_errors)}`);
    if (Object.keys(r.bad_replies).length) found.push(`wrong replies: ${JSON.stringify(r.bad_replies)}`);
    if (r.timeouts) found.push(`${r.timeouts} CALLs unanswered within ${args.timeout} s`);
    if (r.disconnects) found.push(`${r.disconnects} sockets closed by the server`);
    if (r.replies < expected && !found.length) found.push(`${expected - r.replies} of ${expected} CALLs not answered`);
    return found;
}

const args = parseArgs(process.argv);
if (args.worker >= 0) {
    worker(args).catch((error) => {
        console.error(error);
        process.exit(1);
    });
} else {
    coordinate(args).catch((error) => {
        console.error(error);
        process.exit(1);
    });
}
