// SPDX-License-Identifier: Apache-2.0
// The Azure SDK for JavaScript, unmodified, against the Managed HSM
// emulator: each check runs with ClientSecretCredential,
// ClientCertificateCredential and WorkloadIdentityCredential, at the
// api-version the SDK sends by default. Prints "ok - ..." or
// "FAIL - ..." per check; tests/integration/sdk.sh starts the emulator,
// registers the principals and counts the lines.
//
// Environment: EMU_URL, EMU_TENANT, EMU_STATE (the state directory, for
// its control token and audit log), SDK_SECRET, SDK_CERT (PEM with the
// certificate and its key), SDK_IDP_KEY (the workload identity issuer's
// private key), SDK_TOKEN_FILE (where the federated token goes),
// SDK_READER_OID (the object id of the principal without key roles).
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const {
  ClientSecretCredential,
  ClientCertificateCredential,
  WorkloadIdentityCredential,
} = require("@azure/identity");
const { KeyClient, CryptographyClient } = require("@azure/keyvault-keys");
const { keyVaultAuthenticationPolicy } = require("@azure/keyvault-common");
const {
  createEmptyPipeline,
  createDefaultHttpClient,
  createPipelineRequest,
} = require("@azure/core-rest-pipeline");

const env = (k) => {
  if (!process.env[k]) throw new Error(`missing ${k}`);
  return process.env[k];
};
const URL_ = env("EMU_URL");
const TENANT = env("EMU_TENANT");
const STATE = env("EMU_STATE");
const FED_ISSUER = "https://idp.sdk.test";
const FED_SUBJECT = "system:serviceaccount:sdk:app";

let passed = 0;
let failed = 0;
function ok(name) {
  passed++;
  console.log(`ok - ${name}`);
}
function bad(name, why) {
  failed++;
  console.log(`FAIL - ${name}: ${why}`);
}
async function check(name, fn) {
  try {
    const r = await fn();
    if (r === false) bad(name, "condition false");
    else ok(name);
  } catch (e) {
    bad(name, `${e.name}: ${String(e.message).split("\n")[0].slice(0, 300)}`);
  }
}
// The operation must fail with this HTTP status, surfaced by the SDK.
async function rejects(status, fn) {
  try {
    await fn();
  } catch (e) {
    if (e.statusCode === status) return true;
    throw new Error(`expected ${status}, got ${e.statusCode}: ${e.message}`);
  }
  throw new Error(`expected ${status}, got success`);
}
function assert(cond, what) {
  if (!cond) throw new Error(what);
}

// Every request's api-version, as the SDK chose it.
const apiVersions = new Set();
const recordVersion = {
  policy: {
    name: "recordApiVersion",
    sendRequest(req, next) {
      const v = new URL(req.url).searchParams.get("api-version");
      if (v) apiVersions.add(v);
      return next(req);
    },
  },
  position: "perCall",
};
// The emulator's host is 127.0.0.1, so the challenge's resource
// (managedhsm.azure.net) cannot be a suffix of it: the SDK's documented
// switch for that is the only client option the emulator needs.
const clientOptions = {
  disableChallengeResourceVerification: true,
  additionalPolicies: [recordVersion],
  retryOptions: { maxRetries: 3 },
};
// MSAL sends instance discovery to login.microsoftonline.com whatever the
// authority host is, and Entra knows no authority on 127.0.0.1; Azure
// Identity's documented switch for authorities outside Entra's clouds.
const credOptions = { authorityHost: URL_, disableInstanceDiscovery: true };

// The federated token a Kubernetes-like issuer would project into a file.
function writeFederatedToken(clientId) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: "RS256", typ: "JWT", kid: "sdk-idp" });
  const body = b64({
    iss: FED_ISSUER,
    sub: FED_SUBJECT,
    aud: ["api://AzureADTokenExchange"],
    iat: now,
    nbf: now,
    exp: now + 3600,
    jti: crypto.randomUUID(),
    azp: clientId,
  });
  const sig = crypto
    .sign("sha256", Buffer.from(`${head}.${body}`), fs.readFileSync(env("SDK_IDP_KEY")))
    .toString("base64url");
  fs.writeFileSync(env("SDK_TOKEN_FILE"), `${head}.${body}.${sig}`, { mode: 0o600 });
}

function credentials(clientId) {
  writeFederatedToken(clientId);
  return {
    secret: new ClientSecretCredential(TENANT, clientId, env("SDK_SECRET"), credOptions),
    cert: new ClientCertificateCredential(
      TENANT,
      clientId,
      { certificatePath: env("SDK_CERT") },
      credOptions,
    ),
    workload: new WorkloadIdentityCredential({
      tenantId: TENANT,
      clientId,
      tokenFilePath: env("SDK_TOKEN_FILE"),
      ...credOptions,
    }),
  };
}

// The emulator's control API: fault injection for the 429 check.
async function control(method, p, body) {
  const token = fs.readFileSync(path.join(STATE, "control.token"), "utf8").trim();
  const r = await fetch(URL_ + p, {
    method,
    headers: { "X-Emulator-Control": token, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(`control ${method} ${p}: ${r.status}`);
}

function audit() {
  return fs
    .readFileSync(path.join(STATE, "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const sha256 = (b) => crypto.createHash("sha256").update(b).digest();
const same = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

async function keyChecks(tag, cred, reader) {
  const kc = new KeyClient(URL_, cred, clientOptions);
  const cc = (id, c = cred) => new CryptographyClient(id, c, clientOptions);
  const n = (s) => `${tag}-${s}`;
  const T = (s) => `[${tag}] ${s}`;
  let rsa, ec, oct;

  await check(T("create RSA-HSM 2048"), async () => {
    rsa = await kc.createRsaKey(n("rsa"), { hsm: true, keySize: 2048 });
    return rsa.keyType === "RSA-HSM" && rsa.key.n.length === 256;
  });
  await check(T("create EC-HSM P-256"), async () => {
    ec = await kc.createEcKey(n("ec"), { hsm: true, curve: "P-256" });
    return ec.keyType === "EC-HSM" && ec.key.crv === "P-256" && ec.key.x.length === 32;
  });
  await check(T("create oct-HSM 256"), async () => {
    oct = await kc.createOctKey(n("oct"), { hsm: true, keySize: 256 });
    return oct.keyType === "oct-HSM" && !oct.key.k;
  });
  await check(T("get key (latest)"), async () => {
    const k = await kc.getKey(n("rsa"));
    return k.id === rsa.id && k.properties.recoveryLevel === "Recoverable+Purgeable" &&
      k.properties.recoverableDays === 90;
  });
  await check(T("rotate, then list versions"), async () => {
    const r = await kc.rotateKey(n("rsa"));
    const vs = [];
    for await (const p of kc.listPropertiesOfKeyVersions(n("rsa"))) vs.push(p.version);
    assert(r.properties.version !== rsa.properties.version, "same version after rotate");
    return vs.length === 2 && vs.includes(r.properties.version) &&
      vs.includes(rsa.properties.version);
  });
  await check(T("list keys"), async () => {
    const names = [];
    for await (const p of kc.listPropertiesOfKeys()) names.push(p.name);
    return [n("rsa"), n("ec"), n("oct")].every((x) => names.includes(x));
  });

  const dek = crypto.randomBytes(32);
  await check(T("wrap/unwrap RSA-OAEP-256"), async () => {
    const w = await cc(rsa.id).wrapKey("RSA-OAEP-256", dek);
    const u = await cc(rsa.id).unwrapKey("RSA-OAEP-256", w.result);
    return same(u.result, dek) && u.keyID === rsa.id;
  });
  await check(T("wrap/unwrap A256KW"), async () => {
    const w = await cc(oct.id).wrapKey("A256KW", dek);
    const u = await cc(oct.id).unwrapKey("A256KW", w.result);
    return w.result.length === 40 && same(u.result, dek);
  });
  await check(T("encrypt/decrypt RSA-OAEP-256"), async () => {
    const e = await cc(rsa.id).encrypt({ algorithm: "RSA-OAEP-256", plaintext: dek });
    const d = await cc(rsa.id).decrypt({ algorithm: "RSA-OAEP-256", ciphertext: e.result });
    return same(d.result, dek);
  });
  await check(T("encrypt/decrypt A256GCM (HSM-made IV, tag, AAD)"), async () => {
    const aad = Buffer.from("header");
    const pt = Buffer.from("hsmfs sdk suite: some plaintext");
    const e = await cc(oct.id).encrypt({ algorithm: "A256GCM", plaintext: pt, additionalAuthenticatedData: aad });
    assert(e.iv.length === 12 && e.authenticationTag.length === 16, "iv/tag sizes");
    const d = await cc(oct.id).decrypt({
      algorithm: "A256GCM", ciphertext: e.result, iv: e.iv,
      authenticationTag: e.authenticationTag, additionalAuthenticatedData: aad,
    });
    await rejects(400, () => cc(oct.id).decrypt({
      algorithm: "A256GCM", ciphertext: e.result, iv: e.iv,
      authenticationTag: e.authenticationTag, additionalAuthenticatedData: Buffer.from("other"),
    }));
    return same(d.result, pt);
  });
  await check(T("encrypt/decrypt A256CBCPAD"), async () => {
    const pt = Buffer.from("not a multiple of sixteen");
    const iv = crypto.randomBytes(16);
    const e = await cc(oct.id).encrypt({ algorithm: "A256CBCPAD", plaintext: pt, iv });
    const d = await cc(oct.id).decrypt({ algorithm: "A256CBCPAD", ciphertext: e.result, iv });
    return same(d.result, pt);
  });
  const digest = sha256("message to sign");
  await check(T("sign/verify PS256 (and a wrong digest fails)"), async () => {
    const s = await cc(rsa.id).sign("PS256", digest);
    const v = await cc(rsa.id).verify("PS256", digest, s.result);
    const w = await cc(rsa.id).verify("PS256", sha256("other"), s.result);
    return v.result === true && w.result === false;
  });
  await check(T("sign ES256: a JWS signature the public key verifies"), async () => {
    const s = await cc(ec.id).sign("ES256", digest);
    const v = await cc(ec.id).verify("ES256", digest, s.result);
    const pub = crypto.createPublicKey({
      key: { kty: "EC", crv: "P-256", x: Buffer.from(ec.key.x).toString("base64url"),
             y: Buffer.from(ec.key.y).toString("base64url") },
      format: "jwk",
    });
    const local = crypto.verify("sha256", Buffer.from("message to sign"),
      { key: pub, dsaEncoding: "ieee-p1363" }, s.result);
    return s.result.length === 64 && v.result === true && local;
  });
  await check(T("random bytes"), async () => {
    const b = await kc.getRandomBytes(32);
    return b.length === 32;
  });
  await check(T("rotation policy set and read back"), async () => {
    await kc.updateKeyRotationPolicy(n("rsa"), {
      lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }],
      expiresIn: "P1Y",
    });
    const p = await kc.getKeyRotationPolicy(n("rsa"));
    const a = p.lifetimeActions[0];
    return p.expiresIn === "P1Y" && a.action === "Rotate" && a.timeAfterCreate === "P90D";
  });

  await check(T("delete (poller): a deleted key with recovery id and dates"), async () => {
    const poller = await kc.beginDeleteKey(n("oct"), { intervalInMs: 100 });
    const d = await poller.pollUntilDone();
    return d.name === n("oct") && d.properties.recoveryId === `${URL_}/deletedkeys/${n("oct")}` &&
      d.properties.scheduledPurgeDate > d.properties.deletedOn;
  });
  await check(T("a deleted key's name cannot be reused (409)"), () =>
    rejects(409, () => kc.createOctKey(n("oct"), { hsm: true })));
  await check(T("list deleted keys"), async () => {
    const names = [];
    for await (const d of kc.listDeletedKeys()) names.push(d.name);
    return names.includes(n("oct"));
  });
  await check(T("recover (poller), then the key unwraps again"), async () => {
    const poller = await kc.beginRecoverDeletedKey(n("oct"), { intervalInMs: 100 });
    const k = await poller.pollUntilDone();
    const w = await cc(oct.id).wrapKey("A256KW", dek);
    const u = await cc(k.id).unwrapKey("A256KW", w.result);
    return k.id === oct.id && same(u.result, dek);
  });
  await check(T("delete and purge; the name is free again"), async () => {
    await (await kc.beginDeleteKey(n("oct"), { intervalInMs: 100 })).pollUntilDone();
    await kc.purgeDeletedKey(n("oct"));
    await rejects(404, () => kc.getDeletedKey(n("oct")));
    oct = await kc.createOctKey(n("oct"), { hsm: true, keySize: 256 });
    return oct.keyType === "oct-HSM";
  });
  await check(T("backup, delete, purge, restore: same key, same versions"), async () => {
    const blob = await kc.backupKey(n("ec"));
    const w = await cc(ec.id).sign("ES256", digest);
    await (await kc.beginDeleteKey(n("ec"), { intervalInMs: 100 })).pollUntilDone();
    await kc.purgeDeletedKey(n("ec"));
    const k = await kc.restoreKeyBackup(blob);
    const v = await cc(ec.id).verify("ES256", digest, w.result);
    return k.id === ec.id && v.result === true;
  });

  const rkc = new KeyClient(URL_, reader, clientOptions);
  await check(T("no role for it: create is 403 Forbidden through the SDK"), () =>
    rejects(403, () => rkc.createRsaKey(n("denied"), { hsm: true })));
  await check(T("no role for it: unwrap is 403 Forbidden through the SDK"), async () => {
    const w = await cc(oct.id).wrapKey("A256KW", dek);
    return rejects(403, () => cc(oct.id, reader).unwrapKey("A256KW", w.result));
  });
  await check(T("a role that can read: the reader gets the key"), async () => {
    const k = await rkc.getKey(n("rsa"));
    return k.name === n("rsa");
  });

  await check(T("429 with Retry-After is honoured, then the call succeeds"), async () => {
    await control("POST", "/_emulator/faults",
      { throttle_rate: 1, retry_after: 2, count: 1, ops: ["GetKey"] });
    const before = audit().length;
    let k;
    try {
      k = await kc.getKey(n("ec"));
    } finally {
      await control("DELETE", "/_emulator/faults");
    }
    const gets = audit().slice(before).filter((l) => l.operation === "GetKey" && l.key === n("ec"));
    const t = gets.find((l) => l.outcome === "Throttled");
    const o = gets.find((l) => l.outcome === "ok");
    assert(t && o, `audit: ${gets.map((l) => l.outcome)}`);
    const waited = Date.parse(o.time) - Date.parse(t.time);
    assert(waited >= 1900, `retried after ${waited} ms, not after Retry-After: 2`);
    return k.name === n("ec");
  });
}

// The admin SDK's own way of calling the RBAC REST API: the Key Vault
// challenge policy on a core pipeline.
function rbacClient(cred) {
  const p = createEmptyPipeline();
  p.addPolicy(keyVaultAuthenticationPolicy(cred, { disableChallengeResourceVerification: true }));
  const http = createDefaultHttpClient();
  return async (method, p2, body) => {
    const req = createPipelineRequest({
      url: `${URL_}${p2}${p2.includes("?") ? "&" : "?"}api-version=2025-07-01`,
      method,
      body: body ? JSON.stringify(body) : undefined,
    });
    req.headers.set("Content-Type", "application/json");
    const r = await p.sendRequest(http, req);
    return { status: r.status, body: r.bodyAsText ? JSON.parse(r.bodyAsText) : null };
  };
}

async function rbacChecks(admin, reader, readerOid) {
  const call = rbacClient(admin);
  const rd = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions";
  await check("[rbac] built-in roles: Crypto Officer cannot create or use keys", async () => {
    const r = await call("GET", "///providers/Microsoft.Authorization/roleDefinitions");
    const off = r.body.value.find((d) => d.name === "515eb02d-2335-4d2d-92f2-b1cbdf9c3778");
    const da = off.properties.permissions[0].dataActions;
    return r.status === 200 && off.properties.roleName === "Managed HSM Crypto Officer" &&
      off.properties.type === "AKVBuiltInRole" &&
      da.includes("Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete") &&
      !da.includes("Microsoft.KeyVault/managedHsm/keys/create") &&
      !da.includes("Microsoft.KeyVault/managedHsm/keys/unwrap/action");
  });
  const roleId = crypto.randomUUID();
  const asgId = crypto.randomUUID();
  await check("[rbac] custom role, assigned at /keys, lets the reader sign", async () => {
    const c = await call("PUT", `///providers/Microsoft.Authorization/roleDefinitions/${roleId}`, {
      properties: {
        roleName: "sdk signer", type: "CustomRole", assignableScopes: ["/"],
        permissions: [{ dataActions: ["Microsoft.KeyVault/managedHsm/keys/sign/action"] }],
      },
    });
    assert(c.status === 201 && c.body.properties.type === "CustomRole", `PUT role: ${c.status}`);
    const a = await call("PUT", `//keys/providers/Microsoft.Authorization/roleAssignments/${asgId}`, {
      properties: { roleDefinitionId: `${rd}/${roleId}`, principalId: readerOid },
    });
    assert(a.status === 201 && a.body.properties.scope === "/keys" &&
      a.body.id === `/keys/providers/Microsoft.Authorization/roleAssignments/${asgId}`,
    `PUT assignment: ${a.status} ${JSON.stringify(a.body)}`);
    const l = await call("GET", `///providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '${readerOid}'`);
    assert(l.body.value.some((x) => x.name === asgId), "assignment not listed");
    const kc = new KeyClient(URL_, admin, clientOptions);
    const k = await kc.getKey("secret-rsa");
    const s = await new CryptographyClient(k.id, reader, clientOptions).sign("RS256", sha256("x"));
    return s.result.length === 256;
  });
  await check("[rbac] assignment and role removed: the reader cannot sign", async () => {
    const d = await call("DELETE", `//keys/providers/Microsoft.Authorization/roleAssignments/${asgId}`);
    const g = await call("GET", `//keys/providers/Microsoft.Authorization/roleAssignments/${asgId}`);
    const r = await call("DELETE", `///providers/Microsoft.Authorization/roleDefinitions/${roleId}`);
    const k = await new KeyClient(URL_, admin, clientOptions).getKey("secret-rsa");
    await rejects(403, () => new CryptographyClient(k.id, reader, clientOptions).sign("RS256", sha256("x")));
    return d.status === 200 && g.status === 404 && g.body.error.code === "RoleAssignmentNotFound" &&
      r.status === 200;
  });
}

async function main() {
  const app = credentials("sdk-app");
  const reader = credentials("sdk-reader");
  for (const tag of ["secret", "cert", "workload"])
    await keyChecks(tag, app[tag], reader[tag]);
  await rbacChecks(app.secret, reader.secret, env("SDK_READER_OID"));
  await check(`the SDK's default api-version was used (${[...apiVersions].join(", ")})`, () =>
    apiVersions.size === 1 && apiVersions.has("2025-07-01"));
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log(`FAIL - sdk.js stopped: ${String(e.stack).split("\n").slice(0, 3).join(" | ")}`);
  process.exitCode = 1;
});
