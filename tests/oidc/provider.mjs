// A standards-compliant OpenID provider (panva's oidc-provider, certified by the
// OpenID Foundation) on the loopback interface, for Lotse's sign-on tests.
//
// Everything the tests vary comes from the environment, so a test can restart it
// with other keys (key rotation) on the same port and issuer:
//   OP_PORT           port on 127.0.0.1
//   OP_KEYS_FILE      JSON array of private JWKs; the first one signs. Created with
//                     one fresh RSA key when missing.
//   OP_CLIENTS        JSON array of client metadata (oidc-provider's format)
//   OP_ACCOUNTS       JSON object: login -> {name, email, groups}
//   OP_AUDIENCE       the audience (resource) of JWT access tokens
// It prints "ready <issuer>" on stdout once it listens.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT ?? 0);
const keysFile = process.env.OP_KEYS_FILE;
const clients = JSON.parse(process.env.OP_CLIENTS ?? '[]');
const accounts = JSON.parse(process.env.OP_ACCOUNTS ?? '{}');
const audience = process.env.OP_AUDIENCE ?? 'urn:lotse:api';
const issuer = `http://127.0.0.1:${port}`;

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

if (keysFile && !existsSync(keysFile)) {
  writeFileSync(keysFile, JSON.stringify([newKey()]));
}
const keys = keysFile ? JSON.parse(readFileSync(keysFile, 'utf8')) : [newKey()];

function claimsOf(login) {
  const account = accounts[login];
  return account && { sub: login, name: account.name, email: account.email, groups: account.groups };
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys },
  findAccount: async (ctx, id) => {
    if (!accounts[id]) return undefined;
    return { accountId: id, claims: async () => claimsOf(id) };
  },
  claims: { openid: ['sub'], profile: ['name'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'email', 'groups', 'offline_access'],
  pkce: { required: () => true },
  cookies: { keys: ['lotse-test-provider-cookie-key'] },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'openid profile email groups',
        audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // Group claims go into access tokens as well, so that an API client's bearer token
  // carries the memberships Lotse maps to roles.
  extraTokenClaims: async (ctx, token) => {
    if (!token.accountId) return undefined;
    const claims = claimsOf(token.accountId);
    return claims ? { groups: claims.groups, name: claims.name } : undefined;
  },
  // Refresh tokens for the clients allowed the grant (no consent page to click through).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  loadExistingGrant: async (ctx) => {
    // Consent is implied for the test clients: no consent page to click through.
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email groups offline_access');
    grant.addResourceScope(audience, 'openid profile email groups');
    await grant.save();
    return grant;
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
