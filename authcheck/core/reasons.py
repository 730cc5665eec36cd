"""Every `reason` a refusal carries: the stable ids the decision log's `reason` field shows.

The answer's `code` says what kind of refusal it is (authcheck.core.errors); the reason
says which check refused, for operators. tests/test_reasons.py holds the code to this list
(every reason raised anywhere is here, and every one here is raised somewhere), and
docs/reasons.md explains each.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # auth.authorization_header_missing / _invalid_format / _type_not_supported (401)
    "authorization_header_missing": "no Authorization header",
    "authorization_header_repeated": "two Authorization headers, or one holding a comma-joined list",
    "authorization_token_invalid_format": "the Authorization header is not `Bearer <token>`",
    "authorization_token_type_not_supported": "the scheme is not Bearer",
    # invalid_token (401): the token itself
    "token_invalid": "the token is not valid for a reason PyJWT does not name",
    "token_too_large": "the token is larger than 8 KiB",
    "token_too_deep": "the token's JSON nests arrays and objects deeper than 64 levels",
    "token_encrypted": "an encrypted token (JWE, five parts)",
    "token_malformed": "not a well-formed JWT: not three parts, not base64url or JSON, a kid or date of the wrong type",
    "token_issuer_missing": "the token has no iss claim (or not a string)",
    "token_issuer_unknown": "the token's iss is not a configured issuer",
    "token_issuer_invalid": "the token's iss does not match its issuer exactly",
    "token_alg_not_allowed": "the token's alg is not one the issuer allows (never none or HMAC)",
    "token_alg_key_mismatch": "the token's alg does not fit the key its kid names",
    "token_header_forbidden": "the token carries jku, x5u, jwk, x5c or crit",
    "token_type_invalid": "the token's typ is not the issuer's token_type",
    "token_kid_unknown": "the token's kid is not in the issuer's key set, even after one refresh",
    "token_kid_missing": "no kid, and not exactly one published key fits the token's alg",
    "token_signature_invalid": "the signature does not verify",
    "token_expired": "exp is past (beyond the leeway)",
    "token_not_yet_valid": "nbf or iat is in the future (beyond the leeway)",
    "token_audience_invalid": "aud names none of the issuer's audiences",
    "token_claim_missing": "exp, iss or aud is missing",
    "token_claim_type": "a claim has the wrong type (exp/nbf/iat not numbers; sub, client_id, azp, scopes...)",
    "route_issuer_not_accepted": "the rule accepts tokens of other issuers only",
    "route_audience_not_accepted": "the rule accepts tokens for other audiences only",
    # auth.insufficient_scope / auth.insufficient_claims / auth.client_not_allowed (403)
    "insufficient_scope": "the token lacks a scope the rule requires",
    "insufficient_claims": "a claim does not hold what the rule requires",
    "client_not_allowed": "the token's client (client_id, else azp) is not in the rule's `clients`",
    # auth.route_denied (403)
    "route_denied": "no rule matches the request and the default is deny",
    # auth.request_rejected (403): the original request cannot be read one way only
    "request_rejected": "the original request is ambiguous (no finer reason)",
    "method_unknown": "no header names the original method",
    "method_list": "the original method is a comma-separated list",
    "method_invalid": "the original method is not an HTTP token",
    "uri_unknown": "no header names the original URI",
    "uri_not_origin_form": "the original URI does not start with /",
    "uri_fragment": "the original URI has a # fragment",
    "url_invalid": "X-Original-URL is not an absolute http(s) URL with a host and a path",
    "host_list": "the original host is a comma-separated list",
    "host_invalid": "the original host is not a host name or address",
    "duplicate_header": "a header naming the original request arrives twice",
    "empty_header": "a header naming the original request is empty",
    "conflicting_method": "two headers name different original methods",
    "conflicting_uri": "two headers name different original URIs",
    "conflicting_host": "two headers name different original hosts",
    "path_empty": "the original path is empty",
    "path_not_absolute": "the original path does not start with /",
    "path_invalid_character": "a raw space, ?, # or non-ASCII character in the path",
    "path_control_character": "a raw control character in the path",
    "path_backslash": "a raw backslash in the path",
    "path_parameter": "a ;parameter in the path",
    "path_invalid_escape": "a % not followed by two hex digits",
    "path_encoded_slash": "%2F in the path",
    "path_encoded_backslash": "%5C in the path",
    "path_encoded_nul": "%00 in the path",
    "path_encoded_control": "an encoded control character in the path",
    "path_overlong_utf8": "an overlong UTF-8 form (%C0, %C1) in the path",
    "path_invalid_utf8": "escaped bytes that are not UTF-8",
    "path_double_encoded": "%25 followed by two hex digits (a second decoding makes another escape)",
    "path_unicode_delimiter": "a character NFKC turns into / \\ . % ; ? or # (fullwidth solidus, one-dot leader...)",
    "path_above_root": "a .. segment above the root",
    "path_ambiguous_dot_segment": "a .. after // (proxies resolve it differently)",
    "path_dot_parameter": "a dot-segment with an encoded ;parameter",
    # 503
    "keys_unavailable": "the issuer's keys cannot be had (never fetched, or staler than max_stale)",
    "internal_error": "authcheck failed to decide (a bug, logged with its traceback)",
    "denied": "a refusal that names no finer reason (the base class; not raised as such)",
}
