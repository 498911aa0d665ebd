// Package devtenant is a local stand-in for one Microsoft Entra tenant: an OIDC v2.0 issuer and
// the Microsoft Graph v1.0 endpoints Portico uses, answering with Graph's JSON, error envelope,
// status codes and headers, so Portico cannot tell it from Entra.
//
// Endpoints, all on one listener (base = URL()):
//
//	{base}/{tid}/v2.0/.well-known/openid-configuration   discovery (issuer {base}/{tid}/v2.0)
//	{base}/{tid}/discovery/v2.0/keys                    JWKS (RS256, kid = x5t, rotation keeps old keys)
//	{base}/{tid}/oauth2/v2.0/authorize                  code flow only, PKCE S256 required, account picker
//	{base}/{tid}/oauth2/v2.0/token                      authorization_code, refresh_token, client_credentials
//	{base}/{tid}/oauth2/v2.0/logout                     end session, post_logout_redirect_uri checked
//	{base}/v1.0/invitations  /v1.0/users  /v1.0/users/{id|upn}  /v1.0/me  /v1.0/organization
//	{base}/v1.0/$batch                                  JSON batching of the endpoints above
//	{base}/redeem?tenant=&user=&ticket=&ver=2.0         invitation redemption (GET shows, POST accepts)
//
// The demo directory (tenant "Contoso", domains contoso.example and contoso.onmicrosoft.com) holds
// the sign-in accounts employee@, admin@ (User Administrator) and inviter@ (Guest Inviter)
// @contoso.example; the member megan@contoso.example (alias meganb@ in proxyAddresses); the
// guests pending.guest@fabrikam.example (PendingAcceptance), accepted.guest@fabrikam.example
// (Accepted three days ago), and renamed.guest@fabrikam.example whose otherMails hold
// other.mail@fabrikam.example; and a local account whose identities hold
// {emailAddress, contoso.onmicrosoft.com, local.user@contoso.onmicrosoft.com}. Seeded object ids
// are StableID(address) (the renamed guest: StableID("renamed.guest@fabrikam.example"), the local
// account: StableID("local.user@contoso.onmicrosoft.com")); invited users get random ids.
//
// Modelling choices where Entra's behaviour is undocumented or devtenant is stricter (Portico
// must cope with Entra's looser side as well):
//   - PKCE is required (Entra only requires it for SPAs); a missing challenge answers
//     error=invalid_request with AADSTS900144, "plain" or no method AADSTS90100.
//   - Refresh tokens rotate strictly: a refresh token already exchanged answers invalid_grant
//     (AADSTS70000); RevokeRefreshTokens makes older ones answer AADSTS50173.
//   - An authorization code is spent by any redemption attempt that passes client
//     authentication, even one with a wrong code_verifier or redirect_uri.
//   - Invitations to a verified-domain address answer 400 BadRequest, "The invited user already
//     exists in the directory as a member." when a member has the address, otherwise "The invited
//     user's email domain '…' is a verified domain of this directory. …". Missing required
//     properties answer "Required property '…' is missing or empty."; a malformed address "The
//     invited user email address is invalid."
//   - When no ccRecipients are sent, the 201 echoes one empty recipient
//     ({"emailAddress":{"name":null,"address":null}}), as Graph's invitation-post reference shows.
//   - GET /users understands exactly: clauses `userPrincipalName eq 'v'`, `mail eq 'v'`,
//     `proxyAddresses/any(x:x eq 'v')`, `otherMails/any(x:x eq 'v')` joined by `or`, and alone
//     `identities/any(c:c/issuerAssignedId eq 'v' and c/issuer eq 'i')`. Property names Graph's user
//     lacks answer 400 Request_BadRequest "Could not find a property named '…' on type
//     'microsoft.graph.user'."; other valid filters 400 Request_UnsupportedQuery "Unsupported
//     Query."; syntax errors 400 BadRequest "Invalid filter clause: …". A lambda combined with `or`
//     is treated as an advanced query: it needs ConsistencyLevel: eventual and $count=true, else
//     400 Request_UnsupportedQuery. SetSearchLag models the index lag of such queries.
//   - $batch: at most 20 requests with unique ids (compared without case), each with method and a
//     url relative to the version; a body needs a Content-Type header; dependsOn may only name
//     requests of the same batch, without cycles. A batch breaking one of these rules answers
//     400 BadRequest (the message texts are devtenant's own; "Request Id … has to be unique in a
//     batch." is Graph's). Inner requests run one by one in dependency order, each authorized,
//     throttled, faulted and recorded (Requests, with BatchID) as if sent alone; one whose
//     dependency failed answers 424 FailedDependency. Answers come in reverse order, so clients
//     must match them by id. Options.Latency is paid once per batch; RoundTrips lists the HTTP
//     requests, so a batch counts once. Faults reach the $batch itself only with PathPrefix "/$batch".
//   - The outbox follows invitedUserMessageInfo: messageLanguage is ignored whenever
//     customizedMessageBody is set (Message.Language is then empty).
//   - POST /me/sendMail and /users/{id | userPrincipalName}/sendMail (JSON form only) follow
//     Microsoft's user-sendmail page: delegated Mail.Send for the signed-in user's own mailbox
//     (another user's: Mail.Send.Shared), application Mail.Send for any mailbox; 202 Accepted with
//     an empty body, the message recorded in Notices and shown with the invitation emails on the
//     /outbox page. Refusals use Exchange's codes: 403 ErrorAccessDenied, 404 ErrorInvalidUser
//     (no such user) or MailboxNotEnabledForRESTAPI (no mailbox: guests), 400
//     ErrorInvalidRecipients, ErrorInvalidRequest (no message, unreadable JSON), and a MIME body
//     answers ErrorMimeContentInvalidBase64String (devtenant does not read MIME).
//   - Graph applies no clock skew to token lifetimes, so tests with a fake Clock observe expiry.
//   - Access tokens are ordinary RS256 JWTs (Entra's Graph tokens carry a header nonce that makes
//     them unverifiable outside Graph); Portico must treat them as opaque either way.
//
// Faults (Fault, in the spec syntax of internal/faultspec: `POST /invitations status=503 after
// rate=0.3`) answer Graph's exact error envelope with request-id, client-request-id and
// Retry-After; "after", "hold" and "drop=after" let Graph do the work first, so clients meet
// outcomes they cannot know. Rates draw from a generator seeded by Options.FaultSeed. With
// Options.ControlToken set, loopback callers presenting it as a bearer token manage faults and
// the write quota over HTTP (/_devtenant/faults, /_devtenant/write-quota; control.go); this
// endpoint is the operator's, not part of Entra or Graph.
//
// Test hooks (InjectFault, TamperNextIDToken, RotateSigningKey, SetWriteQuota, Requests, Outbox,
// AccessTokenFor, ...) act on the running tenant; all state is in memory behind one mutex.
package devtenant
