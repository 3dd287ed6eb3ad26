// A real OpenID Connect provider (panva's oidc-provider) for Lakegate's SSO tests, over
// HTTPS with the certificate the test hands it. Started by crates/lakegate/tests/it/sso.rs;
// prints one JSON line `{"issuer": …}` when it listens.
//
// Configuration comes in the environment (never argv): OIDC_CONFIG is JSON
//   { "clients": [{client_id, client_secret, redirect_uris}], "cert": PEM, "key": PEM,
//     "epoch": unix seconds }
// `epoch` sets this provider's clock to the test's injected clock (Lakegate runs on a
// manual clock), so `iat`/`exp` mean the same instant on both sides.
//
// Test control, for the attacks a real provider will not perform on request:
//   POST /__test/next-id-token {claims to set (null removes), "foreign_key": bool}
// rewrites the ID token of the next token response and signs it again with the provider's
// own key (or a key it does not publish). Everything else is oidc-provider, untouched.
import https from 'node:https';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const cfg = JSON.parse(process.env.OIDC_CONFIG ?? '{}');
const realNow = Date.now.bind(Date);
const offset = cfg.epoch ? cfg.epoch * 1000 - realNow() : 0;
Date.now = () => realNow() + offset;

const kid = 'test-idp-rs256';
const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };

let tamper = null;
let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = https.createServer({ cert: cfg.cert, key: cfg.key }, (req, res) => handler(req, res));

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString() || '{}');
}

async function resign(idToken, patch) {
  const claims = jose.decodeJwt(idToken);
  const { foreign_key: foreign, ...changes } = patch;
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete claims[k];
    else claims[k] = v;
  }
  const key = foreign ? (await jose.generateKeyPair('RS256')).privateKey : privateKey;
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(key);
}

// Holds the token endpoint's answer until the ID token is rewritten.
function rewriteTokenResponse(res, patch) {
  const chunks = [];
  const end = res.end.bind(res);
  res.write = (c) => { chunks.push(Buffer.from(c)); return true; };
  res.end = (c) => {
    if (c) chunks.push(Buffer.from(c));
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const finish = (text) => {
      if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(text));
      end(text);
    };
    if (!body.id_token) return finish(JSON.stringify(body));
    resign(body.id_token, patch).then((t) => finish(JSON.stringify({ ...body, id_token: t })));
  };
}

server.listen(0, '127.0.0.1', () => {
  const issuer = `https://localhost:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: cfg.clients,
    jwks: { keys: [jwk] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    // The claims asked for by scope go into the ID token (Lakegate reads no userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    // Logins are email addresses; `unverified…` ones do not have a verified email.
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: `sub-${id}`,
        email: id,
        email_verified: !id.startsWith('unverified'),
        name: id.split('@')[0],
      }),
    }),
  });
  provider.proxy = false;
  const callback = provider.callback();
  handler = async (req, res) => {
    if (req.method === 'POST' && req.url === '/__test/next-id-token') {
      tamper = await readJson(req);
      res.statusCode = 204;
      res.end();
      return;
    }
    if (req.method === 'POST' && req.url.startsWith('/token') && tamper) {
      rewriteTokenResponse(res, tamper);
      tamper = null;
    }
    callback(req, res);
  };
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
