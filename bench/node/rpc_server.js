#!/usr/bin/env node
// The yardstick of bench/ocpp_versus.py: a minimal CSMS on the `ocpp-rpc` package, in memory.
//
// It is what a Node developer writes first: one RPCServer speaking ocpp1.6 and ocpp2.0.1 with
// strictMode on (ocpp-rpc then checks every CALL and every reply against the official JSON
// schemas, as silkcharge does), a handler per action, and its state in Maps that live as long as
// the process. Nothing is written anywhere, so the gap between it and silkcharge is what
// silkcharge stores before it answers.
//
//     node bench/node/rpc_server.js --port 9300 [--host 127.0.0.1]
//
// Prints one line "ready ..." on stdout once it listens; stops on SIGTERM or SIGINT.

'use strict';

const { RPCServer } = require('ocpp-rpc');

const HEARTBEAT_INTERVAL = 300;
const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];

function option(name, fallback) {
    const at = process.argv.indexOf(`--${name}`);
    if (at !== -1 && at + 1 < process.argv.length) return process.argv[at + 1];
    return process.env[`RPC_SERVER_${name.toUpperCase()}`] ?? fallback;
}

// -- what the server knows: only as long as the process lives -------------------------------

const memory = {
    passwords: new Map(), // identity -> the Basic-auth password it first came with
    boots: new Map(), // identity -> the last BootNotification's params
    connectors: new Map(), // "identity/evse/connector" -> status
    meters: new Map(), // "identity/connector" -> the last meter values
    transactions: new Map(), // 1.6: integer id -> record; 2.0.1: "identity/transactionId" -> record
    nextTransactionId: 1,
};

const now = () => new Date().toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ, as OCPP wants

// -- the handlers, one set per protocol ------------------------------------------------------

function handleV16(client) {
    const id = client.identity;
    client.handle('BootNotification', ({ params }) => {
        memory.boots.set(id, params);
        return { status: 'Accepted', currentTime: now(), interval: HEARTBEAT_INTERVAL };
    });
    client.handle('Heartbeat', () => ({ currentTime: now() }));
    client.handle('StatusNotification', ({ params }) => {
        memory.connectors.set(`${id}/${params.connectorId}`, params.status);
        return {};
    });
    client.handle('MeterValues', ({ params }) => {
        memory.meters.set(`${id}/${params.connectorId}`, params.meterValue);
        return {};
    });
    client.handle('Authorize', () => ({ idTagInfo: { status: 'Accepted' } }));
    client.handle('StartTransaction', ({ params }) => {
        const transactionId = memory.nextTransactionId++;
        memory.transactions.set(transactionId, { station: id, ...params });
        return { transactionId, idTagInfo: { status: 'Accepted' } };
    });
    client.handle('StopTransaction', ({ params }) => {
        const transaction = memory.transactions.get(params.transactionId);
        if (transaction) Object.assign(transaction, { meterStop: params.meterStop, stopped: params.timestamp });
        return {};
    });
}

function handleV201(client) {
    const id = client.identity;
    client.handle('BootNotification', ({ params }) => {
        memory.boots.set(id, params);
        return { status: 'Accepted', currentTime: now(), interval: HEARTBEAT_INTERVAL };
    });
    client.handle('Heartbeat', () => ({ currentTime: now() }));
    client.handle('StatusNotification', ({ params }) => {
        memory.connectors.set(`${id}/${params.evseId}/${params.connectorId}`, params.connectorStatus);
        return {};
    });
    client.handle('MeterValues', ({ params }) => {
        memory.meters.set(`${id}/${params.evseId}`, params.meterValue);
        return {};
    });
    client.handle('Authorize', () => ({ idTokenInfo: { status: 'Accepted' } }));
    client.handle('TransactionEvent', ({ params }) => {
        const key = `${id}/${params.transactionInfo.transactionId}`;
        const transaction = memory.transactions.get(key) ?? { station: id, events: 0 };
        transaction.events += 1;
        transaction.last = params.eventType;
        if (params.meterValue) transaction.meterValue = params.meterValue;
        memory.transactions.set(key, transaction);
        // An idToken in the event asks for its status (E01/E05); without one the reply is empty.
        return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
    });
}

// -- the server --------------------------------------------------------------------------------

async function main() {
    const host = option('host', '127.0.0.1');
    const port = Number(option('port', '9300'));
    const server = new RPCServer({ protocols: PROTOCOLS, strictMode: true });

    // Trust on first use, as silkcharge's auto-provisioning does: a station's first password is
    // its password from then on, and a different one is refused.
    server.auth((accept, reject, handshake) => {
        const shown = handshake.password ? handshake.password.toString('utf8') : undefined;
        const known = memory.passwords.get(handshake.identity);
        if (known !== undefined && known !== shown) {
            reject(401, 'wrong password');
            return;
        }
        if (known === undefined && shown !== undefined) memory.passwords.set(handshake.identity, shown);
        accept();
    });

    server.on('client', (client) => {
        if (client.protocol === 'ocpp1.6') handleV16(client);
        else handleV201(client);
        // ocpp-rpc answers any other action with a NotImplemented CALLERROR by itself.
    });

    await server.listen(port, host);
    console.log(`ready: ocpp-rpc server on ws://${host}:${port} (${PROTOCOLS.join(', ')}, strict mode)`);

    const stop = async () => {
        await server.close({ force: true });
        process.exit(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
