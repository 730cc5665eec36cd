// A real OpenID Connect provider for the test suite: oidc-provider (the engine Logto is
// built on), configured entirely by the JSON file named on the command line, which
// tests/support/oidc_provider.py writes:
//
//   {
//     "host": "127.0.0.1", "port": 41234,
//     "issuer": "http://127.0.0.1:41234/oidc",         // its path is the mount point
//     "jwks": {"keys": [<private JWKs, each with kid and alg>]},
//     "clients": [{"client_id": "svc", "client_secret": "...", "scope": "read write"}],
//     "claims": {"svc": {"organization_id": "org-1"}},  // extra claims in svc's tokens
//     "resources": {"https://api.example.com": {"scope": "read write", "accessTokenTTL": 3600,
//                   "accessTokenFormat": "jwt", "jwt": {"sign": {"alg": "ES384"}}}}
//   }
//
// Only the client_credentials grant is enabled. A token requested for a resource indicator
// listed in "resources" (RFC 8707) is a JWT access token (RFC 9068, typ at+jwt) signed with
// the first key of "jwks" whose alg is the resource's jwt.sign.alg.
// The process exits when its standard input closes, so it never outlives the tests.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { version } = createRequire(import.meta.url)('oidc-provider/package.json');

// The provider must know every scope that a client may hold, and it enforces a client's
// allow-list only for the scopes it knows: unknown ones are silently left out of a token.
const scopes = new Set(['openid', 'offline_access']);
for (const { scope } of [...config.clients, ...Object.values(config.resources)]) {
  scope?.split(' ').filter(Boolean).forEach((s) => scopes.add(s));
}

const provider = new Provider(config.issuer, {
  jwks: config.jwks,
  scopes: [...scopes],
  clients: config.clients.map((client) => ({
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...client,
  })),
  // Every client's id_token_signed_response_alg (default RS256) must be one the keys offer,
  // and ES384 is not among those oidc-provider enables by default.
  clientDefaults: { id_token_signed_response_alg: config.jwks.keys[0].alg },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA'],
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
  extraTokenClaims: (ctx, token) => config.claims?.[token.clientId],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      getResourceServerInfo(ctx, resourceIndicator) {
        const info = config.resources[resourceIndicator];
        if (!info) throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
        return info;
      },
    },
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));

// oidc-provider checks a client's metadata when the client is first used: do it now, so
// that a bad configuration ends the process instead of failing a token request.
for (const { client_id: clientId } of config.clients) {
  try {
    await provider.Client.find(clientId);
  } catch (err) {
    console.error(`client ${clientId}: ${err.message} ${err.error_description ?? ''}`);
    process.exit(1);
  }
}

// Serve the provider under the issuer's path (Logto: <origin>/oidc). oidc-provider takes
// its mount point from req.originalUrl minus req.url, as under Express's app.use(path, ...).
const mount = new URL(config.issuer).pathname.replace(/\/$/, '');
const callback = provider.callback();
const server = createServer((req, res) => {
  const rest = req.url.slice(mount.length);
  if (!req.url.startsWith(mount) || !(rest === '' || rest.startsWith('/') || rest.startsWith('?'))) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  req.originalUrl = req.url;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  callback(req, res);
});

server.listen(config.port, config.host, () => {
  const kids = config.jwks.keys.map((key) => `${key.kid}(${key.alg})`).join(' ');
  console.log(`oidc-provider ${version} ready: issuer=${config.issuer} keys=${kids}`);
});

process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
