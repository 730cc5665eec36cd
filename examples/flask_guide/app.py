"""The Logto "Protect your API on Python" guide's Flask API, with authcheck doing the checking.

The guide writes a `requires_auth` decorator by hand: read the Authorization header,
fetch the issuer's JWKS, decode the token with python-jose, check issuer, audience and
expiry, then check the scopes. Here each of its steps is one line of authcheck. Run:

    pip install 'authcheck[flask]' gunicorn
    AUTHCHECK_CONFIG=authcheck.yaml gunicorn --threads 4 app:app
"""

import os

from flask import Flask, g, jsonify

from authcheck.flask import Authcheck

# Step 1: the Flask app, as in the guide.
app = Flask(__name__)

# Step 2: the issuer's configuration. The guide copies `issuer` and `jwks_uri` from
# https://<your-tenant>.logto.app/oidc/.well-known/openid-configuration into its code;
# authcheck reads the issuer and the API's resource indicator from authcheck.yaml and
# finds the JWKS itself (discovery), keeping it fresh in the background.
auth = Authcheck(app, os.environ.get("AUTHCHECK_CONFIG", "authcheck.yaml"))


# Step 3: a protected route. The guide's `@requires_auth` decodes the token on each
# request; here the rules in authcheck.yaml decide (this path needs read:orders).
@app.get("/api/orders")
@auth.requires_auth
def list_orders():
    return jsonify(orders=[], user=g.auth.subject)


# Step 4: a route that needs a scope. The guide's role-based access control step checks
# the token's `scope` claim by hand; here the view names the scope it needs.
@app.post("/api/orders")
@auth.requires_auth(scopes=["write:orders"])
def create_order():
    return jsonify(created=True, user=g.auth.subject, organization=g.auth.organization_id), 201


# A route open to everyone (the `public` rule), naming the caller when a token is sent.
@app.get("/api/public")
@auth.requires_auth
def public():
    return jsonify(hello=g.auth.subject if g.auth else "anonymous")
