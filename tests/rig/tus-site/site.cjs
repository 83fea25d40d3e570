// The streamer's site as the upload e2e test plays it: the tus project's own Node.js server
// (@tus/server with @tus/file-store, pinned in package.json, installed by scripts/deps.sh) behind
// the site's bearer token, checking the whole file's SHA-256 against the `sha256` metadata when
// the last byte arrives (460 when it differs), as docs/platform-api.md asks of a site.
//
//   node site.cjs PORT DIR LOG [--cut-at-half | --stall-at-half] [--corrupt]
//   SITE_TOKEN in the environment (never argv).
//
// --cut-at-half: the first PATCH that reaches half of the file has its connection cut in the
//   chunk that crosses it, once (what the server read is kept, as with any real cut).
// --stall-at-half: instead of cutting, stop reading there (the sender hangs until it gives up or
//   dies; what was read is kept once its connection closes).
// --corrupt: one stored byte is flipped before the check (the upload must fail with 460).
// LOG gets one JSON line per request and event.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { Server } = require("@tus/server");
const { FileStore } = require("@tus/file-store");

const [port, dir, logFile, ...flags] = process.argv.slice(2);
const token = process.env.SITE_TOKEN || "";
if (!port || !dir || !logFile || !token) {
  console.error("usage: SITE_TOKEN=... node site.cjs PORT DIR LOG [--cut-at-half | --stall-at-half] [--corrupt]");
  process.exit(2);
}
const cutAtHalf = flags.includes("--cut-at-half");
const stallAtHalf = flags.includes("--stall-at-half");
const corrupt = flags.includes("--corrupt");
fs.mkdirSync(dir, { recursive: true });
const log = (o) => fs.appendFileSync(logFile, JSON.stringify({ at: Date.now(), ...o }) + "\n");

const sha256 = (file) =>
  new Promise((resolve, reject) => {
    const h = crypto.createHash("sha256");
    fs.createReadStream(file)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(h.digest("hex")))
      .on("error", reject);
  });

const tus = new Server({
  path: "/deckcast/uploads",
  datastore: new FileStore({ directory: dir }),
  async onUploadFinish(req, res, upload) {
    const file = path.join(dir, upload.id);
    if (corrupt) {
      const fd = fs.openSync(file, "r+");
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, 0);
      b[0] ^= 0xff;
      fs.writeSync(fd, b, 0, 1, 0);
      fs.closeSync(fd);
    }
    const got = await sha256(file);
    const announced = (upload.metadata || {}).sha256;
    log({ event: "finished", id: upload.id, size: upload.size, sha256: got, announced, metadata: upload.metadata, file });
    if (got !== announced) {
      throw { status_code: 460, body: "Checksum Mismatch" };
    }
    return res;
  },
});

let length = 0;
let cut = false;
http
  .createServer((req, res) => {
    const entry = {
      event: "request",
      method: req.method,
      url: req.url,
      offset: req.headers["upload-offset"] ?? null,
      length: req.headers["upload-length"] ?? null,
      tus: req.headers["tus-resumable"] ?? null,
    };
    if (req.headers.authorization !== `Bearer ${token}`) {
      log({ ...entry, status: 401 });
      res.writeHead(401).end("wrong token");
      return;
    }
    if (req.method === "POST" && req.headers["upload-length"]) {
      length = Number(req.headers["upload-length"]);
    }
    res.on("finish", () => log({ ...entry, status: res.statusCode, newOffset: res.getHeader("upload-offset") ?? null }));
    if ((cutAtHalf || stallAtHalf) && !cut && req.method === "PATCH" && length > 0) {
      // Count the bytes as the server reads them (its own pipe, so none are taken from it)
      // and cut the connection in the chunk that crosses half of the file.
      let seen = Number(req.headers["upload-offset"] || 0);
      const pipe = req.pipe;
      req.pipe = function (dest, options) {
        const piped = pipe.call(this, dest, options);
        this.on("data", (chunk) => {
          seen += chunk.length;
          if (!cut && seen >= length / 2) {
            cut = true;
            if (stallAtHalf) {
              // Stop reading: the sender hangs mid-transfer until its side gives up.
              // What is already buffered must not reach the store either: unhook the server.
              log({ event: "stalled", received: seen, length });
              req.unpipe();
              req.pause();
              req.socket.pause();
            } else {
              log({ event: "cut", received: seen, length });
              setImmediate(() => req.socket.destroy());
            }
          }
        });
        return piped;
      };
    }
    tus.handle(req, res);
  })
  .listen(Number(port), "127.0.0.1", () => log({ event: "listening", port: Number(port) }));
