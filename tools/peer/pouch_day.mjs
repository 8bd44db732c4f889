// The PouchDB peer of `fieldsync bench --scenario weak_link`: the same day's records replicated by PouchDB to
// express-pouchdb (both in memory, on loopback), counting the bytes that cross each TCP connection both ways.
//
// Input (argv[2]): JSON {"jobs": [doc...], "day": [doc...]} written by tools/bench.py from the fieldsync tablet's
// own jobs and outbox ops (one document per op; a status change updates the job's document, as a PouchDB app
// would keep it). Steps: the server holds the jobs; tablet A replicates them down (not counted); A writes the
// day; A replicates to the server (push, counted); a new tablet B replicates everything down (pull, counted).
// Output (stdout): one JSON object with the bytes and seconds of push and pull. Run only by the bench.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

import express from "express";
import expressPouchDB from "express-pouchdb";
import PouchDB from "pouchdb-core";
import HttpAdapter from "pouchdb-adapter-http";
import MemoryAdapter from "pouchdb-adapter-memory";
import MapReduce from "pouchdb-mapreduce";
import Replication from "pouchdb-replication";

PouchDB.plugin(HttpAdapter).plugin(MemoryAdapter).plugin(MapReduce).plugin(Replication);
const MemPouch = PouchDB.defaults({ adapter: "memory" });

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const app = express();
app.use("/", expressPouchDB(MemPouch, { mode: "minimumForPouchDB", logPath: "/dev/null" }));
const server = createServer(app);
const counted = { up: 0, down: 0 };
/** @type {Set<import("node:net").Socket>} */
const open = new Set();
server.on("connection", (sock) => {
  open.add(sock);
  sock.on("close", () => {
    open.delete(sock);
    counted.up += sock.bytesRead;
    counted.down += sock.bytesWritten;
  });
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(undefined)));
const address = server.address();
const port = typeof address === "object" && address ? address.port : 0;
const url = `http://127.0.0.1:${port}/day`;

/** Bytes so far both ways over every connection, closed or still open (keep-alive). */
async function settle() {
  await new Promise((resolve) => setTimeout(resolve, 100));
  let up = counted.up;
  let down = counted.down;
  for (const sock of open) {
    up += sock.bytesRead;
    down += sock.bytesWritten;
  }
  return { up, down };
}

const remote = new PouchDB(url);
await remote.bulkDocs(input.jobs);
const tabletA = new MemPouch("tablet-a");
await tabletA.replicate.from(remote);
for (const doc of input.day) {
  if (doc._id.startsWith("job:")) {
    const current = await tabletA.get(doc._id);
    await tabletA.put({ ...current, ...doc, _rev: current._rev });
  } else {
    await tabletA.put(doc);
  }
}
const before = await settle();
let t0 = performance.now();
const pushed = await tabletA.replicate.to(remote);
const pushS = (performance.now() - t0) / 1000;
const afterPush = await settle();
const tabletB = new MemPouch("tablet-b");
t0 = performance.now();
const pulled = await tabletB.replicate.from(new PouchDB(url));
const pullS = (performance.now() - t0) / 1000;
const afterPull = await settle();
server.closeAllConnections?.();
server.close();
process.stdout.write(JSON.stringify({
  push_docs: pushed.docs_written, push_up_bytes: afterPush.up - before.up, push_down_bytes: afterPush.down - before.down,
  push_s: pushS, pull_docs: pulled.docs_written, pull_up_bytes: afterPull.up - afterPush.up,
  pull_down_bytes: afterPull.down - afterPush.down, pull_s: pullS,
}) + "\n");
process.exit(0);
