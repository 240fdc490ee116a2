// tufjs_client.js - a TUF client nobody here wrote (the npm package tuf-js)
// against rampd, for tests/integration/test_tuf.py:
//
//   node tufjs_client.js METADATA_URL TARGET_URL TOKEN ROOT.json DIR TARGET_PATH
//
// initialises tuf-js with ROOT.json in DIR/metadata, refreshes, finds
// TARGET_PATH in verified targets metadata and downloads it (the device
// token goes only to the target URL); prints one JSON line of what happened,
// {"ok": true, "length", "sha256", "custom", "file"} or {"ok": false,
// "error": "<tuf-js's error class>: <message>"}, and exits 0 either way.
'use strict';
const fs = require('fs');
const path = require('path');
const { Readable } = require('stream');
const { Updater, BaseFetcher } = require('tuf-js');
const { DownloadHTTPError } = require('tuf-js/dist/error');

const [metaUrl, targetUrl, token, rootPath, dir, targetPath] = process.argv.slice(2);

class TokenFetcher extends BaseFetcher {
  async fetch(url) {
    const headers = url.startsWith(targetUrl) ? { Authorization: `Bearer ${token}` } : {};
    const res = await fetch(url, { headers });
    if (!res.ok || !res.body) {
      throw new DownloadHTTPError(`GET ${url}: ${res.status}`, res.status);
    }
    return Readable.fromWeb(res.body);
  }
}

async function main() {
  const metaDir = path.join(dir, 'metadata');
  const targetDir = path.join(dir, 'targets');
  fs.mkdirSync(metaDir, { recursive: true });
  fs.mkdirSync(targetDir, { recursive: true });
  if (!fs.existsSync(path.join(metaDir, 'root.json'))) {
    fs.copyFileSync(rootPath, path.join(metaDir, 'root.json'));
  }
  const updater = new Updater({
    metadataBaseUrl: metaUrl,
    targetBaseUrl: targetUrl,
    metadataDir: metaDir,
    targetDir,
    fetcher: new TokenFetcher(),
  });
  try {
    await updater.refresh();
    const info = await updater.getTargetInfo(targetPath);
    if (!info) {
      console.log(JSON.stringify({ ok: false, error: `no target ${targetPath}` }));
      return;
    }
    const file = await updater.downloadTarget(info);
    console.log(JSON.stringify({ ok: true, length: info.length, sha256: info.hashes.sha256,
                                 custom: info.custom, file }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: `${e.constructor.name}: ${e.message}` }));
  }
}

main();
